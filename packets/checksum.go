// Package packets builds and reads the few frames the controller itself
// sends or inspects: the router's ARP requests, ICMP errors, neighbour and
// router advertisements, and the checksums they need. It is pure: the
// controller receives frames as packet-ins and sends these as
// packet-outs.
package packets

import "net/netip"

// Pseudo is the sum of the TCP/UDP/ICMPv6 pseudo-header.
func Pseudo(src, dst netip.Addr, proto uint8, n int) uint32 {
	var sum uint32
	for _, a := range []netip.Addr{src, dst} {
		b := a.AsSlice()
		for i := 0; i < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	return sum + uint32(proto) + uint32(n)&0xffff + uint32(n)>>16
}

// Checksum is the Internet checksum of b, starting from sum.
func Checksum(sum uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
