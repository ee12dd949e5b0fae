package pipeline

import (
	"github.com/flowgate/flowgate/flows"
)

// Source NAT in the router's SNAT zone: masquerade of a network to a
// shared address (port allocation by conntrack), the outbound half of a
// floating IP, and the hairpin SNAT. Replies are un-SNATed in
// TableRouterUnSNAT before anything else looks at their destination.

// Priorities in TableRouterSNAT: replies are never SNATed; a port's
// floating IP wins over its network's masquerade.
const (
	prioSNATSkipReply  uint16 = 300
	prioFloatingIPSNAT uint16 = 200
	prioMasquerade     uint16 = 100
)

// Priorities in TableRouterUnSNAT (see unSNAT).
const (
	prioUnSNATUplink uint16 = 120
	prioUnSNATSkip   uint16 = 110
	prioUnSNAT       uint16 = 100
)

// unSNAT tracks packets addressed to a router-owned external address in
// the SNAT zone with nat, which turns a reply's destination back into the
// internal address and port. Only those: tracking an outbound packet in
// the SNAT zone here would translate its source before the DNAT zone and
// the routing see it.
//
// And only where a reply can be: every ct() here is a recirculation, and
// the userspace datapath drops a packet after 6 of them (5 once a tunnel
// was popped), which a hairpin from another host of an overlay would
// exceed (tunnel, network zone, SNAT, DNAT, DNAT commit, hairpin SNAT,
// network zone again). A reply SNATed to a floating IP or a snat[].to
// address comes from the outside, by the uplink (the router SNATs only
// what it routes to the uplink); only the external address is also the
// source of hairpin SNAT, whose replies come from inside. So: other
// addresses are tracked only from the uplink, and a packet from inside to
// a forward on the external address that is not a reply in its network's
// zone skips the SNAT zone. (A hairpin's reply from a stateful port is
// +rpl there. ct_state is matched without +trk: the network zone's commit
// of a new connection, before the router, clears it. A stateless port
// answering a hairpin from the forward's own port number would skip it
// too: conntrack keeps a client's source port when it can, and clients
// pick theirs from 32768-60999.)
func (rc *routerCompiler) unSNAT() []flows.Flow {
	var out []flows.Flow
	track := func(prio uint16, cookie uint64, m flows.Match) {
		out = append(out, flows.Flow{Table: uint8(TableRouterUnSNAT), Priority: prio, Cookie: cookie, Match: m,
			Actions: []flows.Action{ctTrack(rc.zone.SNAT, TableRouterDNATTrack)}})
	}
	ext := rc.r.External.IP.Addr()
	for _, a := range rc.ownedAddresses() {
		m := flows.Match{EthType: flows.EthTypeIPv4, IPDst: addrPrefix(a)}
		if a != ext {
			if rc.uplink != 0 {
				m.InPort = rc.uplink
				track(prioUnSNAT, rc.addressObject(a).cookie(rc.r.Name), m)
			}
			continue
		}
		track(prioUnSNAT, rc.addressObject(a).cookie(rc.r.Name), m)
		skipped := false
		for i, f := range rc.r.PortForwards {
			if f.IP != ext {
				continue
			}
			proto := uint8(f.Protocol)
			out = append(out, flows.Flow{
				Table: uint8(TableRouterUnSNAT), Priority: prioUnSNATSkip,
				Cookie: routerForward(rc.r, i).cookie(rc.r.Name),
				Match: flows.Match{EthType: flows.EthTypeIPv4, IPProto: &proto, CTState: flows.CTStateMatch{Clear: flows.CTRpl},
					IPDst: addrPrefix(f.IP), TPDst: flows.ExactPort(f.ExternalPort)},
				Actions: []flows.Action{gotoTable(TableRouterDNATTrack)},
			})
			skipped = true
		}
		if skipped && rc.uplink != 0 {
			m.InPort = rc.uplink
			track(prioUnSNATUplink, rc.addressObject(a).cookie(rc.r.Name), m)
		}
	}
	return out
}

