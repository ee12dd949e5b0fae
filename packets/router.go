package packets

import (
	"encoding/binary"
	"net/netip"

	"github.com/flowgate/flowgate/flows"
)

// ARPRequest is "who has gateway? tell ip (mac)", broadcast.
func ARPRequest(mac flows.MAC, ip, gateway netip.Addr) []byte {
	b := make([]byte, 0, 60)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, mac[:]...)
	b = binary.BigEndian.AppendUint16(b, flows.EthTypeARP)
	b = append(b, 0, 1, 8, 0, 6, 4, 0, 1) // Ethernet, IPv4, request
	b = append(b, mac[:]...)
	b = append(b, ip.AsSlice()...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, gateway.AsSlice()...)
	return append(b, make([]byte, 60-len(b))...) // Ethernet minimum
}

// ARPSender returns the sender of an IPv4-over-Ethernet ARP frame.
func ARPSender(frame []byte) (ip netip.Addr, mac flows.MAC, ok bool) {
	if len(frame) < 42 || binary.BigEndian.Uint16(frame[12:]) != flows.EthTypeARP ||
		binary.BigEndian.Uint16(frame[16:]) != 0x0800 || frame[18] != 6 || frame[19] != 4 {
		return netip.Addr{}, mac, false
	}
	copy(mac[:], frame[22:28])
	return netip.AddrFrom4([4]byte(frame[28:32])), mac, true
}

// TimeExceeded builds the ICMP time exceeded (RFC 792) for an expired
// IPv4 frame, from mac and ip (the router on the side the frame came
// from) to the frame's sender: the
// original IP header and the first 8 bytes of its payload follow the
// ICMP header. ok is false for anything but IPv4 (and for ICMP errors,
// which never get errors back).
func TimeExceeded(mac flows.MAC, ip4 netip.Addr, frame []byte) ([]byte, bool) {
	ip, ok := ipv4Packet(frame)
	if !ok {
		return nil, false
	}
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
	b = append(b, mac[:]...)
	b = binary.BigEndian.AppendUint16(b, flows.EthTypeIPv4)
	h := len(b)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+8+len(quote)))
	b = append(b, 0, 0, 0, 0, 64, flows.ProtoICMP, 0, 0)
	b = append(b, ip4.AsSlice()...)
	b = append(b, ip[12:16]...) // to the expired packet's source
	binary.BigEndian.PutUint16(b[h+10:], Checksum(0, b[h:h+20]))
	c := len(b)
	b = append(b, 11, 0, 0, 0, 0, 0, 0, 0) // time exceeded in transit
	b = append(b, quote...)
	binary.BigEndian.PutUint16(b[c+2:], Checksum(0, b[c:]))
	return b, true
}

// TimeExceeded6 builds the ICMPv6 time exceeded, hop limit exceeded in
// transit (RFC 4443 3.3), for an expired IPv6 frame, from mac and ip6
// (the router on the side the frame came from) to the frame's sender:
// as much of the expired packet as the frame holds follows, up to what
// keeps the error within the IPv6 minimum MTU. ok is false for anything
// but IPv6, for ICMPv6 errors (never answered with another) and for a
// sender that cannot be answered (unspecified or multicast).
func TimeExceeded6(mac flows.MAC, ip6 netip.Addr, frame []byte) ([]byte, bool) {
	const ipv6 = 14
	if len(frame) < ipv6+40 || binary.BigEndian.Uint16(frame[12:]) != flows.EthTypeIPv6 || frame[ipv6]>>4 != 6 {
		return nil, false
	}
	pkt := frame[ipv6:]
	src := netip.AddrFrom16([16]byte(pkt[8:24]))
	if src.IsUnspecified() || src.IsMulticast() {
		return nil, false
	}
	// The next header is ICMPv6 only without extension headers, which a
	// routed packet rarely has; an error behind them is answered, as
	// Linux does not look further either.
	if pkt[6] == flows.ProtoICMPv6 && (len(pkt) <= 40 || pkt[40] < 128) {
		return nil, false
	}
	quote := pkt[:min(len(pkt), 1280-40-8)]
	b := make([]byte, 0, 14+40+8+len(quote))
	b = append(b, frame[6:12]...) // to the sender's MAC
	b = append(b, mac[:]...)
	b = binary.BigEndian.AppendUint16(b, flows.EthTypeIPv6)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(quote)))
	b = append(b, flows.ProtoICMPv6, 64)
	b = append(b, ip6.AsSlice()...)
	b = append(b, src.AsSlice()...)
	icmp := len(b)
	b = append(b, 3, 0, 0, 0, 0, 0, 0, 0) // time exceeded, hop limit exceeded in transit
	b = append(b, quote...)
	binary.BigEndian.PutUint16(b[icmp+2:], icmpv6Checksum(ip6, src, b[icmp:]))
	return b, true
}

