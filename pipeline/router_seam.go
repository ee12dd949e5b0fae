package pipeline

import (
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// The seam between the L2 pipeline and the router stage. The router is a
// pseudo-port (RouterPort) of every network it routes:
//
//   - Toward the router: l2_lookup resolves the gateway MAC to RouterPort
//     (and floods reach it); ingress_acl does not filter it; commit
//     commits the connection in the source network's zone for the sending
//     port (so its egress rule is recorded and replies come back +est);
//     output hands the packet to TableRouterEntry.
//   - From the router: the router stage loads the destination network into
//     reg2[0..15] and RouterPort into reg0 and resubmits to TableConntrack,
//     so the packet is tracked again in the destination network's zone with
//     its translated addresses; egress_acl does not filter RouterPort, and
//     the destination port's ingress rules judge the packet after DNAT.
//     On the way out, the source port's egress rules ran before the
//     router's SNAT.
const prioRouterSeam uint16 = 100

// routed reports whether a router routes network n (via its gateway).
func (c *compiler) routed(n intent.Network) bool {
	if !n.Gateway.IsValid() && !n.Gateway6.IsValid() {
		return false
	}
	return slices.ContainsFunc(c.in.Routers, func(r intent.Router) bool {
		return slices.Contains(r.Networks, n.Name)
	})
}

// routerSeamFlows are the flows above, for the networks routers route.
func (c *compiler) routerSeamFlows() []flows.Flow {
	var out []flows.Flow
	for i := range c.in.Networks {
		n := &c.in.Networks[i]
		if !c.routed(*n) {
			continue
		}
		zone := c.ids.zone[n.Name]
		to := []flows.Action{flows.Load{Field: fieldDstPort, Value: uint64(RouterPort)}, goTo(TableIngressACL)}
		if r := c.routerOf(n.Name); r != nil {
			switch ep, away := c.routerAway(r); {
			case away && ep.IsValid():
				// The router runs on another host: through the tunnel.
				to = c.viaTunnel(ep, zone)
			case away:
				// Its host is not known yet: nothing reaches it.
				to = nil
			}
		}
		out = append(out, flows.Flow{
			Table: uint8(TableL2Lookup), Priority: prioL2Unicast, Cookie: Cookie(KindNetwork, uint64(zone)),
			Match:   flows.Match{Regs: []flows.RegMatch{matchNetwork(zone)}, EthDst: flows.ExactMAC(GatewayMAC(n))},
			Actions: to,
		})
	}
	if len(out) == 0 {
		return nil
	}
	router := boundPort{ofport: RouterPort, Port: &intent.Port{PortSecurity: false}, cookie: infraCookie(TableRouterEntry)}
	out = append(out, aclPortModeFlows(router)...)
	out = append(out, flows.Flow{
		Table: uint8(TableOutput), Priority: prioOutputPort, Cookie: infraCookie(TableOutput),
		Match:   flows.Match{Regs: []flows.RegMatch{matchDstPort(RouterPort)}},
		Actions: []flows.Action{goTo(TableRouterEntry)},
	})
	return out
}
