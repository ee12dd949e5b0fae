package pipeline

import "github.com/flowgate/flowgate/flows"

// Priorities shared by TableEgressACL and TableIngressACL, highest first.
// Gaps leave room for stages to come (e.g. admin-tier policies).
const (
	// prioACLInfra: ARP, neighbour discovery and DHCP always pass; port
	// security already made sure a port uses only its own addresses.
	prioACLInfra uint16 = 1000
	// prioACLUnfiltered: ports with port_security:false (and the router)
	// are not filtered at all.
	prioACLUnfiltered uint16 = 900
	// prioACLPolicy: a port that admin policies apply to goes to the
	// side's policy table first (policy.go), unless its policies already
	// passed the packet back to the groups.
	prioACLPolicy uint16 = 850
	// prioACLInvalid: a stateful port drops what conntrack calls invalid.
	prioACLInvalid uint16 = 800
	// prioACLEstablished (+1 for plain flows): established and related
	// packets of a stateful port pass if ct_label names a live rule that
	// applies to the port (acl_established.go).
	prioACLEstablished uint16 = 700
	// prioACLStale: established/related packets whose rule is gone (or
	// no longer applies) drop: removing a rule ends its connections.
	prioACLStale uint16 = 600
	// prioACLRule (+1 for plain flows): the rules judge new connections
	// (and, for stateless ports, every packet) (acl_rules.go).
	prioACLRule uint16 = 500
)

// aclSide describes one of the two ACL tables: whose rules it applies and
// where an allowed packet goes.
type aclSide struct {
	table Table
	next  Table
	// portReg is the register holding the port the rules are for.
	portReg uint8
	// ruleID is where an allowing rule's id is loaded.
	ruleID flows.FieldRef
	// policy is the side's admin policy table, and policiesDone the reg2
	// flag that its "pass" sets around the resubmit back to table.
	policy       Table
	policiesDone flows.FieldRef
	policiesFlag uint32
}

var (
	egressSide = aclSide{TableEgressACL, TableServiceLB, regSrcPort, fieldEgressRuleID,
		TableEgressPolicy, fieldEgressPoliciesDone, flagEgressPoliciesDone}
	ingressSide = aclSide{TableIngressACL, TableCommit, regDstPort, fieldIngressRuleID,
		TableIngressPolicy, fieldIngressPoliciesDone, flagIngressPoliciesDone}
)

func (s aclSide) port(ofport uint32) flows.RegMatch { return flows.Reg(s.portReg, ofport, 0) }

func (s aclSide) flow(prio uint16, cookie uint64, m flows.Match, actions ...flows.Action) flows.Flow {
	return flows.Flow{Table: uint8(s.table), Priority: prio, Cookie: cookie, Match: m, Actions: actions}
}

// aclInfraFlows let ARP, neighbour discovery and DHCP through both ACLs.
// Egress: a port's own ARP, RS/NS/NA and DHCP(v6) client requests.
// Ingress: ARP, RA/NS/NA and DHCP(v6) server replies.
func aclInfraFlows() []flows.Flow {
	icmp6 := func(t uint8) flows.Match {
		return flows.Match{EthType: flows.EthTypeIPv6, IPProto: flows.U8(flows.ProtoICMPv6), ICMPType: flows.U8(t)}
	}
	udp := func(et uint16, src, dst uint16) flows.Match {
		return flows.Match{EthType: et, IPProto: flows.U8(flows.ProtoUDP), TPSrc: flows.ExactPort(src), TPDst: flows.ExactPort(dst)}
	}
	arp := flows.Match{EthType: flows.EthTypeARP}
	var out []flows.Flow
	for _, s := range []struct {
		side    aclSide
		matches []flows.Match
	}{
		{egressSide, []flows.Match{arp, icmp6(133), icmp6(135), icmp6(136), udp(flows.EthTypeIPv4, 68, 67), udp(flows.EthTypeIPv6, 546, 547)}},
		{ingressSide, []flows.Match{arp, icmp6(134), icmp6(135), icmp6(136), udp(flows.EthTypeIPv4, 67, 68), udp(flows.EthTypeIPv6, 547, 546)}},
	} {
		for _, m := range s.matches {
			out = append(out, s.side.flow(prioACLInfra, infraCookie(s.side.table), m, goTo(s.side.next)))
		}
	}
	return out
}

// aclPortModeFlows say how each ACL treats a port: not at all
// (port_security:false), or statefully (invalid and stale packets drop).
// A stateless port needs none: only its rules decide.
func aclPortModeFlows(p boundPort) []flows.Flow {
	var out []flows.Flow
	for _, side := range []aclSide{egressSide, ingressSide} {
		port := []flows.RegMatch{side.port(p.ofport)}
		switch {
		case !p.PortSecurity:
			out = append(out, side.flow(prioACLUnfiltered, p.cookie, flows.Match{Regs: port}, goTo(side.next)))
		case p.stateful:
			out = append(out,
				side.flow(prioACLInvalid, p.cookie, flows.Match{Regs: port,
					CTState: flows.CTStateMatch{Set: flows.CTTrk | flows.CTInv}}),
				side.flow(prioACLStale, p.cookie, flows.Match{Regs: port,
					CTState: flows.CTStateMatch{Set: flows.CTTrk, Clear: flows.CTNew}}))
		}
	}
	return out
}