// ipv4Packet is the IPv4 packet of an Ethernet/IPv4 frame with at least
// a whole minimal header.
func ipv4Packet(frame []byte) ([]byte, bool) {
	if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != flows.EthTypeIPv4 || frame[14]>>4 != 4 {
		return nil, false
	}
	return frame[14:], true
}

// IPv4Dst is the destination address of an Ethernet/IPv4 frame.
func IPv4Dst(frame []byte) (netip.Addr, bool) {
	ip, ok := ipv4Packet(frame)
	if !ok {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(ip[16:20])), true
}

// IsIPv6 reports whether frame is an Ethernet frame of IPv6.
func IsIPv6(frame []byte) bool {
	return len(frame) >= 14 && binary.BigEndian.Uint16(frame[12:]) == flows.EthTypeIPv6
}

// IsRouterSolicitation reports whether frame is an Ethernet/IPv6/ICMPv6
// router solicitation.
func IsRouterSolicitation(frame []byte) bool { return icmpv6Type(frame, 8) == 133 }

// icmpv6Type is the type of an Ethernet/IPv6/ICMPv6 frame with at least
// n bytes of ICMPv6, or 0.
func icmpv6Type(frame []byte, n int) uint8 {
	const ipv6, icmp = 14, 14 + 40
	if len(frame) < icmp+n || !IsIPv6(frame) || frame[ipv6+6] != flows.ProtoICMPv6 {
		return 0
	}
	return frame[icmp]
}

// NeighbourSolicitation reads an Ethernet/IPv6/ICMPv6 neighbour solicitation.
func NeighbourSolicitation(frame []byte) (src netip.Addr, srcMAC flows.MAC, target netip.Addr, ok bool) {
	const ipv6, icmp = 14, 14 + 40
	if icmpv6Type(frame, 24) != 135 {
		return src, srcMAC, target, false
	}
	copy(srcMAC[:], frame[6:12])
	src = netip.AddrFrom16([16]byte(frame[ipv6+8 : ipv6+24]))
	target = netip.AddrFrom16([16]byte(frame[icmp+8 : icmp+24]))
	return src, srcMAC, target, true
}

// NeighbourSolicit asks who has target (RFC 4861 4.3), from ip and mac,
// to target's solicited-node multicast address, with the source
// link-layer option so that the answer can come back unicast.
func NeighbourSolicit(mac flows.MAC, ip, target netip.Addr) []byte {
	t := target.As16()
	dst := netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	return ndFrame(flows.MAC{0x33, 0x33, 0xff, t[13], t[14], t[15]}, mac, ip, dst, 135, 0, target, 1)
}

// NeighbourAdvertisement reads an Ethernet/IPv6/ICMPv6 neighbour
// advertisement: its target and the MAC it gives for it, the target
// link-layer address option's (RFC 4861 4.4), else the frame's source.
func NeighbourAdvertisement(frame []byte) (target netip.Addr, mac flows.MAC, ok bool) {
	const icmp = 14 + 40
	if icmpv6Type(frame, 24) != 136 {
		return target, mac, false
	}
	target = netip.AddrFrom16([16]byte(frame[icmp+8 : icmp+24]))
	copy(mac[:], frame[6:12])
	for opts := frame[icmp+24:]; len(opts) >= 8 && opts[1] > 0; opts = opts[min(len(opts), int(opts[1])*8):] {
		if opts[0] == 2 && opts[1] == 1 {
			copy(mac[:], opts[2:8])
			break
		}
	}
	return target, mac, true
}

