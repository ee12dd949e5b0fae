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
	// prioL2FloodDirect: broadcast and multicast ARP and neighbour
	// discovery, flooded without the receivers' ACLs (flood.go).
	prioL2FloodDirect uint16 = 60
	// prioL2Flood: all other broadcast and multicast, flooded through
	// the receivers' ACLs (flood.go).
	prioL2Flood uint16 = 50
)

// l2PortFlows resolve p's MACs on its network to p: its own and those of
// its allowed address pairs.
func l2PortFlows(p boundPort) []flows.Flow {
	var out []flows.Flow
	for _, mac := range portMACs(p.Port) {
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

// portMACs are the MACs frames for p carry: its own and those of its
// allowed address pairs, in order.
func portMACs(p *intent.Port) []flows.MAC {
	macs := map[flows.MAC]bool{flows.MAC(p.MAC): true}
	for _, ap := range p.AllowedAddressPairs {
		if ap.MAC != ([6]byte{}) {
			macs[flows.MAC(ap.MAC)] = true
		}
	}
	return sortedMACs(macs)
}
