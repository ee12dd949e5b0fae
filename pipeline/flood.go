package pipeline

import (
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Flooding delivers a network's broadcast and multicast to every bound port
// of the network (and to its router). One flow listing every receiver would
// grow with the port count: at 3,000 ports it is 54 KB of text, and a few
// hundred ports more pass OpenFlow's 64 KB message limit. So each network's
// flood is a tree of bounded flows instead:
//
//	l2_lookup  reg2=net, multicast dl_dst  -> reg8 = stride 0, goto the flood table
//	stride s   reg2=net, reg8=stride s     -> for each of its ≤ 64 chunks c:
//	                                          reg8 = c, resubmit(,flood table);
//	                                          then reg8 = stride s+1, resubmit(,flood table)
//	chunk c    reg2=net, reg8=c            -> deliver to its ≤ 64 receivers
//
// Why strides: OVS counts a resubmit to the same (or an earlier) table as
// one level of nesting and gives up a packet's translation past 64 levels
// (ofproto-dpif-xlate MAX_DEPTH; the whole packet is dropped). A flat chain
// of chunks would nest once per 64 ports; stride s runs s deep and its
// chunks s+1, so 5,000 ports nest 2 deep and even OpenFlow's 65,279 ports
// only 16. Resubmits to later tables do not nest.
//
// There are two trees per network, in two tables:
//
//   - flood_direct takes ARP and neighbour discovery (NS, NA, RA). The
//     ingress ACL passes them for every receiver at prioACLInfra and
//     commit never commits them (ARP is not IP; ND is not tracked), so a
//     chunk outputs them straight to its ports. Its only per-packet bound
//     is OVS's 64 KB of datapath actions: 8 bytes an output, ~8,190 ports.
//   - flood_filtered takes the rest (IPv4 broadcast and multicast, IPv6
//     multicast other than ND, RS included: ingress_acl does not pass
//     RS at prioACLInfra). A chunk runs each receiver's ingress_acl,
//     commit and output in turn, as a unicast packet would. OVS allows a
//     packet's translation 4,096 resubmits and goto_tables
//     (MAX_RESUBMITS); each receiver that accepts the packet costs 3
//     (ingress_acl, commit, output) and each chunk 1, so one packet
//     reaches at most the ports of a 1,357-port network (measured:
//     floodFilteredMaxPorts in TestFlood5000DummyPortsOnOVS;
//     docs/pipeline.md). A larger network loses such packets entirely:
//     OVS drops a packet whose translation runs out.
//
// The router (where the network is routed) is the last receiver of both
// trees, delivered through ingress_acl like any receiver, as before.
//
// The sending port is a receiver too: OpenFlow never outputs a packet to
// its own in_port (output:N with N = in_port is skipped), so it does not
// get its frame back; a flood only ever outputs by port number.
//
// All flood flows of a network carry its cookie, so "the flood of network
// n" is one unit for whoever compiles or diffs per object.

// Sizes of the flood tree's flows.
const (
	// floodChunkPorts is the number of receivers one chunk flow delivers
	// to: at most 3 actions each, so a chunk has at most 192 actions.
	floodChunkPorts = 64
	// floodStrideChunks is the number of chunks one stride flow runs: 2
	// actions each and 2 to chain the next stride, at most 130 actions.
	floodStrideChunks = 64
)

// prioFloodNode is the priority of every stride and chunk flow in the flood
// tables; their matches (network, node) never overlap.
const prioFloodNode uint16 = 100

// directFloodICMPv6 are the ICMPv6 types flooded by flood_direct: router
// advertisement, neighbour solicitation and advertisement, the ND types
// ingress_acl passes at prioACLInfra (router solicitations are judged by
// the receiver's rules). TestDirectFloodIsWhatIngressPasses keeps the two
// lists in step.
var directFloodICMPv6 = []uint8{134, 135, 136}

// floodFlows deliver broadcast and multicast of network n to each of its
// bound ports, in port order, and then to its router: the l2_lookup
// entries and both flood trees (see above). A network with no receiver
// gets none, so its floods drop in l2_lookup.
func (c *compiler) floodFlows(n intent.Network) []flows.Flow {
	var ports []uint32
	for _, p := range c.ports {
		if p.Network == n.Name {
			ports = append(ports, p.ofport)
		}
	}
	routed := c.routed(n)
	if len(ports) == 0 && !routed {
		return nil
	}
	zone := c.ids.zone[n.Name]
	cookie := Cookie(KindNetwork, uint64(zone))
	group := func() flows.Match {
		return flows.Match{
			Regs:   []flows.RegMatch{matchNetwork(zone)},
			EthDst: flows.MaskedMAC(flows.MACMulticastBit, flows.MACMulticastBit),
		}
	}
	enter := func(prio uint16, m flows.Match, t Table) flows.Flow {
		return flows.Flow{
			Table: uint8(TableL2Lookup), Priority: prio, Cookie: cookie, Match: m,
			Actions: []flows.Action{flows.Load{Field: fieldFloodNode, Value: uint64(floodStride(0))}, goTo(t)},
		}
	}
	out := []flows.Flow{enter(prioL2Flood, group(), TableFloodFiltered)}
	arp := group()
	arp.EthType = flows.EthTypeARP
	out = append(out, enter(prioL2FloodDirect, arp, TableFloodDirect))
	for _, t := range directFloodICMPv6 {
		nd := group()
		nd.EthType, nd.IPProto, nd.ICMPType = flows.EthTypeIPv6, flows.U8(flows.ProtoICMPv6), flows.U8(t)
		out = append(out, enter(prioL2FloodDirect, nd, TableFloodDirect))
	}

	direct := make([]delivery, 0, len(ports)+1)
	filtered := make([]delivery, 0, len(ports)+1)
	for _, p := range ports {
		direct = append(direct, delivery{p, []flows.Action{flows.Output{Port: p}}})
		filtered = append(filtered, delivery{p, deliverFiltered(p)})
	}
	if routed {
		// The router comes after every port: the slot after the last.
		slot := uint32(1)
		if len(ports) > 0 {
			slot = slices.Max(ports) + 1
		}
		direct = append(direct, delivery{slot, deliverFiltered(RouterPort)})
		filtered = append(filtered, delivery{slot, deliverFiltered(RouterPort)})
	}
	// Hosts with ports of the network come last, one receiver each
	// (overlay.go); their own ingress rules judge what they deliver.
	next := uint32(1)
	if len(direct) > 0 {
		next = direct[len(direct)-1].slot + 1
	}
	for i, ep := range c.remoteEndpoints(n.Name) {
		d := delivery{next + uint32(i), c.toTunnel(ep, zone)}
		direct, filtered = append(direct, d), append(filtered, d)
	}
	out = append(out, floodTree(TableFloodDirect, zone, cookie, direct)...)
	out = append(out, floodTree(TableFloodFiltered, zone, cookie, filtered)...)
	return out
}

// delivery is one receiver of a flood: its slot (the port's OpenFlow
// number; the router's is the one after the last port's) places it in the
// tree.
type delivery struct {
	slot    uint32
	actions []flows.Action
}

// deliverFiltered hands a flooded packet to receiver port as if it were
// addressed to it: set the destination, clear the previous receiver's
// ingress rule id, and run ingress_acl, commit and output for it.
func deliverFiltered(port uint32) []flows.Action {
	return []flows.Action{
		flows.Load{Field: fieldDstPort, Value: uint64(port)},
		flows.Load{Field: fieldIngressRuleID, Value: 0},
		flows.Resubmit{Table: uint8(TableIngressACL)},
	}
}

// floodStride is the flood node number of stride s.
func floodStride(s int) uint32 { return floodStrideBit | uint32(s) }

// floodTree is the stride and chunk flows of one network's flood in table
// t. A receiver's chunk is (slot-1) / floodChunkPorts and a chunk's stride
// its number / floodStrideChunks, so a port that comes or goes changes its
// own chunk's flow (and its stride's, when the chunk appears or empties),
// not the others'. Only non-empty chunks and strides get flows; a stride
// chains to the next non-empty one. deliveries are in slot order.
func floodTree(t Table, zone uint16, cookie uint64, deliveries []delivery) []flows.Flow {
	node := func(n uint32, actions []flows.Action) flows.Flow {
		return flows.Flow{
			Table: uint8(t), Priority: prioFloodNode, Cookie: cookie,
			Match:   flows.Match{Regs: []flows.RegMatch{matchNetwork(zone), matchFloodNode(n)}},
			Actions: actions,
		}
	}
	visit := func(n uint32) []flows.Action {
		return []flows.Action{flows.Load{Field: fieldFloodNode, Value: uint64(n)}, flows.Resubmit{Table: uint8(t)}}
	}
	var chunks []uint32 // non-empty, ascending
	byChunk := map[uint32][]flows.Action{}
	for _, d := range deliveries {
		c := (d.slot - 1) / floodChunkPorts // OpenFlow numbers ports from 1
		if _, seen := byChunk[c]; !seen {
			chunks = append(chunks, c)
		}
		byChunk[c] = append(byChunk[c], d.actions...)
	}
	var strides []uint32 // non-empty, ascending
	byStride := map[uint32][]uint32{}
	for _, c := range chunks {
		s := c / floodStrideChunks
		if _, seen := byStride[s]; !seen {
			strides = append(strides, s)
		}
		byStride[s] = append(byStride[s], c)
	}
	var out []flows.Flow
	for i, s := range strides {
		var actions []flows.Action
		for _, c := range byStride[s] {
			actions = append(actions, visit(c)...)
		}
		if i+1 < len(strides) {
			actions = append(actions, visit(floodStride(int(strides[i+1])))...)
		}
		// The entry flows start at stride 0: the first non-empty stride
		// takes that number.
		n := floodStride(int(s))
		if i == 0 {
			n = floodStride(0)
		}
		out = append(out, node(n, actions))
	}
	for _, c := range chunks {
		out = append(out, node(c, byChunk[c]))
	}
	return out
}
