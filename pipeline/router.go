package pipeline

import (
	"net/netip"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// compileRouters returns the flows of the router/NAT stage for every router
// of in (docs/router.md). bindings maps iface-ids (intent ports and
// uplinks) to OpenFlow ports; an unbound port gets no route and an unbound
// uplink no way in or out. ids are the intent's, as Compile assigned them.
func compileRouters(in *intent.Intent, bindings map[string]uint32, ids ids, hops NextHops) ([]flows.Flow, error) {
	nowhere := func(string) netip.Addr { return netip.Addr{} }
	return compileRoutersOn(in, bindings, ids, hops, nowhere, func(*intent.Router) (netip.Addr, bool) { return netip.Addr{}, false })
}

// compileRoutersOn is compileRouters on a host of an overlay: a router
// that runs on another host (away says so: its gateway host, or its
// uplink's) only answers ARP for its gateways here, and routerSeamFlows
// sends what is for it through the tunnel; an uplink bound here is then
// not used (nothing from it is classified). A port bound on another host
// (remoteAt) is a neighbour of the router as a local one is.
func compileRoutersOn(in *intent.Intent, bindings map[string]uint32, ids ids, hops NextHops,
	remoteAt func(port string) netip.Addr, away func(*intent.Router) (netip.Addr, bool)) ([]flows.Flow, error) {
	if len(in.Routers) == 0 {
		return nil, nil
	}
	zones := routerZones(in.Routers)
	out := tableMissFlows(true)
	for i := range in.Routers {
		r := &in.Routers[i]
		rc, err := newRouterCompiler(in, r, ids, zones[r.Name], bindings, hops)
		if err != nil {
			return nil, err
		}
		rc.remoteAt = remoteAt
		if host, elsewhere := away(r); elsewhere {
			out = append(out, rc.gatewayARPResponders()...)
			out = append(out, rc.networkND()...)
			if host.IsValid() {
				// Not while nothing reaches the router: a gateway
				// answering ping would hide that.
				out = append(out, rc.remoteEchoResponders()...)
				out = append(out, rc.remoteTTLExpiry()...)
			}
			continue
		}
		out = append(out, rc.flows()...)
	}
	return out, nil
}

// routerCompiler holds what the builders of one router share.
type routerCompiler struct {
	in       *intent.Intent
	r        *intent.Router
	ids      ids
	zone     routerZone
	bindings map[string]uint32
	remoteAt func(port string) netip.Addr // a port's host elsewhere (overlay), or invalid
	networks []*intent.Network            // the router's internal networks
	uplink   uint32                       // 0: the uplink is not bound
	extMAC   flows.MAC
	// nextHop is the external gateway's MAC: the intent's gateway_mac,
	// else the one the controller learned; learn says it is learned, and
	// known whether it is known yet. nextHop6 and known6 are gateway6's
	// (the same gateway_mac when the intent gives one).
	nextHop, nextHop6    flows.MAC
	learn, known, known6 bool
}

func newRouterCompiler(in *intent.Intent, r *intent.Router, ids ids, zone routerZone, bindings map[string]uint32, hops NextHops) (*routerCompiler, error) {
	rc := &routerCompiler{
		in: in, r: r, ids: ids, zone: zone, bindings: bindings,
		uplink: bindings[r.External.Port],
		extMAC: flows.MAC(r.External.MAC),
	}
	if r.External.GatewayMAC != nil {
		rc.nextHop, rc.known = flows.MAC(*r.External.GatewayMAC), true
		rc.nextHop6, rc.known6 = rc.nextHop, true
	} else {
		rc.learn = true
		rc.nextHop, rc.known = hops[NextHopKey{Router: r.Name}]
		rc.nextHop6, rc.known6 = hops[NextHopKey{Router: r.Name, IPv6: true}]
	}
	for _, name := range r.Networks {
		rc.networks = append(rc.networks, in.Network(name))
	}
	return rc, nil
}

// flows returns every flow of the router, one builder per kind of flow.
func (rc *routerCompiler) flows() []flows.Flow {
	var out []flows.Flow
	add := func(fs ...flows.Flow) { out = append(out, fs...) }
	add(rc.uplinkClassifier()...)
	add(rc.nextHopWatch()...)
	add(rc.gatewayARPResponders()...)
	add(rc.externalARPResponders()...)
	add(rc.replyMarkers()...)
	add(rc.unSNAT()...)
	add(rc.dnatTrack())
	add(rc.dnatEstablished())
	add(rc.floatingIPDNAT()...)
	add(rc.portForwardDNAT()...)
	add(rc.routerAddressDrops()...)
	add(rc.echoResponders()...)
	add(rc.ipv6Entry()...)
	add(rc.ipv6Routes()...)
	add(rc.ndSolicitations()...)
	add(rc.internalRoutes()...)
	add(rc.defaultRoute())
	add(rc.onLinkRoute()...)
	add(rc.neighbours()...)
	add(rc.snatTrack()...)
	add(rc.hairpinSNAT()...)
	add(rc.floatingIPSNAT()...)
	add(rc.masquerade()...)
	add(rc.routerOutput()...)
	return out
}

// netID is the network id (= its conntrack zone) in reg2.
func (rc *routerCompiler) netID(n *intent.Network) uint32 { return uint32(rc.ids.zone[n.Name]) }

// ownedAddresses are the external addresses the router answers for: its
// own, its floating IPs and any other SNAT address, without duplicates, in
// intent order.
func (rc *routerCompiler) ownedAddresses() []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	add := func(a netip.Addr) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	add(rc.r.External.IP.Addr())
	for _, f := range rc.r.FloatingIPs {
		add(f.IP)
	}
	for _, s := range rc.r.SNAT {
		add(s.To)
	}
	for _, f := range rc.r.PortForwards {
		add(f.IP)
	}
	return out
}

// firstIPv4 is the address a floating IP maps to: the port's first IPv4.
func firstIPv4(p *intent.Port) netip.Addr {
	for _, a := range p.IPs {
		if a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

func tableAddr(t Table) *uint8 { v := uint8(t); return &v }

func gotoTable(t Table) flows.Action { return flows.Goto{Table: uint8(t)} }

// ctTrack is ct(table=next, zone=zone, nat): track, apply established
// translations (un-NAT replies), and recirculate.
func ctTrack(zone uint16, next Table) flows.Action {
	return flows.CT{Zone: zone, Table: tableAddr(next), NAT: &flows.NAT{}}
}