// NeighbourAdvert is "target is at mac" (router, solicited,
// override) to the solicitor, or to all nodes for a duplicate address
// check (unspecified source), with the target link-layer option.
func NeighbourAdvert(mac flows.MAC, target, to netip.Addr, toMAC flows.MAC) []byte {
	flags := byte(0xe0) // router, solicited, override
	dst := to
	if !to.IsValid() || to.IsUnspecified() {
		dst, toMAC, flags = netip.MustParseAddr("ff02::1"), flows.MAC{0x33, 0x33, 0, 0, 0, 1}, 0xa0
	}
	return ndFrame(toMAC, mac, target, dst, 136, flags, target, 2)
}

// ndFrame is a neighbour solicitation (typ 135) or advertisement (136)
// from src and mac to dst and dstMAC, hop limit 255: flags, target, and
// one link-layer address option (1 source, 2 target) giving mac.
func ndFrame(dstMAC, mac flows.MAC, src, dst netip.Addr, typ, flags byte, target netip.Addr, option byte) []byte {
	b := make([]byte, 0, 14+40+32)
	b = append(b, dstMAC[:]...)
	b = append(b, mac[:]...)
	b = binary.BigEndian.AppendUint16(b, flows.EthTypeIPv6)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, 32) // the message with one option
	b = append(b, flows.ProtoICMPv6, 255)
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	icmp := len(b)
	b = append(b, typ, 0, 0, 0, flags, 0, 0, 0)
	b = append(b, target.AsSlice()...)
	b = append(b, option, 1) // 8 bytes
	b = append(b, mac[:]...)
	binary.BigEndian.PutUint16(b[icmp+2:], icmpv6Checksum(src, dst, b[icmp:]))
	return b
}

// RouterAdvert advertises a router (mac, from its link-local address) as
// the default router of a network and prefix as on-link (RFC 4861 4.2),
// to all nodes, for lifetime seconds.
func RouterAdvert(mac flows.MAC, linkLocal netip.Addr, prefix netip.Prefix, lifetime uint16) []byte {
	allNodes := netip.MustParseAddr("ff02::1")
	b := make([]byte, 0, 14+40+56)
	b = append(b, 0x33, 0x33, 0, 0, 0, 1)
	b = append(b, mac[:]...)
	b = binary.BigEndian.AppendUint16(b, flows.EthTypeIPv6)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, 16+8+32) // RA, source link-layer, prefix information
	b = append(b, flows.ProtoICMPv6, 255)
	b = append(b, linkLocal.AsSlice()...)
	b = append(b, allNodes.AsSlice()...)
	icmp := len(b)
	b = append(b, 134, 0, 0, 0, 64, 0) // type, code, checksum, cur hop limit, flags
	b = binary.BigEndian.AppendUint16(b, lifetime)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // reachable time, retrans timer: unspecified
	b = append(b, 1, 1)                   // source link-layer address
	b = append(b, mac[:]...)
	// Prefix information: on-link, not autonomous. A port may send only
	// from the addresses the intent gives it (port security), so hosts
	// must not configure addresses of their own from the prefix.
	b = append(b, 3, 4, byte(prefix.Bits()), 0x80)
	b = binary.BigEndian.AppendUint32(b, 86400) // valid lifetime
	b = binary.BigEndian.AppendUint32(b, 14400) // preferred lifetime
	b = append(b, 0, 0, 0, 0)
	b = append(b, prefix.Masked().Addr().AsSlice()...)
	binary.BigEndian.PutUint16(b[icmp+2:], icmpv6Checksum(linkLocal, allNodes, b[icmp:]))
	return b
}

// icmpv6Checksum is the ICMPv6 checksum over the IPv6 pseudo-header and
// the message (RFC 4443).
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	return Checksum(Pseudo(src, dst, flows.ProtoICMPv6, len(msg)), msg)
}
