package controller

import (
	"context"
	"time"

	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/packets"
)

// ICMP errors the router sends: when a routed packet's TTL runs out, the
// switch sends it to the controller (dec_ttl's invalid-TTL packet-in) and
// the controller answers with an ICMP (or ICMPv6) time exceeded from the
// router's address (gateway or gateway6, external ip or ip6) on the side
// the packet came from, out of the port it came in on, so traceroute
// shows the router as a hop.

// icmpErrorGap spaces the ICMP errors the controller sends, as a host
// rate-limits them (Linux: one per millisecond per destination by
// default), so a flood of expiring packets cannot turn the controller into
// a packet generator.
const icmpErrorGap = time.Millisecond

// timeExceeded answers an expired packet.
func (r *resolver) timeExceeded(ctx context.Context, p openflow.PacketIn) {
	sides := r.sides.Load()
	if sides == nil {
		return
	}
	side, ok := (*sides)[p.InPort]
	if !ok || time.Since(r.lastICMP) < icmpErrorGap {
		return
	}
	// From the router's address of the expired packet's family there
	// (a network may have only one).
	frame, answered := []byte(nil), false
	if side.IP.IsValid() {
		frame, answered = packets.TimeExceeded(side.MAC, side.IP, p.Data)
	}
	if !answered && side.IP6.IsValid() {
		frame, answered = packets.TimeExceeded6(side.MAC, side.IP6, p.Data)
	}
	if !answered {
		return
	}
	r.lastICMP = time.Now()
	if err := r.session.PacketOut(ctx, p.InPort, frame); err != nil && ctx.Err() == nil {
		r.logf("router %s: ICMP time exceeded: %v", side.Router, err)
	}
}
