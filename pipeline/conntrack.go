package pipeline

import "github.com/flowgate/flowgate/flows"

// Priorities in TableConntrack.
const (
	// prioUntrackedND: neighbour discovery bypasses conntrack, which would
	// call it invalid; anti-spoofing already checked it.
	prioUntrackedND uint16 = 200
	// prioTrackIP: all other IPv4/IPv6 is tracked.
	prioTrackIP uint16 = 100
)

// ndTypes are the ICMPv6 types of neighbour discovery: router
// solicitation and advertisement, neighbour solicitation and advertisement.
var ndTypes = []uint8{133, 134, 135, 136}

// conntrackFlows track every IP packet in its network's zone, with nat so
// that established translations (router, services) apply, and continue in
// the egress ACL with ct_state set.
func conntrackFlows() []flows.Flow {
	table := uint8(TableEgressACL)
	zone := fieldNetwork
	track := flows.CT{ZoneField: &zone, Table: &table, NAT: &flows.NAT{}}
	var out []flows.Flow
	for _, t := range ndTypes {
		out = append(out, flows.Flow{
			Table: uint8(TableConntrack), Priority: prioUntrackedND, Cookie: infraCookie(TableConntrack),
			Match:   flows.Match{EthType: flows.EthTypeIPv6, IPProto: flows.U8(flows.ProtoICMPv6), ICMPType: flows.U8(t)},
			Actions: []flows.Action{goTo(TableEgressACL)},
		})
	}
	for _, et := range []uint16{flows.EthTypeIPv4, flows.EthTypeIPv6} {
		out = append(out, flows.Flow{
			Table: uint8(TableConntrack), Priority: prioTrackIP, Cookie: infraCookie(TableConntrack),
			Match:   flows.Match{EthType: et},
			Actions: []flows.Action{track},
		})
	}
	return out
}
