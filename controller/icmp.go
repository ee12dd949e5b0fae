package controller

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/pipeline"
)

// ICMP errors the router sends: when a routed packet's TTL runs out, the
// switch sends it to the controller (dec_ttl's invalid-TTL packet-in) and
// the controller answers with an ICMP time exceeded from the router's
// address on the side the packet came from, out of the port it came in
// on, so traceroute shows the router as a hop.

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
	frame, ok := icmpTimeExceeded(side, p.Data)
	if !ok {
		return
	}
	r.lastICMP = time.Now()
	if err := r.session.PacketOut(ctx, p.InPort, frame); err != nil && ctx.Err() == nil {
		r.logf("router %s: ICMP time exceeded: %v", side.Router, err)
	}
}

// icmpTimeExceeded builds the ICMP time exceeded (RFC 792) for an expired
// IPv4 frame, from side's MAC and address to the frame's sender: the
// original IP header and the first 8 bytes of its payload follow the
// ICMP header. ok is false for anything but IPv4 (and for ICMP errors,
// which never get errors back).
func icmpTimeExceeded(side pipeline.RouterSide, frame []byte) ([]byte, bool) {
	if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != flows.EthTypeIPv4 || frame[14]>>4 != 4 {
		return nil, false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl {
		return nil, false
	}
	if ip[9] == flows.ProtoICMP && len(ip) > ihl && ip[ihl] != 0 && ip[ihl] != 8 {
		return nil, false // an ICMP error (not an echo): never answered with another
	}
	quote := ip[:min(len(ip), ihl+8)]
	b := make([]byte, 0, 14+20+8+len(quote))
	b = append(b, frame[6:12]...) // to the sender's MAC
	b = append(b, side.MAC[:]...)
	b = binary.BigEndian.AppendUint16(b, flows.EthTypeIPv4)
	h := len(b)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+8+len(quote)))
	b = append(b, 0, 0, 0, 0, 64, flows.ProtoICMP, 0, 0)
	b = append(b, side.IP.AsSlice()...)
	b = append(b, ip[12:16]...) // to the expired packet's source
	binary.BigEndian.PutUint16(b[h+10:], checksum(b[h:h+20]))
	c := len(b)
	b = append(b, 11, 0, 0, 0, 0, 0, 0, 0) // time exceeded in transit
	b = append(b, quote...)
	binary.BigEndian.PutUint16(b[c+2:], checksum(b[c:]))
	return b, true
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
