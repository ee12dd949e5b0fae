package pipeline

import (
	"hash/fnv"

	"github.com/flowgate/flowgate/intent"
)

// Router conntrack zones. OVN's lesson: a router needs a DNAT zone and a
// separate SNAT zone, or a hairpinned connection (DNAT and SNAT of the same
// packet) collides with itself, and neither may share a network's zone, or
// the router's translated tuples would mix with the security groups' state.
// Router zones live in FirstRouterZone..LastRouterZone (fields.go), a
// range network zones never use: DNAT = FirstRouterZone + 2*slot,
// SNAT = DNAT + 1.
const routerZoneSlots = (int(LastRouterZone) - int(FirstRouterZone) + 1) / 2

// routerZone is the pair of conntrack zones of one router.
type routerZone struct{ DNAT, SNAT uint16 }

// routerZones assigns each router its zones. The slot is a hash of the
// router's name, so adding or removing another router does not move the
// zones (and the connections) of this one; on a hash collision the later
// router in document order takes the next free slot.
func routerZones(routers []intent.Router) map[string]routerZone {
	zones := make(map[string]routerZone, len(routers))
	used := make(map[int]bool, len(routers))
	for _, r := range routers {
		h := fnv.New32a()
		h.Write([]byte(r.Name))
		slot := int(h.Sum32() % uint32(routerZoneSlots))
		for used[slot] {
			slot = (slot + 1) % routerZoneSlots
		}
		used[slot] = true
		dnat := FirstRouterZone + uint16(2*slot)
		zones[r.Name] = routerZone{DNAT: dnat, SNAT: dnat + 1}
	}
	return zones
}
