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
	type address struct {
		ip     netip.Addr
		cookie uint64
	}
	var addrs []address
	for _, n := range rc.networks {
		if n.Gateway.Is4() {
			addrs = append(addrs, address{n.Gateway, routerNetwork(rc.r, n).cookie(rc.r.Name)})
		}
	}
	floating := map[netip.Addr]bool{}
	for _, f := range rc.r.FloatingIPs {
		floating[f.IP] = true
	}
	for _, a := range rc.ownedAddresses() {
		if a.Is4() && !floating[a] {
			addrs = append(addrs, address{a, routerExternal(rc.r).cookie(rc.r.Name)})
		}
	}
	var out []flows.Flow
	for _, s := range sides {
		for _, a := range addrs {
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
