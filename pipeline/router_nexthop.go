package pipeline

import (
	"net/netip"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// A router without external.gateway_mac learns its next hop's MAC: the
// controller sends ARP requests for external.gateway out of the uplink
// (at start, every few seconds, and when a packet finds the MAC unknown)
// and watches the answers these flows send up. What it learned comes
// back into the compile as NextHops, like the bindings: the default route
// then sets the learned MAC, and a new one (failover, VRRP) replaces it
// in one bundle.

// NextHops are the next hops' MACs the controller learned, by router name.
type NextHops map[string]flows.MAC

// prioNextHopWatch beats the external ARP responders, so the gateway's
// answers are seen whatever else matches them.
const prioNextHopWatch uint16 = prioExternalARP + 10

// nextHopWatch sends the gateway's ARP replies, and its gratuitous ARP,
// arriving on the uplink to the controller.
func (rc *routerCompiler) nextHopWatch() []flows.Flow {
	gw := rc.r.External.Gateway
	if !rc.learn || rc.uplink == 0 || !gw.Is4() {
		return nil
	}
	cookie := routerExternal(rc.r).cookie(rc.r.Name)
	up := []flows.Action{flows.Controller{Reason: flows.PacketInAction}}
	reply := flows.Match{InPort: rc.uplink, EthType: flows.EthTypeARP, ARPOp: flows.U16(2), ARPSpa: addrPrefix(gw)}
	gratuitous := flows.Match{InPort: rc.uplink, EthType: flows.EthTypeARP, ARPOp: flows.U16(1),
		ARPSpa: addrPrefix(gw), ARPTpa: addrPrefix(gw)}
	return []flows.Flow{
		{Table: uint8(TableRouterEntry), Priority: prioNextHopWatch, Cookie: cookie, Match: reply, Actions: up},
		{Table: uint8(TableRouterEntry), Priority: prioNextHopWatch, Cookie: cookie, Match: gratuitous, Actions: up},
	}
}

// resolveNextHop is the default route while the next hop's MAC is not
// known: the packet goes to the controller, which asks for the MAC at
// once, and is dropped (a TCP client retransmits, by then to the learned
// MAC). Only the headers go up: they say which router asks.
func (rc *routerCompiler) resolveNextHop(ethType uint16) flows.Flow {
	return flows.Flow{
		Table: uint8(TableRouterRoute), Priority: prioRouteBase,
		Cookie:  routerExternal(rc.r).cookie(rc.r.Name),
		Match:   flows.Match{EthType: ethType},
		Actions: []flows.Action{flows.Controller{MaxLen: 64, Reason: flows.PacketInAction}},
	}
}

// NextHopQuery is what the controller needs to learn one router's next
// hop: where to ask (the uplink's OpenFlow port), as whom (the router's
// external MAC and address) and for what (external.gateway); and the
// cookie of the flows that send the answers (and the unresolved packets)
// up.
type NextHopQuery struct {
	Router  string
	Uplink  uint32
	MAC     flows.MAC
	IP      netip.Addr
	Gateway netip.Addr
	Cookie  uint64
}

// NextHopQueries lists the routers of in whose next hop is learned and
// whose uplink is bound in b.
func NextHopQueries(in *intent.Intent, b Bindings) []NextHopQuery {
	var out []NextHopQuery
	for i := range in.Routers {
		r := &in.Routers[i]
		uplink, bound := b[r.External.Port]
		if r.External.GatewayMAC != nil || !bound || !r.External.Gateway.Is4() {
			continue
		}
		out = append(out, NextHopQuery{Router: r.Name, Uplink: uplink, MAC: flows.MAC(r.External.MAC),
			IP: r.External.IP.Addr(), Gateway: r.External.Gateway, Cookie: routerExternal(r).cookie(r.Name)})
	}
	return out
}

// InstalledNextHops reads the next hops a controller learned back from
// installed flows: the MAC each learning router's default route sets.
// Tools that compile the desired flows without the controller (flowgate
// diff) use it, so a learned next hop is not reported as a difference.
func InstalledNextHops(in *intent.Intent, b Bindings, installed []flows.Flow) NextHops {
	hops := NextHops{}
	for _, q := range NextHopQueries(in, b) {
		for _, f := range installed {
			if f.Table != uint8(TableRouterRoute) || f.Priority != prioRouteBase || f.Cookie != q.Cookie {
				continue
			}
			for _, a := range f.Actions {
				if set, ok := a.(flows.SetEthDst); ok {
					hops[q.Router] = set.MAC
				}
			}
		}
	}
	return hops
}

// RouterSide is one port a router's ICMP errors leave by, with the
// address and MAC the router has on that side: the uplink (external
// address and MAC), or a bound port of one of its internal networks (the
// network's gateway and GatewayMAC).
type RouterSide struct {
	Router string
	Port   uint32
	MAC    flows.MAC
	IP     netip.Addr
	IP6    netip.Addr // the router's IPv6 address there, if any (gateway6, external ip6)
	// On an internal network with gateway6: the router's link-local
	// address there (its advertisements' source) and the network's
	// cidr6 (the prefix it advertises).
	LinkLocal netip.Addr
	Prefix6   netip.Prefix
}

// RouterSides maps the OpenFlow ports of in's routers' sides to them, for
// the controller's ICMP errors (time exceeded when dec_ttl reaches zero).
func RouterSides(in *intent.Intent, b Bindings) map[uint32]RouterSide {
	out := map[uint32]RouterSide{}
	for i := range in.Routers {
		r := &in.Routers[i]
		if up, ok := b[r.External.Port]; ok && r.External.IP.Addr().Is4() {
			out[up] = RouterSide{Router: r.Name, Port: up, MAC: flows.MAC(r.External.MAC), IP: r.External.IP.Addr()}
			if r.External.IP6.IsValid() {
				s := out[up]
				s.IP6 = r.External.IP6.Addr()
				out[up] = s
			}
		}
		for _, name := range r.Networks {
			n := in.Network(name)
			// A network the router joins by gateway, gateway6 or both
			// (an IPv6-only network has sides too: neighbour discovery,
			// advertisements and time exceeded need them).
			if n == nil || !n.Gateway.Is4() && !n.Gateway6.IsValid() {
				continue
			}
			for _, p := range in.Ports {
				if ofport, ok := b[p.Name]; ok && p.Network == name {
					s := RouterSide{Router: r.Name, Port: ofport, MAC: GatewayMAC(n)}
					if n.Gateway.Is4() {
						s.IP = n.Gateway
					}
					if n.Gateway6.IsValid() && n.CIDR6.IsValid() {
						s.IP6, s.LinkLocal, s.Prefix6 = n.Gateway6, linkLocal(s.MAC), n.CIDR6
					}
					out[ofport] = s
				}
			}
		}
	}
	return out
}
