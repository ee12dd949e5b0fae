package pipeline

import (
	"net/netip"

	"github.com/flowgate/flowgate/flows"
)

// Routing: the router's entry bookkeeping, longest-prefix routes to its
// internal networks, the default route to the external gateway, and the
// neighbour table of internal addresses. The compiler knows every port's
// address and MAC, so the router never ARPs for internal destinations.

// Priorities in TableRouterRoute: the router's own addresses first, then
// routes by prefix length (prioRouteBase + length), the default route
// being the /0.
const (
	prioRouterAddress uint16 = 300
	prioRouteBase     uint16 = 100
)

// replyMarkers run first for packets from internal ports: they still carry
// the ct_state of their own network's zone, where +rpl means the packet
// answers a connection opened toward the port. That is saved in
// flagRouterReply for TableRouterSNAT, which must not take such a reply
// (e.g. of a connection routed in without NAT) for a new connection.
func (rc *routerCompiler) replyMarkers() []flows.Flow {
	cookie := routerWhole(rc.r).cookie(rc.r.Name)
	return []flows.Flow{
		{Table: uint8(TableRouterEntry), Priority: 100, Cookie: cookie,
			Match: flows.Match{EthType: flows.EthTypeIPv4,
				CTState: flows.CTStateMatch{Set: flows.CTTrk | flows.CTRpl}},
			Actions: []flows.Action{setRouterFlag(flagRouterReply), gotoTable(TableRouterUnSNAT)}},
		{Table: uint8(TableRouterEntry), Priority: 50, Cookie: cookie,
			Match:   flows.Match{EthType: flows.EthTypeIPv4},
			Actions: []flows.Action{gotoTable(TableRouterUnSNAT)}},
	}
}

// routerAddressDrops: a packet still addressed to a router address after
// DNAT matched no floating IP or forward (or is for a gateway address,
// which answers nothing but ARP). Dropped here, it is not routed back out
// of the uplink by the default route.
func (rc *routerCompiler) routerAddressDrops() []flows.Flow {
	var out []flows.Flow
	for _, a := range rc.ownedAddresses() {
		out = append(out, flows.Flow{
			Table: uint8(TableRouterRoute), Priority: prioRouterAddress,
			Cookie: rc.addressObject(a).cookie(rc.r.Name),
			Match:  flows.Match{EthType: flows.EthTypeIPv4, IPDst: addrPrefix(a)},
		})
	}
	for _, n := range rc.networks {
		if n.Gateway.Is4() {
			out = append(out, flows.Flow{
				Table: uint8(TableRouterRoute), Priority: prioRouterAddress,
				Cookie: routerNetwork(rc.r, n).cookie(rc.r.Name),
				Match:  flows.Match{EthType: flows.EthTypeIPv4, IPDst: addrPrefix(n.Gateway)},
			})
		}
	}
	return out
}

// internalRoutes route to each internal network: decrement the TTL (a
// routing loop dies), leave with the router's MAC on that network, and
// look up the destination's MAC in TableRouterNeighbour. IPv4 by cidr,
// and IPv6 by cidr6 where the network has a gateway6 (router_ipv6.go).
func (rc *routerCompiler) internalRoutes() []flows.Flow {
	var out []flows.Flow
	for _, n := range rc.networks {
		for _, prefix := range []netip.Prefix{n.CIDR, rc.routedPrefix6(n)} {
			if !prefix.IsValid() {
				continue
			}
			ethType := flows.EthTypeIPv4
			if prefix.Addr().Is6() {
				ethType = flows.EthTypeIPv6
			}
			out = append(out, flows.Flow{
				Table: uint8(TableRouterRoute), Priority: prioRouteBase + uint16(prefix.Bits()),
				Cookie: routerNetwork(rc.r, n).cookie(rc.r.Name),
				Match:  flows.Match{EthType: ethType, IPDst: prefix},
				Actions: []flows.Action{
					flows.DecTTL{},
					flows.SetEthSrc{MAC: GatewayMAC(n)},
					setOutNetwork(rc.netID(n)),
					gotoTable(TableRouterNeighbour),
				},
			})
		}
	}
	return out
}

// defaultRoute sends everything else to the external gateway. Every
// external destination, on-link ones in the external prefix included,
// goes through the gateway's MAC: the router does not ARP.
func (rc *routerCompiler) defaultRoute() flows.Flow { return rc.uplinkRoute(flows.EthTypeIPv4) }

// uplinkRoute is the default route of one family (IPv4, or IPv6 with an
// IPv6 uplink, router_ipv6.go): out of the uplink to the next hop's MAC,
// or to the controller while that MAC is not known (resolveNextHop).
func (rc *routerCompiler) uplinkRoute(ethType uint16) flows.Flow {
	nextHop, known := rc.nextHop, rc.known
	if ethType == flows.EthTypeIPv6 {
		nextHop, known = rc.nextHop6, rc.known6
	}
	if !known {
		return rc.resolveNextHop(ethType)
	}
	return flows.Flow{
		Table: uint8(TableRouterRoute), Priority: prioRouteBase,
		Cookie: routerExternal(rc.r).cookie(rc.r.Name),
		Match:  flows.Match{EthType: ethType},
		Actions: []flows.Action{
			flows.DecTTL{},
			flows.SetEthSrc{MAC: rc.extMAC},
			flows.SetEthDst{MAC: nextHop},
			setOutNetwork(outUplink),
			gotoTable(TableRouterSNATTrack),
		},
	}
}

// neighbours resolve each bound port's addresses on the router's
// networks to its MAC: IPv4 always, IPv6 where the network routes it
// (router_ipv6.go). An unbound port has no flow: nobody can send to it.
// A port bound on another host is bound (l2_lookup sends it through the
// tunnel).
func (rc *routerCompiler) neighbours() []flows.Flow {
	var out []flows.Flow
	for _, n := range rc.networks {
		routes6 := rc.routedPrefix6(n).IsValid()
		for i := range rc.in.Ports {
			p := &rc.in.Ports[i]
			if p.Network != n.Name {
				continue
			}
			if _, bound := rc.bindings[p.Name]; !bound && !rc.remoteAt(p.Name).IsValid() {
				continue
			}
			for _, a := range p.IPs {
				ethType := flows.EthTypeIPv4
				switch {
				case a.Is4():
				case routes6 && !a.Is4In6():
					ethType = flows.EthTypeIPv6
				default:
					continue
				}
				out = append(out, flows.Flow{
					Table: uint8(TableRouterNeighbour), Priority: 100,
					Cookie: routerPortRoute(rc.r, p).cookie(rc.r.Name),
					Match: flows.Match{EthType: ethType, IPDst: addrPrefix(a),
						Regs: []flows.RegMatch{matchOutNetwork(rc.netID(n))}},
					Actions: []flows.Action{flows.SetEthDst{MAC: flows.MAC(p.MAC)}, gotoTable(TableRouterSNATTrack)},
				})
			}
		}
	}
	return out
}
