package pipeline

import (
	"encoding/binary"
	"net/netip"

	"github.com/flowgate/flowgate/flows"
)

// The router answers ping on every address it owns itself — each internal
// gateway and its external address (and other SNAT or forward addresses;
// not floating IPs, which belong to their ports), and for IPv6 each
// gateway6, the external ip6 and its link-local address on the network
// the request came from — from either side, in the datapath: the echo
// request becomes its reply and leaves by the port it came in on.
// Floating IPs were DNATed to their ports by then, so a ping of one
// reaches the port.

// prioRouterEcho beats prioRouterAddress, which drops everything else
// still addressed to the router in TableRouterRoute.
const prioRouterEcho uint16 = prioRouterAddress + 10

const (
	icmpEchoRequest   uint8 = 8
	icmpEchoReply     uint8 = 0
	icmpv6EchoRequest uint8 = 128
	icmpv6EchoReply   uint8 = 129
)

// echoReply turns an ICMP or ICMPv6 echo request to ip into its reply,
// sent from ip and mac (the router's MAC on the side the request came
// from) back to the asker, out of the port it came in on. OVS updates the
// checksums (for ICMPv6 the pseudo-header's addresses too).
func echoReply(mac flows.MAC, ip netip.Addr) []flows.Action {
	out := []flows.Action{
		flows.Move{Src: flows.Whole(flows.FieldEthSrc), Dst: flows.Whole(flows.FieldEthDst)},
		flows.SetEthSrc{MAC: mac},
	}
	if ip.Is4() {
		out = append(out,
			flows.Move{Src: flows.Whole(flows.FieldIPv4Src), Dst: flows.Whole(flows.FieldIPv4Dst)},
			flows.Load{Field: flows.Whole(flows.FieldIPv4Src), Value: ipv4Value(ip)},
			flows.Load{Field: flows.Whole(flows.FieldICMPType), Value: uint64(icmpEchoReply)})
	} else {
		// A load writes at most 64 bits: the address in two halves.
		a := ip.As16()
		out = append(out,
			flows.Move{Src: flows.Whole(flows.FieldIPv6Src), Dst: flows.Whole(flows.FieldIPv6Dst)},
			flows.Load{Field: flows.Bits(flows.FieldIPv6Src, 64, 64), Value: binary.BigEndian.Uint64(a[:8])},
			flows.Load{Field: flows.Bits(flows.FieldIPv6Src, 0, 64), Value: binary.BigEndian.Uint64(a[8:])},
			flows.Load{Field: flows.Whole(flows.FieldICMPv6Type), Value: uint64(icmpv6EchoReply)})
	}
	return append(out, flows.Output{Port: flows.PortInPort})
}

// echoRequest narrows m to echo requests to ip.
func echoRequest(m flows.Match, ip netip.Addr) flows.Match {
	m.IPDst = addrPrefix(ip)
	if ip.Is4() {
		m.EthType, m.IPProto, m.ICMPType = flows.EthTypeIPv4, flows.U8(flows.ProtoICMP), flows.U8(icmpEchoRequest)
	} else {
		m.EthType, m.IPProto, m.ICMPType = flows.EthTypeIPv6, flows.U8(flows.ProtoICMPv6), flows.U8(icmpv6EchoRequest)
	}
	return m
}

func ipv4Value(ip netip.Addr) uint64 {
	a := ip.As4()
	return uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
}

// echoSide is where an echo request can come from: one of the router's
// networks (matched by its register) or the uplink, with the router's
// MAC there and, on a network with IPv6, its link-local address there.
type echoSide struct {
	match     flows.Match
	mac       flows.MAC
	linkLocal netip.Addr
	network   bool
}

// echoSides are the sides of the router that ping it over IPv4, or IPv6.
func (rc *routerCompiler) echoSides(v6 bool) []echoSide {
	var sides []echoSide
	if v6 && !rc.routesIPv6() {
		return nil // routed IPv6 never reaches the router's tables
	}
	for _, n := range rc.networks {
		m := flows.Match{Regs: []flows.RegMatch{matchNetwork(uint16(rc.netID(n)))}}
		switch {
		case !v6 && n.Gateway.Is4():
			sides = append(sides, echoSide{match: m, mac: GatewayMAC(n), network: true})
		case v6 && rc.routedPrefix6(n).IsValid():
			sides = append(sides, echoSide{match: m, mac: GatewayMAC(n), linkLocal: linkLocal(GatewayMAC(n)), network: true})
		}
	}
	if rc.uplink != 0 && (!v6 || rc.r.External.IP6.IsValid()) {
		sides = append(sides, echoSide{match: flows.Match{InPort: rc.uplink}, mac: rc.extMAC})
	}
	return sides
}

// echoResponders answer echo requests to the router's own addresses: one
// flow per side the request can come from (each internal network, the
// uplink) and address.
func (rc *routerCompiler) echoResponders() []flows.Flow {
	var out []flows.Flow
	for _, v6 := range []bool{false, true} {
		for _, s := range rc.echoSides(v6) {
			for _, a := range rc.echoAddresses(v6, s) {
				out = append(out, flows.Flow{
					Table: uint8(TableRouterRoute), Priority: prioRouterEcho, Cookie: a.cookie,
					Match: echoRequest(s.match, a.ip), Actions: echoReply(s.mac, a.ip),
				})
			}
		}
	}
	return out
}

