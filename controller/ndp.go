package controller

import (
	"context"

	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/packets"
	"github.com/flowgate/flowgate/pipeline"
)

// Neighbour discovery for the router's IPv6 addresses: the pipeline sends
// a neighbour solicitation for a gateway6 or the external ip6 up, and the
// router helper answers with the neighbour advertisement "that address is
// at the router's MAC on this side", out of the port it came in on.

// answerSolicitation answers p if it is a solicitation for the router's
// own IPv6 address on the side it came from; it reports whether p was
// one.
func (r *resolver) answerSolicitation(ctx context.Context, p openflow.PacketIn) bool {
	src, srcMAC, target, ok := packets.NeighbourSolicitation(p.Data)
	if !ok {
		return false
	}
	sides := r.sides.Load()
	if sides == nil {
		return true
	}
	side, ok := (*sides)[p.InPort]
	if !ok || !side.IP6.IsValid() || (target != side.IP6 && target != side.LinkLocal) {
		return true
	}
	if err := r.session.PacketOut(ctx, p.InPort, packets.NeighbourAdvert(side.MAC, target, src, srcMAC)); err != nil && ctx.Err() == nil {
		r.logf("router %s: neighbour advertisement for %s: %v", side.Router, target, err)
	}
	return true
}

// answerRouterSolicitation answers a router solicitation on a network the
// router advertises on; it reports whether p was one.
func (r *resolver) answerRouterSolicitation(ctx context.Context, p openflow.PacketIn) bool {
	if !packets.IsRouterSolicitation(p.Data) {
		return false
	}
	if sides := r.sides.Load(); sides != nil {
		if side, ok := (*sides)[p.InPort]; ok && side.Prefix6.IsValid() {
			r.advertise(ctx, side)
		}
	}
	return true
}

// advertiseAll sends a router advertisement out of every port of every
// network the router advertises on (unsolicited, every raInterval).
func (r *resolver) advertiseAll(ctx context.Context) {
	if sides := r.sides.Load(); sides != nil {
		for _, side := range *sides {
			if side.Prefix6.IsValid() {
				r.advertise(ctx, side)
			}
		}
	}
}

// advertiseNew advertises to the ports that have not had an
// advertisement yet (new ports, a new router), so a change does not send
// one to every port.
func (r *resolver) advertiseNew(ctx context.Context) {
	if sides := r.sides.Load(); sides != nil {
		for port, side := range *sides {
			if side.Prefix6.IsValid() && !r.advertised[port] {
				r.advertise(ctx, side)
			}
		}
	}
}

func (r *resolver) advertise(ctx context.Context, side pipeline.RouterSide) {
	if r.advertised == nil {
		r.advertised = map[uint32]bool{}
	}
	r.advertised[side.Port] = true
	if err := r.session.PacketOut(ctx, side.Port, packets.RouterAdvert(side.MAC, side.LinkLocal, side.Prefix6, raLifetime)); err != nil && ctx.Err() == nil {
		r.logf("router %s: router advertisement: %v", side.Router, err)
	}
}

// raLifetime is the router lifetime hosts give the default route an
// advertisement installs; advertisements come every raInterval.
const raLifetime = 1800
