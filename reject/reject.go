// Package reject builds the answer an admin policy's reject gives a
// refused packet, as iptables' REJECT does: a TCP RST for TCP, an ICMP
// (ICMPv6) port unreachable for anything else. It is pure: the
// controller receives the packet as a packet-in and sends the answer as
// a packet-out to the port the packet came from.
package reject

import (
	"encoding/binary"
	"net/netip"

	"github.com/flowgate/flowgate/packets"
)

const (
	ethHeaderLen  = 14
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoICMPv6   = 58

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10

	ttl = 64
	// minIPv6MTU bounds an ICMPv6 error with the offending packet inside
	// (RFC 4443 2.4(c)).
	minIPv6MTU = 1280
)

// Answer returns the frame that refuses frame, addressed back to its
// sender, or false when frame gets no answer: not IP, a TCP RST, an ICMP
// error (errors never answer errors), a non-first fragment, a multicast
// or broadcast destination, or too short to parse.
func Answer(frame []byte) ([]byte, bool) {
	if len(frame) < ethHeaderLen || frame[0]&1 != 0 { // dst multicast/broadcast
		return nil, false
	}
	var ip []byte
	var ok bool
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherTypeIPv4:
		ip, ok = answer4(frame[ethHeaderLen:])
	case etherTypeIPv6:
		ip, ok = answer6(frame[ethHeaderLen:])
	}
	if !ok {
		return nil, false
	}
	out := make([]byte, 0, ethHeaderLen+len(ip))
	out = append(out, frame[6:12]...) // to the sender
	out = append(out, frame[0:6]...)  // from whom it was sent to
	out = append(out, frame[12:14]...)
	return append(out, ip...), true
}

func answer4(p []byte) ([]byte, bool) {
	if len(p) < 20 || p[0]>>4 != 4 {
		return nil, false
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if ihl < 20 || total < ihl || total > len(p) {
		return nil, false
	}
	p = p[:total]
	if binary.BigEndian.Uint16(p[6:8])&0x1fff != 0 { // not the first fragment
		return nil, false
	}
	src, dst := netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
	if dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return nil, false
	}
	proto, l4 := p[9], p[ihl:]
	var body []byte
	switch {
	case proto == protoTCP:
		seg, ok := rst(l4, dst, src)
		if !ok {
			return nil, false
		}
		proto, body = protoTCP, seg
	case proto == protoICMP && (len(l4) < 1 || isICMPError(l4[0])):
		return nil, false
	default:
		// Port unreachable with the IP header and 8 bytes of what follows.
		quoted := p[:min(len(p), ihl+8)]
		body = append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, quoted...)
		binary.BigEndian.PutUint16(body[2:4], packets.Checksum(0, body))
		proto = protoICMP
	}
	h := make([]byte, 20, 20+len(body))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:4], uint16(20+len(body)))
	h[8], h[9] = ttl, proto
	copy(h[12:16], p[16:20]) // from the address it was sent to
	copy(h[16:20], p[12:16])
	binary.BigEndian.PutUint16(h[10:12], packets.Checksum(0, h))
	return append(h, body...), true
}

func isICMPError(typ uint8) bool {
	switch typ {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

func answer6(p []byte) ([]byte, bool) {
	if len(p) < 40 || p[0]>>4 != 6 {
		return nil, false
	}
	plen := int(binary.BigEndian.Uint16(p[4:6]))
	if 40+plen > len(p) {
		return nil, false
	}
	p = p[:40+plen]
	src, dst := netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
	if dst.IsMulticast() {
		return nil, false
	}
	next, l4 := p[6], p[40:]
	var body []byte
	switch {
	case next == protoTCP:
		seg, ok := rst(l4, dst, src)
		if !ok {
			return nil, false
		}
		body = seg
	case next == protoICMPv6 && (len(l4) < 1 || l4[0] < 128):
		return nil, false // an error (types below 128) or nothing
	default:
		quoted := p[:min(len(p), minIPv6MTU-40-8)]
		body = append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, quoted...) // port unreachable
		binary.BigEndian.PutUint16(body[2:4], packets.Checksum(packets.Pseudo(dst, src, protoICMPv6, len(body)), body))
		next = protoICMPv6
	}
	h := make([]byte, 40, 40+len(body))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:6], uint16(len(body)))
	h[6], h[7] = next, ttl
	copy(h[8:24], p[24:40])
	copy(h[24:40], p[8:24])
	return append(h, body...), true
}

// rst builds the RST that refuses TCP segment seg (RFC 9293 3.10.7.1):
// from from to to, acknowledging what seg occupied unless seg carried an
// ACK, whose number then becomes the RST's sequence number.
func rst(seg []byte, from, to netip.Addr) ([]byte, bool) {
	if len(seg) < 20 {
		return nil, false
	}
	off := int(seg[12]>>4) * 4
	flags := seg[13]
	if flags&tcpRST != 0 || off < 20 || off > len(seg) {
		return nil, false
	}
	r := make([]byte, 20)
	copy(r[0:2], seg[2:4]) // source port: the one it was sent to
	copy(r[2:4], seg[0:2])
	if flags&tcpACK != 0 {
		copy(r[4:8], seg[8:12])
		r[13] = tcpRST
	} else {
		n := uint32(len(seg) - off)
		if flags&tcpSYN != 0 {
			n++
		}
		if flags&tcpFIN != 0 {
			n++
		}
		binary.BigEndian.PutUint32(r[8:12], binary.BigEndian.Uint32(seg[4:8])+n)
		r[13] = tcpRST | tcpACK
	}
	r[12] = 5 << 4
	binary.BigEndian.PutUint16(r[16:18], packets.Checksum(packets.Pseudo(from, to, protoTCP, len(r)), r))
	return r, true
}
