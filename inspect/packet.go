package inspect

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
)

// defaultSPort is the source port of traced TCP/UDP packets when the
// request names none: an ephemeral port, like a client's.
const defaultSPort = 40000

// packet is a traced packet in intent terms, before it becomes an
// ofproto/trace flow.
type packet struct {
	from     string // intent port, or a router's uplink port
	ofport   uint32
	uplink   bool
	src, dst netip.Addr
	srcMAC   flows.MAC
	dstMAC   flows.MAC
	proto    string // tcp, udp, icmp
	sport    uint16
	dport    uint16
	// tunSrc and tunID, for a port bound on another host of an overlay:
	// the packet arrives from the tunnel, from that host, keyed with the
	// port's network.
	tunSrc netip.Addr
	tunID  uint16
}

// place puts the packet on the bridge: in on the port's OpenFlow port
// when it is bound here, or, on a host of an overlay, in from the tunnel
// as its host sends it.
func (p *packet) place(in *intent.Intent, b pipeline.Bindings, ov pipeline.Overlay) bool {
	if ofport, ok := b[p.from]; ok {
		p.ofport = ofport
		return true
	}
	port := in.Port(p.from)
	ep, remote := ov.Remote[p.from]
	if port == nil || !remote || ov.TunnelPort == 0 {
		return false
	}
	p.ofport, p.tunSrc, p.tunID = ov.TunnelPort, ep, pipeline.NetworkZone(in, port.Network)
	return true
}

// conn is what a packet of an established connection carries from
// conntrack: the state, the label its commit set and the original
// direction's tuple (remote-group rules check it).
type conn struct {
	state string // ofproto/trace's ct_state flags, e.g. "est|rpl|trk"
	label string
	orig  packet
}

// newPacket builds the packet req describes.
func newPacket(req TraceRequest) (packet, error) {
	in := req.Intent
	p := packet{from: req.From, dst: req.To, src: req.Src, sport: req.SPort, dport: req.DPort}
	if uplink := uplinkOf(in, req.From); uplink != nil {
		if uplink.GatewayMAC == nil {
			return packet{}, fmt.Errorf("trace: uplink %s: the router has no external gateway_mac to send from", req.From)
		}
		if !p.src.IsValid() {
			return packet{}, fmt.Errorf("trace: a packet from the uplink %s needs a source address (--src)", req.From)
		}
		p.uplink, p.srcMAC, p.dstMAC = true, *uplink.GatewayMAC, uplink.MAC
	} else {
		port := in.Port(req.From)
		if port == nil {
			return packet{}, fmt.Errorf("trace: %q is neither a port of the intent nor a router's uplink", req.From)
		}
		if !p.src.IsValid() {
			p.src = addrOfFamily(port.IPs, req.To)
		}
		if !p.src.IsValid() {
			return packet{}, fmt.Errorf("trace: port %s has no address of the family of %s", req.From, req.To)
		}
		mac, err := nextHopMAC(in, port, req.To)
		if err != nil {
			return packet{}, err
		}
		p.srcMAC, p.dstMAC = port.MAC, mac
	}
	if !p.place(in, req.Bindings, req.Overlay) {
		return packet{}, fmt.Errorf("trace: port %s is not bound (no OVS Interface with external_ids:iface-id=%s and an ofport; on a host of an overlay, nor on another host)", req.From, req.From)
	}
	if p.src.Is4() != p.dst.Is4() {
		return packet{}, fmt.Errorf("trace: source %s and destination %s are of different families", p.src, p.dst)
	}
	switch req.Proto {
	case "tcp", "udp":
		if p.dport == 0 {
			return packet{}, fmt.Errorf("trace: %s needs a destination port (--dport)", req.Proto)
		}
		if p.sport == 0 {
			p.sport = defaultSPort
		}
		p.proto = req.Proto
	case "icmp", "icmp6":
		p.proto, p.sport, p.dport = "icmp", 0, 0
	default:
		return packet{}, fmt.Errorf("trace: protocol %q: want tcp, udp, icmp or icmp6", req.Proto)
	}
	return p, nil
}

// reverse is the first packet of the connection p would be a reply of:
// from the port that owns p's destination (or, for a destination outside,
// from the uplink of the router of p's network) back to p's source.
func reverse(in *intent.Intent, b pipeline.Bindings, ov pipeline.Overlay, p packet) (packet, bool) {
	r := packet{src: p.dst, dst: p.src, proto: p.proto, sport: p.dport, dport: p.sport}
	if owner := portWithAddr(in, p.dst); owner != nil {
		mac, err := nextHopMAC(in, owner, p.src)
		if err != nil {
			return packet{}, false
		}
		r.from, r.srcMAC, r.dstMAC = owner.Name, owner.MAC, mac
	} else {
		rt := routerOf(in, p)
		if rt == nil || rt.External.GatewayMAC == nil {
			return packet{}, false
		}
		r.from, r.uplink, r.srcMAC, r.dstMAC = rt.External.Port, true, *rt.External.GatewayMAC, rt.External.MAC
	}
	return r, r.place(in, b, ov)
}