// remoteEchoResponders answer the same echo requests from the router's
// networks on a host of an overlay the router does not run on, in L2
// lookup (after the sender's egress rules, as on the router's host),
// before the frame to the gateway MAC would go through the tunnel: the
// router's host could only return the reply by output:IN_PORT, which
// for a request from the tunnel would not lead back to the sender's
// host. The ARP for the gateway is answered here too
// (gatewayARPResponders).
func (rc *routerCompiler) remoteEchoResponders() []flows.Flow {
	var out []flows.Flow
	rc.forNetworkSides(func(v6 bool, s echoSide) {
		m := s.match
		m.EthDst = flows.ExactMAC(s.mac)
		for _, a := range rc.echoAddresses(v6, s) {
			out = append(out, flows.Flow{
				Table: uint8(TableL2Lookup), Priority: prioGatewayARP, Cookie: a.cookie,
				Match: echoRequest(m, a.ip), Actions: echoReply(s.mac, a.ip),
			})
		}
	})
	return out
}

// forNetworkSides calls f with each of the router's sides on its
// networks (not the uplink), over IPv4 and then IPv6: the sides whose
// senders another host of an overlay answers for.
func (rc *routerCompiler) forNetworkSides(f func(v6 bool, s echoSide)) {
	for _, v6 := range []bool{false, true} {
		for _, s := range rc.echoSides(v6) {
			if s.network {
				f(v6, s)
			}
		}
	}
}

// prioRemoteTTLExpiry puts the expiry check for a router on another host
// above the frames to the gateway MAC that go through the tunnel, below
// the ping responders (a ping of the gateway with TTL 1 is answered, as
// on the router's host).
const prioRemoteTTLExpiry = prioGatewayARP - 10

// remoteTTLExpiry makes a packet that would expire at the router expire
// on the sender's host, in an overlay where the router runs on another
// host: a frame to the gateway MAC with TTL (hop limit) 1 meets dec_ttl
// here, which sends it up as an invalid-TTL packet-in to this host's
// controller, and that answers with the time exceeded out of the
// sender's port, as the router's host does for its own ports. The
// router's host could not: it would send the error out of the tunnel
// the packet came in by. (One difference from the router's host: a TTL-1
// packet to an address the router drops, not routes, gets a time
// exceeded here.)
func (rc *routerCompiler) remoteTTLExpiry() []flows.Flow {
	var out []flows.Flow
	rc.forNetworkSides(func(v6 bool, s echoSide) {
		m := s.match
		m.EthDst, m.EthType, m.IPTTL = flows.ExactMAC(s.mac), flows.EthTypeIPv4, flows.U8(1)
		if v6 {
			m.EthType = flows.EthTypeIPv6
		}
		out = append(out, flows.Flow{
			Table: uint8(TableL2Lookup), Priority: prioRemoteTTLExpiry, Cookie: routerWhole(rc.r).cookie(rc.r.Name),
			Match: m, Actions: []flows.Action{flows.DecTTL{}},
		})
	})
	return out
}

// echoAddress is an address the router answers ping on, with the cookie
// of the part of the router it belongs to.
type echoAddress struct {
	ip     netip.Addr
	cookie uint64
}

// echoAddresses are the router's addresses that answer ping from side s:
// over IPv4 each internal gateway, and its external and other
// SNAT/forward addresses (not floating IPs: they belong to their ports);
// over IPv6 each gateway6, the external ip6 and the router's link-local
// address on s.
func (rc *routerCompiler) echoAddresses(v6 bool, s echoSide) []echoAddress {
	var addrs []echoAddress
	external := routerExternal(rc.r).cookie(rc.r.Name)
	if v6 {
		for _, n := range rc.networks {
			if rc.routedPrefix6(n).IsValid() {
				addrs = append(addrs, echoAddress{n.Gateway6, routerNetwork(rc.r, n).cookie(rc.r.Name)})
				if s.linkLocal == linkLocal(GatewayMAC(n)) {
					addrs = append(addrs, echoAddress{s.linkLocal, routerNetwork(rc.r, n).cookie(rc.r.Name)})
				}
			}
		}
		if a := rc.r.External.IP6; a.IsValid() {
			addrs = append(addrs, echoAddress{a.Addr(), external})
		}
		return addrs
	}
	for _, n := range rc.networks {
		if n.Gateway.Is4() {
			addrs = append(addrs, echoAddress{n.Gateway, routerNetwork(rc.r, n).cookie(rc.r.Name)})
		}
	}
	floating := map[netip.Addr]bool{}
	for _, f := range rc.r.FloatingIPs {
		floating[f.IP] = true
	}
	for _, a := range rc.ownedAddresses() {
		if a.Is4() && !floating[a] {
			addrs = append(addrs, echoAddress{a, external})
		}
	}
	return addrs
}