// snatTrack tracks packets routed to the uplink in the SNAT zone with
// nat (established connections get their mapping) before TableRouterSNAT
// decides about new ones. A packet from the uplink routed back to the
// uplink is dropped: the router does not forward the outside to itself.
func (rc *routerCompiler) snatTrack() []flows.Flow {
	toUplink := flows.Match{EthType: flows.EthTypeIPv4, Regs: []flows.RegMatch{matchOutNetwork(outUplink)}}
	cookie := routerExternal(rc.r).cookie(rc.r.Name)
	out := []flows.Flow{{
		Table: uint8(TableRouterSNATTrack), Priority: 200, Cookie: cookie, Match: toUplink,
		Actions: []flows.Action{ctTrack(rc.zone.SNAT, TableRouterSNAT)},
	}}
	if rc.uplink != 0 {
		// Either family: the outside is never routed back to itself.
		fromUplink := flows.Match{InPort: rc.uplink, Regs: toUplink.Regs}
		out = append(out, flows.Flow{Table: uint8(TableRouterSNATTrack), Priority: 250, Cookie: cookie, Match: fromUplink})
	}
	return out
}

// hairpinSNAT: a packet the router DNATed (to a floating IP or forward of
// a port) that it routes back into the network it came from is also
// SNATed, to the router's external address. Otherwise the target would
// answer the client directly on the shared L2 segment, from its internal
// address, and the client would reset a reply it cannot match. The target
// sees the connection as coming from outside, and its security groups
// judge it so (as Neutron's L3 agent does).
func (rc *routerCompiler) hairpinSNAT() []flows.Flow {
	var out []flows.Flow
	for _, n := range rc.networks {
		id := rc.netID(n)
		out = append(out, flows.Flow{
			Table: uint8(TableRouterSNATTrack), Priority: 150,
			Cookie: routerNetwork(rc.r, n).cookie(rc.r.Name),
			Match: flows.Match{EthType: flows.EthTypeIPv4, Regs: []flows.RegMatch{
				matchNetwork(uint16(id)), matchOutNetwork(id), matchRouterFlag(flagRouterDNATed)}},
			Actions: []flows.Action{flows.CT{
				Commit: true, Zone: rc.zone.SNAT, Table: tableAddr(TableRouterOutput),
				NAT: &flows.NAT{Kind: flows.NATSrc, AddrMin: rc.r.External.IP.Addr()},
			}},
		})
	}
	return out
}

// snatSkipReply keeps replies (flagRouterReply) out of the SNAT
// decisions; emitted with the masquerade flows.
func (rc *routerCompiler) snatSkipReply() flows.Flow {
	return flows.Flow{
		Table: uint8(TableRouterSNAT), Priority: prioSNATSkipReply,
		Cookie:  routerWhole(rc.r).cookie(rc.r.Name),
		Match:   flows.Match{Regs: []flows.RegMatch{matchRouterFlag(flagRouterReply)}},
		Actions: []flows.Action{gotoTable(TableRouterOutput)},
	}
}

// commitSNAT commits a new outbound connection with its source translated.
func (rc *routerCompiler) commitSNAT(nat flows.NAT) []flows.Action {
	nat.Kind = flows.NATSrc
	return []flows.Action{
		flows.CT{Commit: true, Zone: rc.zone.SNAT, NAT: &nat},
		gotoTable(TableRouterOutput),
	}
}

// floatingIPSNAT: a port with a floating IP opens its outbound connections
// from that address, not from the masquerade address.
func (rc *routerCompiler) floatingIPSNAT() []flows.Flow {
	var out []flows.Flow
	for i, f := range rc.r.FloatingIPs {
		out = append(out, flows.Flow{
			Table: uint8(TableRouterSNAT), Priority: prioFloatingIPSNAT,
			Cookie: routerFloatingIP(rc.r, i).cookie(rc.r.Name),
			Match: flows.Match{EthType: flows.EthTypeIPv4, CTState: newConnection,
				IPSrc: addrPrefix(firstIPv4(rc.in.Port(f.Port)))},
			Actions: rc.commitSNAT(flows.NAT{AddrMin: f.IP}),
		})
	}
	return out
}

// masquerade: new outbound connections from a network with an snat entry
// leave from its address, conntrack picking a free source port in the
// entry's range so that many internal sources share the address.
func (rc *routerCompiler) masquerade() []flows.Flow {
	out := []flows.Flow{rc.snatSkipReply()}
	for i, s := range rc.r.SNAT {
		n := rc.in.Network(s.Network)
		if !n.CIDR.IsValid() {
			continue
		}
		out = append(out, flows.Flow{
			Table: uint8(TableRouterSNAT), Priority: prioMasquerade,
			Cookie:  routerSNAT(rc.r, i).cookie(rc.r.Name),
			Match:   flows.Match{EthType: flows.EthTypeIPv4, CTState: newConnection, IPSrc: n.CIDR},
			Actions: rc.commitSNAT(flows.NAT{AddrMin: s.To, PortMin: s.PortMin, PortMax: s.PortMax}),
		})
	}
	return out
}
