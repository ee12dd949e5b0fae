package pipeline

import "github.com/flowgate/flowgate/flows"

// Priorities in TableCommit. Either end being stateful is enough to
// commit; the destination is checked first only because it is the more
// common reason.
const (
	prioCommitForDst uint16 = 200
	prioCommitForSrc uint16 = 100
)

// prioOutputPort: reg1 names a bound port. An unknown reg1 drops.
// prioOutputHairpin: the router hands a packet back to the port it came
// from (a port reaching its own floating IP or forward).
const (
	prioOutputPort    uint16 = 100
	prioOutputHairpin uint16 = 110
)

// commitFlows commit new connections to or from stateful port p in its
// network's zone, recording the ids of the egress and ingress rules that
// allowed them in ct_label, which the established checks read back. A
// connection between a port with port_security:false and a stateful port
// is committed for the stateful side.
func commitFlows(p boundPort) []flows.Flow {
	if !p.stateful {
		return nil
	}
	zone := fieldNetwork
	commit := flows.CT{Commit: true, ZoneField: &zone, Exec: []flows.Action{
		flows.Move{Src: fieldEgressRuleID, Dst: labelEgressRuleID},
		flows.Move{Src: fieldIngressRuleID, Dst: labelIngressRuleID},
	}}
	isNew := flows.CTStateMatch{Set: flows.CTTrk | flows.CTNew}
	var out []flows.Flow
	for _, c := range []struct {
		prio uint16
		port flows.RegMatch
	}{{prioCommitForDst, matchDstPort(p.ofport)}, {prioCommitForSrc, matchSrcPort(p.ofport)}} {
		for _, et := range []uint16{flows.EthTypeIPv4, flows.EthTypeIPv6} { // ct() needs an IP match
			out = append(out, flows.Flow{
				Table: uint8(TableCommit), Priority: c.prio, Cookie: p.cookie,
				Match:   flows.Match{CTState: isNew, Regs: []flows.RegMatch{c.port}, EthType: et},
				Actions: []flows.Action{commit, goTo(TableOutput)},
			})
		}
	}
	return out
}

// outputHairpin sends a packet the router hands back to p out of p when
// p also sent it: OpenFlow's output:N never sends a packet back out of its
// in_port, so without this flow a port could not reach its own floating
// IP or port forward. Only routed packets (reg0 = the router) take it: a
// port's own broadcast must never come back to it.
func outputHairpin(p boundPort) []flows.Flow {
	if !p.routed {
		return nil
	}
	return []flows.Flow{{
		Table: uint8(TableOutput), Priority: prioOutputHairpin, Cookie: p.cookie,
		Match:   flows.Match{InPort: p.ofport, Regs: []flows.RegMatch{matchSrcPort(RouterPort), matchDstPort(p.ofport)}},
		Actions: []flows.Action{flows.Output{Port: flows.PortInPort}},
	}}
}

// outputPort sends packets for p out of its OpenFlow port.
func outputPort(p boundPort) flows.Flow {
	return flows.Flow{
		Table: uint8(TableOutput), Priority: prioOutputPort, Cookie: p.cookie,
		Match:   flows.Match{Regs: []flows.RegMatch{matchDstPort(p.ofport)}},
		Actions: withMeter(p.ingressMeter, []flows.Action{flows.Output{Port: p.ofport}}),
	}
}
