package pipeline

import "github.com/flowgate/flowgate/flows"

// Router stage tables, in the order a routed packet visits them, inside the
// range tables.go reserves (TableRouter..TableRouterLast). docs/router.md
// explains each one and why its flows exist.
const (
	// TableRouterEntry: packets for the router arrive here from TableOutput
	// (internal ports, destination the gateway MAC) and from TableClassify
	// (the uplink). ARP for external and floating addresses is answered;
	// an internal packet's "reply" state in its network zone is saved.
	TableRouterEntry = TableRouter
	// TableRouterUnSNAT: ct(zone=SNAT, nat) for packets addressed to a
	// router-owned external address, i.e. replies of SNATed connections.
	TableRouterUnSNAT = TableRouter + 1
	// TableRouterDNATTrack: ct(zone=DNAT, nat) for every routed IP packet.
	TableRouterDNATTrack = TableRouter + 2
	// TableRouterDNAT: new connections to floating IPs and port forwards
	// are committed with nat(dst=...).
	TableRouterDNAT = TableRouter + 3
	// TableRouterRoute: longest-prefix routing, dec_ttl, source MAC.
	TableRouterRoute = TableRouter + 4
	// TableRouterNeighbour: destination MAC of internal addresses.
	TableRouterNeighbour = TableRouter + 5
	// TableRouterSNATTrack: ct(zone=SNAT, nat) toward the uplink, and the
	// hairpin SNAT of DNATed packets routed back into their own network.
	TableRouterSNATTrack = TableRouter + 6
	// TableRouterSNAT: new outbound connections are committed with
	// nat(src=...): a port's floating IP first, else its network's SNAT.
	TableRouterSNAT = TableRouter + 7
	// TableRouterOutput: out of the uplink, or back into the pipeline at
	// TableConntrack of the destination network.
	TableRouterOutput = TableRouter + 8
)

// Registers of the router stage (reg5..reg7 are reserved for it in
// fields.go). They are meaningful only between TableRouterEntry and
// TableRouterOutput.
//
//	reg5  bit 0  the router DNATed this packet in the original direction
//	             (floating IP or forward); the hairpin SNAT needs to know,
//	             and the SNAT zone's ct() overwrites ct_state
//	reg5  bit 1  the packet was +rpl in its source network's zone: it
//	             answers a connection opened toward the port (e.g. routed
//	             in without NAT) and must never be committed as a new SNAT
//	             connection, although the SNAT zone has not seen it
//	reg6  0..31  network id (zone) the router routes the packet to, or
//	             outUplink
const (
	regRouterFlags      uint8  = 5
	flagRouterDNATed    uint32 = 1 << 0
	flagRouterReply     uint32 = 1 << 1
	regRouterOutNetwork uint8  = 6
	// outUplink in reg6 means "out of the uplink"; network ids are never 0.
	outUplink uint32 = 0
)

// setRouterFlag is the action that sets one flag bit of reg5.
func setRouterFlag(flag uint32) flows.Action {
	var ofs uint16
	for flag>>ofs != 1 {
		ofs++
	}
	return flows.Load{Field: flows.Bits(flows.RegField(regRouterFlags), ofs, 1), Value: 1}
}

// matchRouterFlag matches packets with flag set in reg5.
func matchRouterFlag(flag uint32) flows.RegMatch {
	return flows.Reg(regRouterFlags, flag, flag)
}

// matchOutNetwork matches the network the router routes to.
func matchOutNetwork(id uint32) flows.RegMatch {
	return flows.Reg(regRouterOutNetwork, id, 0)
}

// setOutNetwork loads the network the router routes to.
func setOutNetwork(id uint32) flows.Action {
	return flows.Load{Field: flows.Whole(flows.RegField(regRouterOutNetwork)), Value: uint64(id)}
}
