package pipeline

import (
	"net/netip"

	"github.com/flowgate/flowgate/flows"
)

// The router answers ping on every address it owns itself — each internal
// gateway and its external address (and other SNAT or forward addresses;
// not floating IPs, which belong to their ports) — from either side, in
// the datapath: the echo request becomes its reply and leaves by the port
// it came in on. Floating IPs were DNATed to their ports by then, so a
// ping of one reaches the port.

// prioRouterEcho beats prioRouterAddress, which drops everything else
// still addressed to the router in TableRouterRoute.
const prioRouterEcho uint16 = prioRouterAddress + 10

const (
	icmpEchoRequest uint8 = 8
	icmpEchoReply   uint8 = 0
)

// echoReply turns an ICMP echo request to ip into its reply, sent from ip
// and mac (the router's MAC on the side the request came from) back to
// the asker, out of the port it came in on. OVS updates the checksums.
func echoReply(mac flows.MAC, ip netip.Addr) []flows.Action {
	return []flows.Action{
		flows.Move{Src: flows.Whole(flows.FieldEthSrc), Dst: flows.Whole(flows.FieldEthDst)},
		flows.SetEthSrc{MAC: mac},
		flows.Move{Src: flows.Whole(flows.FieldIPv4Src), Dst: flows.Whole(flows.FieldIPv4Dst)},
		flows.Load{Field: flows.Whole(flows.FieldIPv4Src), Value: ipv4Value(ip)},
		flows.Load{Field: flows.Whole(flows.FieldICMPType), Value: uint64(icmpEchoReply)},
		flows.Output{Port: flows.PortInPort},
	}
}

func ipv4Value(ip netip.Addr) uint64 {
	a := ip.As4()
	return uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
}

// echoResponders answer echo requests to the router's own addresses: one
// flow per side the request can come from (each internal network, the
// uplink) and address.
func (rc *routerCompiler) echoResponders() []flows.Flow {
	type side struct {
		match flows.Match
		mac   flows.MAC
	}
	var sides []side
	for _, n := range rc.networks {
		if n.Gateway.Is4() {
			sides = append(sides, side{flows.Match{Regs: []flows.RegMatch{matchNetwork(uint16(rc.netID(n)))}}, GatewayMAC(n)})
		}
	}
	if rc.uplink != 0 {
		sides = append(sides, side{flows.Match{InPort: rc.uplink}, rc.extMAC})
	}
	var out []flows.Flow
	for _, s := range sides {
		for _, a := range rc.echoAddresses() {
			m := s.match
			m.EthType, m.IPProto = flows.EthTypeIPv4, flows.U8(flows.ProtoICMP)
			m.IPDst, m.ICMPType = addrPrefix(a.ip), flows.U8(icmpEchoRequest)
			out = append(out, flows.Flow{
				Table: uint8(TableRouterRoute), Priority: prioRouterEcho, Cookie: a.cookie,
				Match: m, Actions: echoReply(s.mac, a.ip),
			})
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
	for _, n := range rc.networks {
		if !n.Gateway.Is4() {
			continue
		}
		for _, a := range rc.echoAddresses() {
			m := flows.Match{Regs: []flows.RegMatch{matchNetwork(uint16(rc.netID(n)))}, EthDst: flows.ExactMAC(GatewayMAC(n)),
				EthType: flows.EthTypeIPv4, IPProto: flows.U8(flows.ProtoICMP), IPDst: addrPrefix(a.ip), ICMPType: flows.U8(icmpEchoRequest)}
			out = append(out, flows.Flow{
				Table: uint8(TableL2Lookup), Priority: prioGatewayARP, Cookie: a.cookie,
				Match: m, Actions: echoReply(GatewayMAC(n), a.ip),
			})
		}
	}
	return out
}

// echoAddress is an address the router answers ping on, with the cookie
// of the part of the router it belongs to.
type echoAddress struct {
	ip     netip.Addr
	cookie uint64
}

// echoAddresses are the router's IPv4 addresses that answer ping: each
// internal gateway, and its external and other SNAT/forward addresses
// (not floating IPs: they belong to their ports).
func (rc *routerCompiler) echoAddresses() []echoAddress {
	var addrs []echoAddress
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
			addrs = append(addrs, echoAddress{a, routerExternal(rc.r).cookie(rc.r.Name)})
		}
	}
	return addrs
}
