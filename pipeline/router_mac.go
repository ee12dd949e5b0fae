package pipeline

import (
	"hash/fnv"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// GatewayMAC is the router's MAC address on a routed network: the frames
// ports send to their gateway carry it, the router's ARP replies announce
// it, and routed packets leave the router with it as source.
//
// The intent has no field for it, so it is derived: 02:00 followed by the
// gateway's IPv4 address (10.0.0.1 -> 02:00:0a:00:00:01), the same
// convention the worked example uses for port MACs, so it reads naturally
// in dump-flows. A network with only an IPv6 gateway gets 02:01 followed by
// 32 bits of a hash of its name.
func GatewayMAC(n *intent.Network) flows.MAC {
	if n.Gateway.Is4() {
		a := n.Gateway.As4()
		return flows.MAC{0x02, 0x00, a[0], a[1], a[2], a[3]}
	}
	h := fnv.New32a()
	h.Write([]byte(n.Name))
	s := h.Sum32()
	return flows.MAC{0x02, 0x01, byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}
