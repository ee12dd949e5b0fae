package pipeline

import "github.com/flowgate/flowgate/flows"

// Destination NAT: floating IPs (all traffic to the address) and port
// forwards (one protocol and port of an address) in the router's DNAT
// zone. Every routed packet is tracked there with nat first, which
// un-DNATs replies (web1's answers leave as the floating IP) and applies
// the translation of established connections; only new connections are
// decided here, and committed with nat(dst=...).

// Priorities in TableRouterDNAT: a forward on a floating IP's address is
// more specific than the floating IP.
const (
	prioDNATEstablished uint16 = 300
	prioPortForward     uint16 = 250
	prioFloatingIPDNAT  uint16 = 200
)

// dnatTrack tracks every routed IP packet in the DNAT zone.
func (rc *routerCompiler) dnatTrack() flows.Flow {
	return flows.Flow{
		Table: uint8(TableRouterDNATTrack), Priority: 100,
		Cookie:  routerWhole(rc.r).cookie(rc.r.Name),
		Match:   flows.Match{EthType: flows.EthTypeIPv4},
		Actions: []flows.Action{ctTrack(rc.zone.DNAT, TableRouterDNAT)},
	}
}

// dnatEstablished marks packets the DNAT zone translated in the original
// direction (established floating-IP or forward connections), for the
// hairpin SNAT: the SNAT zone's ct() will overwrite ct_state.
func (rc *routerCompiler) dnatEstablished() flows.Flow {
	return flows.Flow{
		Table: uint8(TableRouterDNAT), Priority: prioDNATEstablished,
		Cookie: routerWhole(rc.r).cookie(rc.r.Name),
		Match: flows.Match{EthType: flows.EthTypeIPv4,
			CTState: flows.CTStateMatch{Set: flows.CTTrk | flows.CTDNAT, Clear: flows.CTRpl}},
		Actions: []flows.Action{setRouterFlag(flagRouterDNATed), gotoTable(TableRouterRoute)},
	}
}

// commitDNAT commits a new connection with its destination translated.
func (rc *routerCompiler) commitDNAT(nat flows.NAT) []flows.Action {
	nat.Kind = flows.NATDst
	return []flows.Action{
		setRouterFlag(flagRouterDNATed),
		flows.CT{Commit: true, Zone: rc.zone.DNAT, Table: tableAddr(TableRouterRoute), NAT: &nat},
	}
}

var newConnection = flows.CTStateMatch{Set: flows.CTTrk | flows.CTNew}

// floatingIPDNAT sends new connections to a floating IP to its port's
// first IPv4 address, whichever side (outside or inside) they come from.
func (rc *routerCompiler) floatingIPDNAT() []flows.Flow {
	var out []flows.Flow
	for i, f := range rc.r.FloatingIPs {
		target := firstIPv4(rc.in.Port(f.Port))
		out = append(out, flows.Flow{
			Table: uint8(TableRouterDNAT), Priority: prioFloatingIPDNAT,
			Cookie:  routerFloatingIP(rc.r, i).cookie(rc.r.Name),
			Match:   flows.Match{EthType: flows.EthTypeIPv4, CTState: newConnection, IPDst: addrPrefix(f.IP)},
			Actions: rc.commitDNAT(flows.NAT{AddrMin: target}),
		})
	}
	return out
}

// portForwardDNAT sends new connections to ip:external_port to the
// target port's first IPv4 address and internal_port.
func (rc *routerCompiler) portForwardDNAT() []flows.Flow {
	var out []flows.Flow
	for i, f := range rc.r.PortForwards {
		proto := uint8(f.Protocol)
		target := firstIPv4(rc.in.Port(f.Port))
		out = append(out, flows.Flow{
			Table: uint8(TableRouterDNAT), Priority: prioPortForward,
			Cookie: routerForward(rc.r, i).cookie(rc.r.Name),
			Match: flows.Match{EthType: flows.EthTypeIPv4, IPProto: &proto, CTState: newConnection,
				IPDst: addrPrefix(f.IP), TPDst: flows.ExactPort(f.ExternalPort)},
			Actions: rc.commitDNAT(flows.NAT{AddrMin: target, PortMin: f.InternalPort}),
		})
	}
	return out
}