// flow writes the packet as an ofproto/trace flow; c, when not nil, adds
// what conntrack knows of its established connection.
func (p packet) flow(c *conn) string {
	var b strings.Builder
	if p.tunSrc.IsValid() {
		fmt.Fprintf(&b, "tun_id=%#x,tun_src=%s,", p.tunID, p.tunSrc)
	}
	fmt.Fprintf(&b, "in_port=%d,dl_src=%s,dl_dst=%s,", p.ofport, p.srcMAC, p.dstMAC)
	v6 := p.dst.Is6()
	switch {
	case p.proto == "icmp" && v6:
		b.WriteString("icmp6,icmp_type=128,icmp_code=0")
	case p.proto == "icmp":
		b.WriteString("icmp,icmp_type=8,icmp_code=0")
	case v6:
		b.WriteString(p.proto + "6")
	default:
		b.WriteString(p.proto)
	}
	src, dst := "nw_src", "nw_dst"
	if v6 {
		src, dst = "ipv6_src", "ipv6_dst"
	}
	fmt.Fprintf(&b, ",%s=%s,%s=%s,nw_ttl=64", src, p.src, dst, p.dst)
	switch p.proto {
	case "tcp":
		fmt.Fprintf(&b, ",tp_src=%d,tp_dst=%d", p.sport, p.dport)
	case "udp":
		// ofproto/trace reads tp_src as tcp_src, whose prerequisite is
		// TCP: a UDP flow needs udp_src/udp_dst.
		fmt.Fprintf(&b, ",udp_src=%d,udp_dst=%d", p.sport, p.dport)
	}
	if c == nil {
		return b.String()
	}
	fmt.Fprintf(&b, ",ct_label=%s", c.label)
	// The original tuple needs a tracked state to be given at all. A packet
	// from the uplink arrives untracked, and the router's first table
	// reads ct_state, so it gets the label alone (remote-group checks,
	// the tuple's only reader, concern ports' addresses anyway).
	if !p.uplink {
		o := c.orig
		// ct_nw_src, ct_ipv6_src, ...
		fmt.Fprintf(&b, ",ct_state=%s,ct_%s=%s,ct_%s=%s,ct_nw_proto=%d", c.state, src, o.src, dst, o.dst, ipProto(o))
		if o.proto == "tcp" || o.proto == "udp" {
			fmt.Fprintf(&b, ",ct_tp_src=%d,ct_tp_dst=%d", o.sport, o.dport)
		}
	}
	return b.String()
}

func ipProto(p packet) int {
	switch {
	case p.proto == "tcp":
		return 6
	case p.proto == "udp":
		return 17
	case p.dst.Is6():
		return 58
	}
	return 1
}

// describe names the packet the way rules are written: "tcp/3306 from
// 10.0.0.11".
func (p packet) describe() string {
	if p.proto == "tcp" || p.proto == "udp" {
		return fmt.Sprintf("%s/%d from %s", p.proto, p.dport, p.src)
	}
	return fmt.Sprintf("%s from %s", p.proto, p.src)
}

// tuple names the packet's connection: "tcp 10.0.0.11:40000 -> 10.0.0.21:3306".
func (p packet) tuple() string {
	if p.proto == "tcp" || p.proto == "udp" {
		return fmt.Sprintf("%s %s -> %s", p.proto, netip.AddrPortFrom(p.src, p.sport), netip.AddrPortFrom(p.dst, p.dport))
	}
	return fmt.Sprintf("%s %s -> %s", p.proto, p.src, p.dst)
}

// nextHopMAC is the destination MAC the sender would use: the port that
// owns the address on its own network, a service address in its subnet,
// else its network's router.
func nextHopMAC(in *intent.Intent, from *intent.Port, to netip.Addr) (flows.MAC, error) {
	if p := portWithAddr(in, to); p != nil && p.Network == from.Network {
		return p.MAC, nil
	}
	n := in.Network(from.Network)
	for _, s := range in.Services {
		if s.VIP == to && n != nil && (n.CIDR.Contains(to) || n.CIDR6.Contains(to)) {
			return pipeline.ServiceMAC(to), nil // answered for ARP / ND in the subnet
		}
	}
	if n != nil && (n.Gateway.IsValid() || n.Gateway6.IsValid()) {
		return pipeline.GatewayMAC(n), nil
	}
	return flows.MAC{}, fmt.Errorf("trace: %s is not on network %s and the network has no gateway", to, from.Network)
}

// portWithAddr is the port that owns addr (its IPs or address pairs).
func portWithAddr(in *intent.Intent, addr netip.Addr) *intent.Port {
	for i := range in.Ports {
		p := &in.Ports[i]
		for _, ip := range p.IPs {
			if ip == addr {
				return p
			}
		}
		for _, pair := range p.AllowedAddressPairs {
			if pair.Prefix.Contains(addr) {
				return p
			}
		}
	}
	return nil
}

func addrOfFamily(addrs []netip.Addr, like netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Is4() == like.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// uplinkOf is the external side of the router whose uplink port is name.
func uplinkOf(in *intent.Intent, name string) *intent.External {
	for i := range in.Routers {
		if in.Routers[i].External.Port == name {
			return &in.Routers[i].External
		}
	}
	return nil
}

// routerOf is the router that routes p's network: the one p would leave
// through towards an outside address.
func routerOf(in *intent.Intent, p packet) *intent.Router {
	port := in.Port(p.from)
	if port == nil {
		return nil
	}
	for i := range in.Routers {
		for _, n := range in.Routers[i].Networks {
			if n == port.Network {
				return &in.Routers[i]
			}
		}
	}
	return nil
}
