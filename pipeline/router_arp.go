package pipeline

import (
	"net/netip"

	"github.com/flowgate/flowgate/flows"
)

// The router answers ARP requests for its addresses in the datapath: the
// request is turned into its reply and sent back out of the port it came
// in on. No controller round trip, and no flooding of requests for the
// gateway to every port of the network.

// Priorities of the ARP responders. In TableL2Lookup it must beat the
// network's broadcast flooding.
const (
	prioGatewayARP  uint16 = 1000
	prioExternalARP uint16 = 300
)

// arpReply turns an ARP request for ip into the reply "ip is at mac":
// the asker's MAC and address become the destination and target, the
// router's the source and sender.
func arpReply(mac flows.MAC, ip netip.Addr) []flows.Action {
	return []flows.Action{
		flows.Move{Src: flows.Whole(flows.FieldEthSrc), Dst: flows.Whole(flows.FieldEthDst)},
		flows.SetEthSrc{MAC: mac},
		flows.Load{Field: flows.Whole(flows.FieldARPOp), Value: 2},
		flows.Move{Src: flows.Whole(flows.FieldARPSha), Dst: flows.Whole(flows.FieldARPTha)},
		flows.Move{Src: flows.Whole(flows.FieldARPSpa), Dst: flows.Whole(flows.FieldARPTpa)},
		flows.Load{Field: flows.Whole(flows.FieldARPSha), Value: macValue(mac)},
		flows.Load{Field: flows.Whole(flows.FieldARPSpa), Value: ipv4Value(ip)},
		flows.Output{Port: flows.PortInPort},
	}
}

func macValue(m flows.MAC) uint64 {
	var v uint64
	for _, b := range m {
		v = v<<8 | uint64(b)
	}
	return v
}

func arpRequestFor(ip netip.Addr) flows.Match {
	return flows.Match{EthType: flows.EthTypeARP, ARPOp: flows.U16(1), ARPTpa: addrPrefix(ip)}
}

// gatewayARPResponders answer "who has <gateway>" on each internal
// network with the router's MAC there (GatewayMAC), in L2 lookup, where
// port security has already vetted the request's sender.
func (rc *routerCompiler) gatewayARPResponders() []flows.Flow {
	var out []flows.Flow
	for _, n := range rc.networks {
		if !n.Gateway.Is4() {
			continue
		}
		m := arpRequestFor(n.Gateway)
		m.Regs = []flows.RegMatch{matchNetwork(uint16(rc.netID(n)))}
		out = append(out, flows.Flow{
			Table: uint8(TableL2Lookup), Priority: prioGatewayARP,
			Cookie: routerNetwork(rc.r, n).cookie(rc.r.Name), Match: m,
			Actions: arpReply(GatewayMAC(n), n.Gateway),
		})
	}
	return out
}

// externalARPResponders answer, on the uplink, for the router's external
// address, its floating IPs and other SNAT addresses with the external
// MAC, so the outside world (the next hop) can send to them.
func (rc *routerCompiler) externalARPResponders() []flows.Flow {
	if rc.uplink == 0 {
		return nil
	}
	var out []flows.Flow
	for _, a := range rc.ownedAddresses() {
		m := arpRequestFor(a)
		m.InPort = rc.uplink
		out = append(out, flows.Flow{
			Table: uint8(TableRouterEntry), Priority: prioExternalARP,
			Cookie: rc.addressObject(a).cookie(rc.r.Name), Match: m,
			Actions: arpReply(rc.extMAC, a),
		})
	}
	return out
}

// addressObject is the intent object an owned address comes from: a
// floating IP, else the router's external side.
func (rc *routerCompiler) addressObject(a netip.Addr) routerObject {
	for i, f := range rc.r.FloatingIPs {
		if f.IP == a {
			return routerFloatingIP(rc.r, i)
		}
	}
	return routerExternal(rc.r)
}
