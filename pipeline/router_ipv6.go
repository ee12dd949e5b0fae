package pipeline

import (
	"net/netip"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// IPv6 is routed, never translated (as Neutron and OVN route it): between
// the router's networks by their cidr6, and to the outside through the
// uplink when the router has external.ip6 and gateway6. A routed IPv6
// packet skips the NAT tables (router → router_route), is routed and
// resolved to its port as IPv4 is, and re-enters the pipeline in its
// destination network, whose security groups judge it. Neighbour
// discovery for the router's own IPv6 addresses (each gateway6, the
// external ip6) is answered by the controller: these flows send the
// solicitations up (router_nexthop.go has the same for ARP answers).

// prioGatewayND beats the network's multicast flooding in TableL2Lookup,
// like the ARP responders.
const prioGatewayND = prioGatewayARP

// ipv6Entry hands routed IPv6 straight to routing.
func (rc *routerCompiler) ipv6Entry() []flows.Flow {
	if !rc.routesIPv6() {
		return nil
	}
	return []flows.Flow{{
		Table: uint8(TableRouterEntry), Priority: 50, Cookie: routerWhole(rc.r).cookie(rc.r.Name),
		Match:   flows.Match{EthType: flows.EthTypeIPv6},
		Actions: []flows.Action{gotoTable(TableRouterRoute)},
	}}
}

// routesIPv6 says whether the router has anything IPv6 to route to.
func (rc *routerCompiler) routesIPv6() bool {
	for _, n := range rc.networks {
		if rc.routedPrefix6(n).IsValid() {
			return true
		}
	}
	return false
}

// routedPrefix6 is the cidr6 the router routes to on n: only a network
// with a gateway6 has the router on its IPv6 side.
func (rc *routerCompiler) routedPrefix6(n *intent.Network) netip.Prefix {
	if !n.Gateway6.IsValid() {
		return netip.Prefix{}
	}
	return n.CIDR6
}

// ipv6Routes complete the internal routes (internalRoutes) for IPv6: with
// an IPv6 uplink, everything else goes out of it; packets to the router's
// own IPv6 addresses are not routed (dropped; their neighbour
// solicitations are answered).
func (rc *routerCompiler) ipv6Routes() []flows.Flow {
	if !rc.routesIPv6() {
		return nil
	}
	var out []flows.Flow
	for _, n := range rc.networks {
		if !rc.routedPrefix6(n).IsValid() {
			continue
		}
		cookie := routerNetwork(rc.r, n).cookie(rc.r.Name)
		out = append(out, flows.Flow{
			Table: uint8(TableRouterRoute), Priority: prioRouterAddress, Cookie: cookie,
			Match: flows.Match{EthType: flows.EthTypeIPv6, IPDst: addrPrefix(n.Gateway6)},
		})
	}
	ext := rc.r.External
	if ext.IP6.IsValid() {
		out = append(out, flows.Flow{
			Table: uint8(TableRouterRoute), Priority: prioRouterAddress, Cookie: routerExternal(rc.r).cookie(rc.r.Name),
			Match: flows.Match{EthType: flows.EthTypeIPv6, IPDst: addrPrefix(ext.IP6.Addr())},
		})
	}
	if ext.IP6.IsValid() && ext.Gateway6.IsValid() && rc.uplink != 0 {
		out = append(out, rc.uplinkRoute(flows.EthTypeIPv6))
	}
	return out
}

// ndSolicitations send neighbour solicitations for the router's own IPv6
// addresses to the controller, which answers them: each gateway6 on its
// network (networkND), and the external ip6 on the uplink.
func (rc *routerCompiler) ndSolicitations() []flows.Flow {
	out := rc.networkND()
	if ext := rc.r.External; ext.IP6.IsValid() && rc.uplink != 0 {
		cookie := routerExternal(rc.r).cookie(rc.r.Name)
		m := ndSolicitation(flows.Match{InPort: rc.uplink})
		// The solicitation goes to a multicast address: the uplink's
		// classifier takes only frames to the router's MAC and ARP.
		out = append(out, flows.Flow{Table: uint8(TableClassify), Priority: prioUplinkClassify + 1, Cookie: cookie,
			Match: m, Actions: []flows.Action{flows.Load{Field: fieldSrcPort, Value: uint64(RouterPort)}, gotoTable(TableRouterEntry)}})
		m.NDTarget = ext.IP6.Addr()
		out = append(out, flows.Flow{Table: uint8(TableRouterEntry), Priority: prioExternalARP, Cookie: cookie, Match: m, Actions: []flows.Action{toController}})
	}
	return out
}

// toController sends a packet up for the controller to answer.
var toController = flows.Controller{Reason: flows.PacketInAction}

// ndSolicitation narrows m to neighbour solicitations.
func ndSolicitation(m flows.Match) flows.Match {
	m.EthType, m.IPProto, m.ICMPType = flows.EthTypeIPv6, flows.U8(flows.ProtoICMPv6), flows.U8(135)
	return m
}

// networkND sends up the neighbour solicitations for each gateway6 and
// the router's link-local address there, and the router solicitations,
// from the router's networks, in l2_lookup, where port security vetted
// the sender. The controller of the host the sender is bound on answers
// them, out of the sender's port: in an overlay every host compiles these
// (like the gateway's ARP responders), since the router's host could not
// send an answer back through the tunnel a solicitation came in by.
func (rc *routerCompiler) networkND() []flows.Flow {
	up := []flows.Action{toController}
	var out []flows.Flow
	for _, n := range rc.networks {
		if !rc.routedPrefix6(n).IsValid() {
			continue
		}
		net := flows.Match{Regs: []flows.RegMatch{matchNetwork(uint16(rc.netID(n)))}}
		cookie := routerNetwork(rc.r, n).cookie(rc.r.Name)
		// The gateway and the router's link-local address there, which
		// its router advertisements come from and hosts route through.
		for _, target := range []netip.Addr{n.Gateway6, linkLocal(GatewayMAC(n))} {
			m := ndSolicitation(net)
			m.NDTarget = target
			out = append(out, flows.Flow{Table: uint8(TableL2Lookup), Priority: prioGatewayND, Cookie: cookie, Match: m, Actions: up})
		}
		// Router solicitations: the controller answers with an
		// advertisement at once.
		rs := net
		rs.EthType, rs.IPProto, rs.ICMPType = flows.EthTypeIPv6, flows.U8(flows.ProtoICMPv6), flows.U8(133)
		out = append(out, flows.Flow{Table: uint8(TableL2Lookup), Priority: prioGatewayND, Cookie: cookie, Match: rs, Actions: up})
	}
	return out
}
