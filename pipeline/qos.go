package pipeline

import (
	"cmp"
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Per-port rate limits (qos.egress_kbps, qos.ingress_kbps) are OpenFlow
// meters, which the userspace datapath implements with real traffic: a
// port's egress meter runs on everything it sends (its classify flow), its
// ingress meter on everything delivered to it (its output flow). Packets
// over the rate are dropped by the meter's band. Flooded ARP and ND (the
// flood_direct tree) bypass the ingress meter.
//
// Meter ids follow the cookie rule: an id names its port and direction.
// They are allocated from "port/egress" and "port/ingress" keys as object
// ids are (ids.go), so a port keeps its meters while it keeps its limits.

// PortMeter is one meter a port's QoS needs.
type PortMeter struct {
	ID      uint32
	Port    string
	Ingress bool // else egress
	Kbps    uint32
	BurstKb uint32 // 0: the datapath's default
}

// lastMeterID keeps meter ids below OpenFlow's reserved range.
const lastMeterID = 0xfffeffff

// meterIDs gives every port with a limit an id per limited direction.
func meterIDs(in *intent.Intent) map[string]uint32 {
	var keys []string
	for _, p := range in.Ports {
		if p.QoS.EgressKbps > 0 {
			keys = append(keys, meterKey(p.Name, false))
		}
		if p.QoS.IngressKbps > 0 {
			keys = append(keys, meterKey(p.Name, true))
		}
	}
	return allocate(keys, 1, lastMeterID)
}

func meterKey(port string, ingress bool) string {
	if ingress {
		return port + "/ingress"
	}
	return port + "/egress"
}

// PortMeters lists the meters the bound ports of in need with b.
func PortMeters(in *intent.Intent, b Bindings) []PortMeter {
	ids := meterIDs(in)
	var out []PortMeter
	for _, p := range in.Ports {
		if _, bound := b[p.Name]; !bound {
			continue
		}
		if p.QoS.EgressKbps > 0 {
			out = append(out, PortMeter{ID: ids[meterKey(p.Name, false)], Port: p.Name, Kbps: p.QoS.EgressKbps, BurstKb: p.QoS.BurstKb})
		}
		if p.QoS.IngressKbps > 0 {
			out = append(out, PortMeter{ID: ids[meterKey(p.Name, true)], Port: p.Name, Ingress: true, Kbps: p.QoS.IngressKbps, BurstKb: p.QoS.BurstKb})
		}
	}
	slices.SortFunc(out, func(a, b PortMeter) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// withMeter puts meter id (0: none) in front of actions.
func withMeter(id uint32, actions []flows.Action) []flows.Action {
	if id == 0 {
		return actions
	}
	return append([]flows.Action{flows.Meter{ID: id}}, actions...)
}
