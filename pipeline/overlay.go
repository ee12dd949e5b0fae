package pipeline

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// The overlay (issue 15): a network spans hosts over Geneve tunnels from
// the integration bridge, the network's id (its conntrack zone, which
// every host derives from the network names alone) carried in the tunnel
// key. Each host enforces what its own ports send (port security and
// egress rules) and what they receive (ingress rules); a packet crossing
// the overlay is judged by the sender's egress rules on its host and the
// receiver's ingress rules on the other, and each host tracks the
// connection in its own conntrack:
//
//   - toward a port bound elsewhere: l2_lookup matches its MAC, sets the
//     tunnel destination (its host's endpoint) and key, and names the
//     tunnel as the destination port (reg1), which ingress_acl passes and
//     output sends out of the tunnel port;
//   - from the tunnel: classify takes the network from the tunnel key
//     (only keys of known networks), names the tunnel as the source port
//     (reg0), which egress_acl passes, and the packet walks conntrack,
//     l2_lookup and the receiver's ingress_acl as any other;
//   - flooding: each host with ports of the network is one more receiver
//     of the network's flood trees (set tunnel destination and key,
//     output to the tunnel); a flood that came from the tunnel is never
//     sent back into it (OpenFlow never outputs to the in_port).
//
// Remote groups already match the addresses of every port of the intent,
// wherever it is bound.

// Overlay says where the ports bound on other hosts are.
type Overlay struct {
	// TunnelPort is the OpenFlow port of the integration bridge's
	// flow-based Geneve port (options:remote_ip=flow, options:key=flow);
	// 0: no overlay.
	TunnelPort uint32
	// Remote maps a port bound on another host to that host's tunnel
	// endpoint. A port bound here too is local (Bindings win).
	Remote map[string]netip.Addr
	// Host is this host's name, and Hosts the tunnel endpoint of every
	// other host that has ports bound: a router whose intent names its
	// gateway host (routers[].host) runs there.
	Host  string
	Hosts map[string]netip.Addr
}

// prioClassifyTunnel: a tunnel packet's key names a network.
// prioCommitRouted: between the router and the tunnel (no port commits).
const (
	prioClassifyTunnel uint16 = 100
	prioCommitRouted   uint16 = 150
)

// remotePort is an intent port bound on another host.
type remotePort struct {
	*intent.Port
	endpoint netip.Addr
	zone     uint16
	cookie   uint64
}

// setOverlay records ov and the ports it places on other hosts.
func (c *compiler) setOverlay(ov Overlay) {
	c.overlay = ov
	c.remote = c.remotePorts()
}

