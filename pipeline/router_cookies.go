package pipeline

import (
	"fmt"
	"hash/fnv"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Router and NAT cookies. The object id is a 48-bit hash of the router's
// name and what identifies the object inside it (a network's name, a
// floating IP's address, a forward's protocol/address/port, ...), so that
// editing one NAT entry changes only its own flows' cookies.
//
//	KindRouter: the router as a whole, its external side, one of its
//	            networks, or the route to one port
//	KindNAT:    one snat, floating_ips or port_forwards entry

// routerObject is one object of a router that flows are attributed to.
type routerObject struct {
	kind CookieKind
	key  string // unique within the router
	path string // where it is in the intent: "routers[edge].snat[0]"
	what string // what it is, for people: "tenant -> 192.0.2.10"
}

func (o routerObject) cookie(router string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(router + "\x00" + o.key))
	return Cookie(o.kind, h.Sum64())
}

func routerWhole(r *intent.Router) routerObject {
	return routerObject{KindRouter, "router", fmt.Sprintf("routers[%s]", r.Name), "routing and conntrack zones"}
}

func routerExternal(r *intent.Router) routerObject {
	return routerObject{KindRouter, "external", fmt.Sprintf("routers[%s].external", r.Name),
		fmt.Sprintf("uplink %s, %s via %s", r.External.Port, r.External.IP, r.External.Gateway)}
}

func routerNetwork(r *intent.Router, n *intent.Network) routerObject {
	return routerObject{KindRouter, "network\x00" + n.Name, fmt.Sprintf("routers[%s].networks[%s]", r.Name, n.Name),
		fmt.Sprintf("gateway %s on %s", n.Gateway, n.CIDR)}
}

func routerPortRoute(r *intent.Router, p *intent.Port) routerObject {
	return routerObject{KindRouter, "port\x00" + p.Name, fmt.Sprintf("routers[%s] route to ports[%s]", r.Name, p.Name),
		fmt.Sprintf("%v at %s", p.IPs, flows.MAC(p.MAC).String())}
}

func routerSNAT(r *intent.Router, i int) routerObject {
	s := r.SNAT[i]
	return routerObject{KindNAT, "snat\x00" + s.Network, fmt.Sprintf("routers[%s].snat[%d]", r.Name, i),
		fmt.Sprintf("masquerade %s -> %s:%d-%d", s.Network, s.To, s.PortMin, s.PortMax)}
}

func routerFloatingIP(r *intent.Router, i int) routerObject {
	f := r.FloatingIPs[i]
	return routerObject{KindNAT, "fip\x00" + f.IP.String(), fmt.Sprintf("routers[%s].floating_ips[%d]", r.Name, i),
		fmt.Sprintf("%s <-> %s", f.IP, f.Port)}
}

func routerForward(r *intent.Router, i int) routerObject {
	f := r.PortForwards[i]
	key := fmt.Sprintf("fwd\x00%s\x00%s\x00%d", protocolName(f.Protocol), f.IP, f.ExternalPort)
	return routerObject{KindNAT, key, fmt.Sprintf("routers[%s].port_forwards[%d]", r.Name, i),
		fmt.Sprintf("%s %s:%d -> %s:%d", protocolName(f.Protocol), f.IP, f.ExternalPort, f.Port, f.InternalPort)}
}

// routerObjects lists every object of r that flows can be attributed to.
func routerObjects(in *intent.Intent, r *intent.Router) []routerObject {
	objs := []routerObject{routerWhole(r), routerExternal(r)}
	for _, name := range r.Networks {
		n := in.Network(name)
		objs = append(objs, routerNetwork(r, n))
		for i := range in.Ports {
			if in.Ports[i].Network == name {
				objs = append(objs, routerPortRoute(r, &in.Ports[i]))
			}
		}
	}
	for i := range r.SNAT {
		objs = append(objs, routerSNAT(r, i))
	}
	for i := range r.FloatingIPs {
		objs = append(objs, routerFloatingIP(r, i))
	}
	for i := range r.PortForwards {
		objs = append(objs, routerForward(r, i))
	}
	return objs
}
