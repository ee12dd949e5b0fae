package pipeline

import (
	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Priorities in TableL2Lookup.
const (
	// prioL2Unicast: a bound port's MAC (or an allowed pair's) on the
	// packet's network. Unknown unicast hits the miss flow and drops.
	prioL2Unicast uint16 = 100
	// prioL2Flood: broadcast and multicast.
	prioL2Flood uint16 = 50
)

// l2PortFlows resolve p's MACs on its network to p: its own and those of
// its allowed address pairs.
func l2PortFlows(p boundPort) []flows.Flow {
	macs := map[flows.MAC]bool{flows.MAC(p.MAC): true}
	for _, ap := range p.AllowedAddressPairs {
		if ap.MAC != ([6]byte{}) {
			macs[flows.MAC(ap.MAC)] = true
		}
	}
	var out []flows.Flow
	for _, mac := range sortedMACs(macs) {
		out = append(out, flows.Flow{
			Table: uint8(TableL2Lookup), Priority: prioL2Unicast, Cookie: p.cookie,
			Match: flows.Match{Regs: []flows.RegMatch{matchNetwork(p.zone)}, EthDst: flows.ExactMAC(mac)},
			Actions: []flows.Action{
				flows.Load{Field: fieldDstPort, Value: uint64(p.ofport)},
				goTo(TableIngressACL),
			},
		})
	}
	return out
}

// floodFlows deliver broadcast and multicast of network n to each of its
// bound ports (and its router) in turn: set the destination, clear the
// previous destination's ingress rule id, and run the ingress ACL, commit
// and output for it. The sending port is in the list too; OpenFlow never
// outputs a packet to its own in_port, so it does not get its frame back.
func (c *compiler) floodFlows(n intent.Network) []flows.Flow {
	var actions []flows.Action
	deliver := func(port uint32) {
		actions = append(actions,
			flows.Load{Field: fieldDstPort, Value: uint64(port)},
			flows.Load{Field: fieldIngressRuleID, Value: 0},
			flows.Resubmit{Table: uint8(TableIngressACL)})
	}
	for _, p := range c.ports {
		if p.Network == n.Name {
			deliver(p.ofport)
		}
	}
	if c.routed(n) {
		deliver(RouterPort)
	}
	if len(actions) == 0 {
		return nil
	}
	zone := c.ids.zone[n.Name]
	return []flows.Flow{{
		Table: uint8(TableL2Lookup), Priority: prioL2Flood, Cookie: Cookie(KindNetwork, uint64(zone)),
		Match: flows.Match{
			Regs:   []flows.RegMatch{matchNetwork(zone)},
			EthDst: flows.MaskedMAC(flows.MACMulticastBit, flows.MACMulticastBit),
		},
		Actions: actions,
	}}
}