// remotePorts lists the ports bound elsewhere, by name.
func (c *compiler) remotePorts() []remotePort {
	var out []remotePort
	for i := range c.in.Ports {
		p := &c.in.Ports[i]
		ep := c.remoteEndpoint(p.Name)
		if !ep.IsValid() {
			continue
		}
		out = append(out, remotePort{Port: p, endpoint: ep, zone: c.ids.zone[p.Network],
			cookie: Cookie(KindPort, uint64(c.ids.port[p.Name]))})
	}
	slices.SortFunc(out, func(a, b remotePort) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// remoteEndpoints are the tunnel endpoints of the hosts with ports of
// network n, in address order.
func (c *compiler) remoteEndpoints(n string) []netip.Addr {
	var out []netip.Addr
	for _, p := range c.remote {
		if p.Network == n && !slices.Contains(out, p.endpoint) {
			out = append(out, p.endpoint)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// tunnelHeader addresses the packet to endpoint's host, keyed with the
// network zone. An IPv6 endpoint also clears the IPv4 destination: OVS
// sends to tun_dst whenever it is set, and a packet that came in over an
// IPv4 tunnel (a router's hand-back) still carries it.
func tunnelHeader(endpoint netip.Addr, zone uint16) []flows.Action {
	var out []flows.Action
	if endpoint.Is6() {
		out = append(out, flows.SetTunnel{Addr: netip.IPv4Unspecified()})
	}
	return append(out,
		flows.SetTunnel{Addr: endpoint},
		flows.Load{Field: flows.Whole(flows.FieldTunID), Value: uint64(zone)})
}

// TunnelBack is how the controller sends a frame it makes to the sender
// of a packet that came in from the tunnel (a reject's RST, say): the
// tunnel header toward the host the port with MAC mac is bound on, in
// that port's network, and out of the tunnel port. ok is false when no
// port of in with that MAC is bound on another host of ov (a packet the
// router on another host handed on: its sender is behind the router).
func TunnelBack(in *intent.Intent, ov Overlay, mac flows.MAC) (actions []flows.Action, ok bool) {
	if ov.TunnelPort == 0 {
		return nil, false
	}
	for i := range in.Ports {
		p := &in.Ports[i]
		endpoint, remote := ov.Remote[p.Name]
		if remote && slices.Contains(portMACs(p), mac) {
			return append(tunnelHeader(endpoint, NetworkZone(in, p.Network)), flows.Output{Port: ov.TunnelPort}), true
		}
	}
	return nil, false
}

// unspecifiedOf is the unspecified address of a's family: what clears a
// tunnel address field of that family.
func unspecifiedOf(a netip.Addr) netip.Addr {
	if a.Is6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// toTunnel sends the packet into the overlay toward endpoint now (a
// flood's delivery).
func (c *compiler) toTunnel(endpoint netip.Addr, zone uint16) []flows.Action {
	return append(tunnelHeader(endpoint, zone), flows.Output{Port: c.overlay.TunnelPort})
}

// viaTunnel makes the tunnel the packet's destination port in l2_lookup:
// the receiver's host judges it, so ingress_acl passes it and output
// sends it.
func (c *compiler) viaTunnel(endpoint netip.Addr, zone uint16) []flows.Action {
	return append(tunnelHeader(endpoint, zone),
		flows.Load{Field: fieldDstPort, Value: uint64(c.overlay.TunnelPort)}, goTo(TableIngressACL))
}

// overlayFingerprint covers overlayFlows: the tunnel port, the networks
// and every tunnel sender — each remote port's MACs, network zone, host
// and cookie, and the remote routers' — not a port's groups, so that a
// remote port joining a group (the other units' work) does not rebuild
// the overlay's flows for every remote port.
func (c *compiler) overlayFingerprint() uint64 {
	f := newFingerprint().u64(uint64(c.overlay.TunnelPort)).value(c.in.Networks)
	for _, s := range c.tunnelSenders() {
		f.u64(uint64(s.zone)).str(s.endpoint.String()).str(string(s.mac[:])).u64(s.cookie)
	}
	return f.sum()
}

// overlayFlows are the flows the overlay adds besides the flood trees'
// remote receivers (floodFlows).
func (c *compiler) overlayFlows() (built, error) {
	t := c.overlay.TunnelPort
	var out []flows.Flow
	for _, s := range c.tunnelSenders() {
		out = append(out, flows.Flow{Table: uint8(TableClassify), Priority: prioClassifyTunnel, Cookie: s.cookie,
			Match: flows.Match{InPort: t, TunID: &flows.Masked64{Value: uint64(s.zone)}, TunSrc: s.endpoint, EthSrc: flows.ExactMAC(s.mac)},
			Actions: []flows.Action{
				flows.Load{Field: fieldSrcPort, Value: uint64(t)},
				flows.Load{Field: fieldNetwork, Value: uint64(s.zone)},
				// The outer source is the sending host's: a packet the
				// router hands on into the tunnel again must leave from
				// this host's own endpoint (unspecified: chosen by the
				// route).
				flows.SetTunnel{Src: true, Addr: unspecifiedOf(s.endpoint)},
				goTo(TableConntrack),
			}})
	}
	out = append(out,
		egressSide.flow(prioACLUnfiltered, infraCookie(egressSide.table), flows.Match{Regs: []flows.RegMatch{egressSide.port(t)}}, goTo(egressSide.next)),
		ingressSide.flow(prioACLUnfiltered, infraCookie(ingressSide.table), flows.Match{Regs: []flows.RegMatch{ingressSide.port(t)}}, goTo(ingressSide.next)),
		flows.Flow{Table: uint8(TableOutput), Priority: prioOutputPort, Cookie: infraCookie(TableOutput),
			Match: flows.Match{Regs: []flows.RegMatch{matchDstPort(t)}}, Actions: []flows.Action{flows.Output{Port: t}}})
	// On the router's host: the router and the tunnel are both
	// unfiltered "ports", so nothing else commits what passes between
	// them, and the replies must be seen as replies (the router SNATs a
	// new connection from a port with a floating IP); and a packet the
	// router hands back to a port on the host it came from leaves by the
	// tunnel it came in on (output:IN_PORT; only the router's hand-backs,
	// so a frame never bounces between hosts).
	for _, pair := range [][2]uint32{{RouterPort, t}, {t, RouterPort}} {
		for _, et := range []uint16{flows.EthTypeIPv4, flows.EthTypeIPv6} {
			out = append(out, flows.Flow{Table: uint8(TableCommit), Priority: prioCommitRouted, Cookie: infraCookie(TableCommit),
				Match: flows.Match{EthType: et, CTState: flows.CTStateMatch{Set: flows.CTTrk | flows.CTNew},
					Regs: []flows.RegMatch{matchSrcPort(pair[0]), matchDstPort(pair[1])}},
				Actions: []flows.Action{flows.CT{Commit: true, ZoneField: networkZoneField()}, goTo(TableOutput)}})
		}
	}
	out = append(out, flows.Flow{Table: uint8(TableOutput), Priority: prioOutputHairpin, Cookie: infraCookie(TableOutput),
		Match:   flows.Match{InPort: t, Regs: []flows.RegMatch{matchSrcPort(RouterPort), matchDstPort(t)}},
		Actions: []flows.Action{flows.Output{Port: flows.PortInPort}}})
	for _, p := range c.remote {
		for _, mac := range portMACs(p.Port) {
			out = append(out, flows.Flow{Table: uint8(TableL2Lookup), Priority: prioL2Unicast, Cookie: p.cookie,
				Match:   flows.Match{Regs: []flows.RegMatch{matchNetwork(p.zone)}, EthDst: flows.ExactMAC(mac)},
				Actions: c.viaTunnel(p.endpoint, p.zone)})
		}
	}
	return built{flows: out}, nil
}

// tunnelSender is a source a tunnel packet may come from: a MAC in a
// network, sent by the host at endpoint.
type tunnelSender struct {
	zone     uint16
	endpoint netip.Addr
	mac      flows.MAC
	cookie   uint64
}

// tunnelSenders are the only (network, host, source MAC) a tunnel packet
// is taken from: each remote port's MACs from its own host, and a
// router's gateway MACs from the host it runs on. Anything else — an
// unknown host on the underlay, or a host sending as a port bound
// elsewhere — is dropped in classify. (The port's addresses are its own
// host's to check, by port security there.)
func (c *compiler) tunnelSenders() []tunnelSender {
	var out []tunnelSender
	for _, p := range c.remote {
		for _, mac := range portMACs(p.Port) {
			out = append(out, tunnelSender{zone: p.zone, endpoint: p.endpoint, mac: mac, cookie: p.cookie})
		}
	}
	for i := range c.in.Routers {
		r := &c.in.Routers[i]
		ep, away := c.routerAway(r)
		if !away || !ep.IsValid() {
			continue
		}
		for _, name := range r.Networks {
			n := c.in.Network(name)
			zone := c.ids.zone[name]
			out = append(out, tunnelSender{zone: zone, endpoint: ep, mac: GatewayMAC(n), cookie: Cookie(KindNetwork, uint64(zone))})
		}
	}
	return out
}

// remoteEndpoint is the tunnel endpoint of the host port is bound on, if
// that is another host.
func (c *compiler) remoteEndpoint(port string) netip.Addr {
	if _, local := c.bindings[port]; local {
		return netip.Addr{}
	}
	return c.overlay.remote()[port]
}

// routerAway says whether router r runs on another host, and that
// host's tunnel endpoint (invalid while no port of it is known, and then
// nothing here reaches the router). In an overlay a router runs on the
// gateway host its intent names (routers[].host), else on the host its
// uplink is bound on; without an overlay, here.
func (c *compiler) routerAway(r *intent.Router) (netip.Addr, bool) {
	switch {
	case c.overlay.TunnelPort == 0:
		return netip.Addr{}, false
	case r.Host == "":
		ep := c.remoteEndpoint(r.External.Port)
		return ep, ep.IsValid()
	case r.Host == c.overlay.Host:
		return netip.Addr{}, false
	}
	return c.overlay.Hosts[r.Host], true
}

// routerOf is the router that routes network n, if any.
func (c *compiler) routerOf(n string) *intent.Router {
	for i := range c.in.Routers {
		if slices.Contains(c.in.Routers[i].Networks, n) {
			return &c.in.Routers[i]
		}
	}
	return nil
}

// remote is where ports are bound elsewhere; nil without an overlay
// (no tunnel port: nothing can reach them).
func (ov Overlay) remote() map[string]netip.Addr {
	if ov.TunnelPort == 0 {
		return nil
	}
	return ov.Remote
}

// NetworkZone is network's id: its conntrack zone and, in an overlay, its
// tunnel key (0: no such network).
func NetworkZone(in *intent.Intent, network string) uint16 { return networkZones(in)[network] }
