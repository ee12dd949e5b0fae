package pipeline

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Bindings maps a port name (= external_ids:iface-id) to its OpenFlow port
// number. A port not in the map is not bound yet: it gets no flows, and
// nothing can be sent to it.
type Bindings map[string]uint32

// Compile returns the complete flow set of the pipeline for in and b,
// sorted by table, priority (highest first) and text. It is pure and
// deterministic: the same input gives byte-identical output. It builds
// every unit (units.go); Incremental gives the same flows at the cost of
// what changed, and Compile is the reference it is tested against.
func Compile(in *intent.Intent, b Bindings) ([]flows.Flow, error) {
	return CompileWith(in, b, nil)
}

// CompileWith is Compile with the next hops the controller learned for
// routers without a static gateway_mac (router_nexthop.go).
func CompileWith(in *intent.Intent, b Bindings, hops NextHops) ([]flows.Flow, error) {
	return CompileOverlay(in, b, hops, Overlay{})
}

// CompileOverlay is CompileWith on a host whose networks span other
// hosts: ov says where the ports bound elsewhere are (overlay.go).
func CompileOverlay(in *intent.Intent, b Bindings, hops NextHops, ov Overlay) ([]flows.Flow, error) {
	c := newCompiler(in, b, nil)
	c.hops = hops
	c.setOverlay(ov)
	cs := newContributions()
	for _, u := range c.units() {
		b, err := u.build()
		if err != nil {
			return nil, err
		}
		cs.add(b)
	}
	return cs.finish()
}

// compiler holds what the builders share: the intent, its ids, the bound
// ports and who is a member of which group.
type compiler struct {
	in       *intent.Intent
	bindings Bindings
	hops     NextHops
	overlay  Overlay
	remote   []remotePort // ports bound on other hosts (overlay.go), by name
	ids      ids
	ports    []boundPort // in port order: by OpenFlow port number
	byName   map[string]boundPort
	// groupMembers are the bound, filtered members of each group, and
	// statefulMembers those of them whose connections are committed; both
	// in port order.
	groupMembers, statefulMembers map[string][]boundPort
	// groupPorts are the indices in in.Ports of each group's ports, bound
	// or not (remote groups match their addresses).
	groupPorts map[string][]int
	addresses  map[familyKey][]netip.Prefix // groupAddresses, once computed
	// Dimensions shared by the decisions of one compile.
	portDims   map[portDimKey]dimension
	remoteDims map[remoteDimKey]dimension
	// Fingerprints shared by the units of one compile.
	memberFPs  map[portDimKey]uint64
	addressFPs map[familyKey]uint64
}

// boundPort is an intent port with an OpenFlow port number.
type boundPort struct {
	*intent.Port
	ofport uint32
	zone   uint16 // its network's ct zone = network id
	cookie uint64
	// stateful: filtered and at least one of its groups is stateful (or
	// it has none): the port's connections are committed and its
	// established packets are checked against live rules. A port whose
	// groups are all stateless is judged packet by packet.
	stateful bool
	// routed: its network has a router, which may hand its packets back.
	routed bool
	// egressMeter and ingressMeter limit what it sends and receives
	// (qos.go); 0: unlimited.
	egressMeter, ingressMeter uint32
	// services: the intent has services, whose translated packets find
	// the port's MAC by its addresses (serviceNeighbour).
	services bool
}

// newCompiler prepares a compile of in with b. classes, when not nil,
// gives the rule classes of groups whose rules are unchanged (ruleClasses
// is a function of the group alone).
func newCompiler(in *intent.Intent, b Bindings, classes classCache) *compiler {
	c := &compiler{in: in, bindings: b, ids: assignIDs(in, classes), byName: map[string]boundPort{},
		groupMembers: map[string][]boundPort{}, statefulMembers: map[string][]boundPort{},
		groupPorts: map[string][]int{}, addresses: map[familyKey][]netip.Prefix{},
		portDims: map[portDimKey]dimension{}, remoteDims: map[remoteDimKey]dimension{},
		memberFPs: map[portDimKey]uint64{}, addressFPs: map[familyKey]uint64{}}
	meters := meterIDs(in)
	stateful := make(map[string]bool, len(in.SecurityGroups))
	for _, g := range in.SecurityGroups {
		stateful[g.Name] = g.Stateful
	}
	for i := range in.Ports {
		p := &in.Ports[i]
		for _, g := range p.SecurityGroups {
			c.groupPorts[g] = append(c.groupPorts[g], i)
		}
		ofport, ok := b[p.Name]
		if !ok {
			continue
		}
		bp := boundPort{
			Port:   p,
			ofport: ofport,
			zone:   c.ids.zone[p.Network],
			cookie: Cookie(KindPort, uint64(c.ids.port[p.Name])),
		}
		bp.stateful = p.PortSecurity && (len(p.SecurityGroups) == 0 || slices.ContainsFunc(p.SecurityGroups, func(g string) bool {
			return stateful[g]
		}))
		if n := in.Network(p.Network); n != nil {
			bp.routed = c.routed(*n)
		}
		bp.egressMeter, bp.ingressMeter = meters[meterKey(p.Name, false)], meters[meterKey(p.Name, true)]
		bp.services = len(in.Services) > 0
		c.ports = append(c.ports, bp)
		c.byName[p.Name] = bp
	}
	// Port order decides the order of flood actions: by port number.
	slices.SortFunc(c.ports, func(a, b boundPort) int {
		return cmp.Or(cmp.Compare(a.ofport, b.ofport), cmp.Compare(a.Name, b.Name))
	})
	for _, p := range c.ports {
		if !p.PortSecurity {
			continue
		}
		for j, g := range p.SecurityGroups {
			if slices.Index(p.SecurityGroups, g) < j {
				continue // listed twice
			}
			c.groupMembers[g] = append(c.groupMembers[g], p)
			if p.stateful {
				c.statefulMembers[g] = append(c.statefulMembers[g], p)
			}
		}
	}
	return c
}

func goTo(t Table) flows.Action { return flows.Goto{Table: uint8(t)} }
