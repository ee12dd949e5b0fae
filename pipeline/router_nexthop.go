package pipeline

import (
	"net/netip"
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// A router without external.gateway_mac learns its next hops' MACs: the
// controller sends ARP requests for external.gateway, and neighbour
// solicitations for external.gateway6, out of the uplink (at start, every
// few seconds, and when a packet finds the MAC unknown) and watches the
// answers these flows send up. What it learned comes back into the
// compile as NextHops, like the bindings: the default route of each
// family then sets its learned MAC, and a new one (failover, VRRP)
// replaces it in one bundle. The two families are learned apart: their
// next hops may be different routers, or one router with a virtual MAC
// per family (VRRP's IPv4 and IPv6 groups).

// NextHopKey names one MAC learned on a router's uplink: its IPv4 or
// IPv6 next hop, or an on-link neighbour (an address of the uplink's
// IPv4 prefix the router sends to directly, not through the gateway).
type NextHopKey struct {
	Router string
	IPv6   bool
	// Neighbour is the on-link address; invalid for a next hop.
	Neighbour netip.Addr
}

// String is the router's name for its IPv4 next hop, name/ipv6 for its
// IPv6 one and name/ADDRESS for an on-link neighbour (as /v1/status lists
// them; a name holds no "/").
func (k NextHopKey) String() string {
	switch {
	case k.Neighbour.IsValid():
		return k.Router + "/" + k.Neighbour.String()
	case k.IPv6:
		return k.Router + "/ipv6"
	}
	return k.Router
}

// NextHops are the MACs the controller learned on the routers' uplinks.
type NextHops map[NextHopKey]flows.MAC

// MaxOnLinkNeighbours bounds the on-link neighbours a router keeps (the
// controller forgets the least recently confirmed beyond it): each is
// one flow, and the addresses are the outside's choice.
const MaxOnLinkNeighbours = 1024

// prioNextHopWatch beats the external ARP responders, so the gateway's
// answers are seen whatever else matches them.
const prioNextHopWatch uint16 = prioExternalARP + 10

// nextHopWatch sends the gateway's ARP replies, and its gratuitous ARP,
// arriving on the uplink to the controller; and with an IPv6 uplink the
// neighbour advertisements for gateway6, solicited (to the router's MAC)
// or not (to all nodes, which the uplink's classifier would not take).
func (rc *routerCompiler) nextHopWatch() []flows.Flow {
	if !rc.learn || rc.uplink == 0 {
		return nil
	}
	cookie := routerExternal(rc.r).cookie(rc.r.Name)
	up := []flows.Action{flows.Controller{Reason: flows.PacketInAction}}
	var out []flows.Flow
	if gw := rc.r.External.Gateway; gw.Is4() {
		reply := flows.Match{InPort: rc.uplink, EthType: flows.EthTypeARP, ARPOp: flows.U16(2), ARPSpa: addrPrefix(gw)}
		gratuitous := flows.Match{InPort: rc.uplink, EthType: flows.EthTypeARP, ARPOp: flows.U16(1),
			ARPSpa: addrPrefix(gw), ARPTpa: addrPrefix(gw)}
		// The answers of the on-link neighbours the controller asked
		// for (addressed to the router: not other hosts' ARP).
		onLink := flows.Match{InPort: rc.uplink, EthDst: flows.ExactMAC(rc.extMAC), EthType: flows.EthTypeARP, ARPOp: flows.U16(2),
			ARPSpa: rc.r.External.IP.Masked()}
		out = append(out,
			flows.Flow{Table: uint8(TableRouterEntry), Priority: prioNextHopWatch, Cookie: cookie, Match: reply, Actions: up},
			flows.Flow{Table: uint8(TableRouterEntry), Priority: prioNextHopWatch, Cookie: cookie, Match: gratuitous, Actions: up},
			flows.Flow{Table: uint8(TableRouterEntry), Priority: prioNextHopWatch - 1, Cookie: cookie, Match: onLink, Actions: up})
	}
	if ext := rc.r.External; ext.IP6.IsValid() && ext.Gateway6.IsValid() {
		advert := flows.Match{InPort: rc.uplink, EthType: flows.EthTypeIPv6, IPProto: flows.U8(flows.ProtoICMPv6),
			ICMPType: flows.U8(136), ICMPCode: flows.U8(0), NDTarget: ext.Gateway6}
		out = append(out, flows.Flow{Table: uint8(TableClassify), Priority: prioUplinkClassify + 1, Cookie: cookie, Match: advert,
			Actions: []flows.Action{flows.Load{Field: fieldSrcPort, Value: uint64(RouterPort)}, gotoTable(TableRouterEntry)}})
		out = append(out, flows.Flow{Table: uint8(TableRouterEntry), Priority: prioNextHopWatch, Cookie: cookie, Match: advert, Actions: up})
	}
	return out
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

// NextHopQuery is what the controller needs to learn one next hop of a
// router: where to ask (the uplink's OpenFlow port), as whom (the
// router's external MAC and address of the family) and for what
// (external.gateway, or gateway6); and the cookie of the flows that send
// the answers (and the unresolved packets) up.
type NextHopQuery struct {
	Router  string
	IPv6    bool
	Uplink  uint32
	MAC     flows.MAC
	IP      netip.Addr
	Gateway netip.Addr
	Cookie  uint64
	// OnLink is the uplink's IPv4 prefix, whose addresses the router
	// reaches directly: the controller asks for the MAC of any of them a
	// packet is sent to (onLinkRoute). Invalid for IPv6.
	OnLink netip.Prefix
}

// Key names the next hop q learns.
func (q NextHopQuery) Key() NextHopKey { return NextHopKey{Router: q.Router, IPv6: q.IPv6} }

// NextHopQueries lists the next hops of in's routers that are learned
// (no gateway_mac) and whose uplink is bound in b: IPv4 by
// external.gateway, IPv6 by external.gateway6 where the router has an
// IPv6 uplink.
func NextHopQueries(in *intent.Intent, b Bindings) []NextHopQuery {
	var out []NextHopQuery
	for i := range in.Routers {
		r := &in.Routers[i]
		uplink, bound := b[r.External.Port]
		if r.External.GatewayMAC != nil || !bound {
			continue
		}
		q := NextHopQuery{Router: r.Name, Uplink: uplink, MAC: flows.MAC(r.External.MAC), Cookie: routerExternal(r).cookie(r.Name)}
		if r.External.Gateway.Is4() {
			q.IP, q.Gateway, q.OnLink = r.External.IP.Addr(), r.External.Gateway, r.External.IP.Masked()
			out = append(out, q)
		}
		if r.External.IP6.IsValid() && r.External.Gateway6.IsValid() {
			q.IPv6, q.IP, q.Gateway, q.OnLink = true, r.External.IP6.Addr(), r.External.Gateway6, netip.Prefix{}
			if q.Gateway.IsLinkLocalUnicast() {
				// Asked from the router's link-local address on the
				// uplink, the scope the gateway is known in.
				q.IP = linkLocal(q.MAC)
			}
			out = append(out, q)
		}
	}
	return out
}

// InstalledNextHops reads the MACs a controller learned back from
// installed flows: the one each learning router's default route of each
// family sets, and its on-link neighbours' (onLinkNeighbours). Tools that
// compile the desired flows without the controller (flowgate diff) use
// it, so a learned MAC is not reported as a difference.
func InstalledNextHops(in *intent.Intent, b Bindings, installed []flows.Flow) NextHops {
	hops := NextHops{}
	setsMAC := func(f flows.Flow) (flows.MAC, bool) {
		for _, a := range f.Actions {
			if set, ok := a.(flows.SetEthDst); ok {
				return set.MAC, true
			}
		}
		return flows.MAC{}, false
	}
	for _, q := range NextHopQueries(in, b) {
		ethType := flows.EthTypeIPv4
		if q.IPv6 {
			ethType = flows.EthTypeIPv6
		}
		for _, f := range installed {
			if f.Cookie != q.Cookie || f.Match.EthType != ethType {
				continue
			}
			mac, ok := setsMAC(f)
			switch {
			case !ok:
			case f.Table == uint8(TableRouterRoute) && f.Priority == prioRouteBase:
				hops[q.Key()] = mac
			case f.Table == uint8(TableRouterNeighbour) && q.OnLink.IsValid() && f.Match.IPDst.IsSingleIP() && f.Match.IPDst.Addr() != q.Gateway:
				hops[NextHopKey{Router: q.Router, Neighbour: f.Match.IPDst.Addr()}] = mac
			}
		}
	}
	return hops
}

// prioOnLinkMiss is table 95's flow for an on-link address whose MAC is
// not known yet, below the known ones.
const prioOnLinkMiss = 50

// routesOnLink says whether router r, its uplink at OpenFlow port uplink
// (0: not bound here), reaches the uplink's own IPv4 prefix directly:
// only where it learns its MACs (no gateway_mac: a static setup sends
// everything to the gateway, as it did).
func routesOnLink(r *intent.Router, uplink uint32) bool {
	return r.External.GatewayMAC == nil && uplink != 0 && r.External.IP.Addr().Is4()
}

// onLinkRoute sends what is addressed to the uplink's own IPv4 prefix
// out of the uplink to the destination's own MAC (table 95,
// onLinkNeighbourFlows), not to the gateway's: a host beside the router
// on the outside segment is reached even when the gateway would not
// route back onto the segment it came from.
func (rc *routerCompiler) onLinkRoute() []flows.Flow {
	if !routesOnLink(rc.r, rc.uplink) {
		return nil
	}
	prefix := rc.r.External.IP.Masked()
	return []flows.Flow{{
		Table: uint8(TableRouterRoute), Priority: prioRouteBase + uint16(prefix.Bits()),
		Cookie: routerExternal(rc.r).cookie(rc.r.Name),
		Match:  flows.Match{EthType: flows.EthTypeIPv4, IPDst: prefix},
		Actions: []flows.Action{
			flows.DecTTL{},
			flows.SetEthSrc{MAC: rc.extMAC},
			setOutNetwork(outUplink),
			gotoTable(TableRouterNeighbour),
		},
	}}
}

// onLinkNeighbours are the on-link neighbours of router in hops, by
// address: those of the uplink's prefix, not the gateway (the next hop
// has its own key).
func (hops NextHops) onLinkNeighbours(r *intent.Router) []NextHopKey {
	var out []NextHopKey
	for k := range hops {
		if k.Router == r.Name && k.Neighbour.IsValid() && k.Neighbour != r.External.Gateway && r.External.IP.Contains(k.Neighbour) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b NextHopKey) int { return a.Neighbour.Compare(b.Neighbour) })
	return out
}

// onLinkNeighbourFlows resolve the on-link addresses the controller
// learned for router r (and the gateway, by the next hop's MAC) in table
// 95; a packet to any other goes to the controller, which asks for its
// MAC, and on to the gateway, as before there were on-link routes (a
// gateway that routes back onto the segment loses nothing while the MAC
// is asked for; one that does not drops it, and a TCP client's
// retransmission finds the learned MAC). While the next hop is unknown
// too, it is dropped. A unit of their own (unitOnLink): a neighbour
// learned or forgotten rebuilds these, not the router.
func onLinkNeighbourFlows(r *intent.Router, uplink uint32, hops NextHops) []flows.Flow {
	if !routesOnLink(r, uplink) {
		return nil
	}
	cookie := routerExternal(r).cookie(r.Name)
	toUplink := []flows.RegMatch{matchOutNetwork(outUplink)}
	resolved := func(a netip.Addr, mac flows.MAC) flows.Flow {
		return flows.Flow{Table: uint8(TableRouterNeighbour), Priority: 100, Cookie: cookie,
			Match:   flows.Match{EthType: flows.EthTypeIPv4, IPDst: addrPrefix(a), Regs: toUplink},
			Actions: []flows.Action{flows.SetEthDst{MAC: mac}, gotoTable(TableRouterSNATTrack)}}
	}
	miss := []flows.Action{flows.Controller{MaxLen: 64, Reason: flows.PacketInAction}}
	nextHop, known := hops[NextHopKey{Router: r.Name}]
	if known {
		miss = append(miss, flows.SetEthDst{MAC: nextHop}, gotoTable(TableRouterSNATTrack))
	}
	out := []flows.Flow{
		{Table: uint8(TableRouterNeighbour), Priority: prioOnLinkMiss, Cookie: cookie,
			Match: flows.Match{EthType: flows.EthTypeIPv4, Regs: toUplink}, Actions: miss},
		// From the uplink back to it is dropped anyway (table 96): the
		// outside must not make the router ask for addresses.
		{Table: uint8(TableRouterNeighbour), Priority: prioOnLinkMiss + 1, Cookie: cookie,
			Match: flows.Match{EthType: flows.EthTypeIPv4, InPort: uplink, Regs: toUplink}},
	}
	if known {
		out = append(out, resolved(r.External.Gateway, nextHop))
	}
	for _, k := range hops.onLinkNeighbours(r) {
		out = append(out, resolved(k.Neighbour, hops[k]))
	}
	return out
}

// onLinkFingerprint covers onLinkNeighbourFlows(r, uplink, hops).
func onLinkFingerprint(r *intent.Router, uplink uint32, hops NextHops) uint64 {
	nextHop, known := hops[NextHopKey{Router: r.Name}]
	f := newFingerprint().str(r.Name).value(r.External).u64(uint64(uplink)).bool(known).str(string(nextHop[:]))
	for _, k := range hops.onLinkNeighbours(r) {
		mac := hops[k]
		f.str(k.Neighbour.String()).str(string(mac[:]))
	}
	return f.sum()
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
