package packets

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/flowgate/flowgate/flows"
)

var (
	routerMAC = flows.MustMAC("02:00:0a:00:00:01")
	hostMAC   = flows.MustMAC("02:00:0a:00:00:0b")
)

func TestARPRequestAndSender(t *testing.T) {
	f := ARPRequest(routerMAC, netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.1"))
	if len(f) != 60 || binary.BigEndian.Uint16(f[20:]) != 1 {
		t.Fatalf("not a 60-byte ARP request: %x", f)
	}
	ip, mac, ok := ARPSender(f)
	if !ok || ip != netip.MustParseAddr("192.0.2.10") || mac != routerMAC {
		t.Errorf("ARPSender = %v %v %v", ip, mac, ok)
	}
	if _, _, ok := ARPSender(f[:30]); ok {
		t.Error("a short frame read as ARP")
	}
}

// ipv4UDP is a frame from the host 10.0.0.11 to 198.51.100.10, TTL 1.
func ipv4UDP() []byte {
	f := append(append(append([]byte{}, routerMAC[:]...), hostMAC[:]...), 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 1, 17, 0, 0, 10, 0, 0, 11, 198, 51, 100, 10}
	binary.BigEndian.PutUint16(ip[10:], Checksum(0, ip))
	return append(append(f, ip...), 0x9c, 0x40, 0x82, 0x9b, 0, 8, 0, 0)
}

func TestTimeExceeded(t *testing.T) {
	out, ok := TimeExceeded(routerMAC, netip.MustParseAddr("10.0.0.1"), ipv4UDP())
	if !ok {
		t.Fatal("no answer")
	}
	ip, icmp := out[14:34], out[34:]
	if Checksum(0, ip) != 0 || Checksum(0, icmp) != 0 {
		t.Error("bad IPv4 or ICMP checksum")
	}
	if icmp[0] != 11 || netip.AddrFrom4([4]byte(ip[12:16])).String() != "10.0.0.1" || netip.AddrFrom4([4]byte(ip[16:20])).String() != "10.0.0.11" {
		t.Errorf("not a time exceeded from 10.0.0.1 to 10.0.0.11: %x", out)
	}
	if len(icmp) != 8+20+8 {
		t.Errorf("quoted %d bytes, want the header and 8 more", len(icmp)-8)
	}
	// An ICMP error is never answered with another.
	f := ipv4UDP()
	f[14+9], f[34] = flows.ProtoICMP, 3
	if _, ok := TimeExceeded(routerMAC, netip.MustParseAddr("10.0.0.1"), f); ok {
		t.Error("answered an ICMP error")
	}
}

func TestTimeExceeded6(t *testing.T) {
	gw, host := netip.MustParseAddr("fd00:10::1"), netip.MustParseAddr("fd00:10::11")
	// A UDP datagram from host, hop limit 1, 20 bytes of payload.
	f := append(append([]byte{}, routerMAC[:]...), hostMAC[:]...)
	f = append(f, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 28, flows.ProtoUDP, 1)
	f = append(f, host.AsSlice()...)
	f = append(f, netip.MustParseAddr("2001:db8::7").AsSlice()...)
	f = append(f, make([]byte, 28)...)
	out, ok := TimeExceeded6(routerMAC, gw, f)
	if !ok {
		t.Fatal("no answer")
	}
	icmp := out[14+40:]
	if Checksum(Pseudo(gw, host, flows.ProtoICMPv6, len(icmp)), icmp) != 0 {
		t.Error("bad ICMPv6 checksum")
	}
	if icmp[0] != 3 || icmp[1] != 0 || netip.AddrFrom16([16]byte(out[22:38])) != gw || netip.AddrFrom16([16]byte(out[38:54])) != host ||
		[6]byte(out[0:6]) != [6]byte(hostMAC) || int(binary.BigEndian.Uint16(out[18:])) != len(icmp) {
		t.Errorf("not a time exceeded from %s to %s: %x", gw, host, out)
	}
	if len(icmp) != 8+40+28 {
		t.Errorf("quoted %d bytes, want the whole expired packet (68)", len(icmp)-8)
	}
	// An ICMPv6 error is never answered with another; an echo request is.
	f[14+6] = flows.ProtoICMPv6
	for typ, want := range map[byte]bool{1: false, 3: false, 128: true} {
		f[14+40] = typ
		if _, ok := TimeExceeded6(routerMAC, gw, f); ok != want {
			t.Errorf("ICMPv6 type %d answered %v, want %v", typ, ok, want)
		}
	}
	// Nor is anything IPv4.
	if _, ok := TimeExceeded6(routerMAC, gw, ipv4UDP()); ok {
		t.Error("answered IPv4")
	}
}

func TestNeighbourAndRouterAdverts(t *testing.T) {
	gw, host := netip.MustParseAddr("fd00:10::1"), netip.MustParseAddr("fd00:10::11")
	na := NeighbourAdvert(routerMAC, gw, host, hostMAC)
	icmp := na[14+40:]
	if Checksum(Pseudo(gw, host, flows.ProtoICMPv6, len(icmp)), icmp) != 0 || icmp[0] != 136 || icmp[4] != 0xe0 {
		t.Errorf("bad neighbour advertisement: %x", na)
	}
	// A solicitation built from the advert's layout reads back.
	ns := append([]byte{}, na...)
	ns[14+40] = 135
	if src, mac, target, ok := NeighbourSolicitation(ns); !ok || src != gw || mac != routerMAC || target != gw {
		t.Errorf("NeighbourSolicitation = %v %v %v %v", src, mac, target, ok)
	}
	ll := netip.MustParseAddr("fe80::aff:fe00:1")
	ra := RouterAdvert(routerMAC, ll, netip.MustParsePrefix("fd00:10::/64"), 1800)
	icmp = ra[14+40:]
	if Checksum(Pseudo(ll, netip.MustParseAddr("ff02::1"), flows.ProtoICMPv6, len(icmp)), icmp) != 0 || icmp[0] != 134 {
		t.Errorf("bad router advertisement: %x", ra)
	}
	if icmp[24+2] != 64 || icmp[24+3] != 0x80 {
		t.Errorf("prefix option: length %d flags %#x, want /64 on-link only", icmp[24+2], icmp[24+3])
	}
	if IsRouterSolicitation(ra) || !IsRouterSolicitation(append(append([]byte{}, ra[:54]...), 133, 0, 0, 0, 0, 0, 0, 0)) {
		t.Error("IsRouterSolicitation")
	}
}

// TestNeighbourSolicitAndAdvertisement: a solicitation goes to the
// target's solicited-node address with the asker's MAC in its option; an
// advertisement's MAC is its target link-layer option's, else the
// frame's source.
func TestNeighbourSolicitAndAdvertisement(t *testing.T) {
	me, gw := netip.MustParseAddr("2001:db8:2::10"), netip.MustParseAddr("2001:db8:2::1")
	ns := NeighbourSolicit(routerMAC, me, gw)
	dst := netip.MustParseAddr("ff02::1:ff00:1")
	icmp := ns[14+40:]
	if Checksum(Pseudo(me, dst, flows.ProtoICMPv6, len(icmp)), icmp) != 0 || icmp[0] != 135 {
		t.Errorf("bad neighbour solicitation: %x", ns)
	}
	if got := flows.MAC(ns[:6]); got != (flows.MAC{0x33, 0x33, 0xff, 0, 0, 1}) || netip.AddrFrom16([16]byte(ns[14+24:14+40])) != dst {
		t.Errorf("solicitation to %v / %v, want the solicited-node group of %v", got, netip.AddrFrom16([16]byte(ns[14+24:14+40])), gw)
	}
	if src, mac, target, ok := NeighbourSolicitation(ns); !ok || src != me || mac != routerMAC || target != gw || !slices.Equal(icmp[24:], append([]byte{1, 1}, routerMAC[:]...)) {
		t.Errorf("NeighbourSolicitation = %v %v %v %v (option %x)", src, mac, target, ok, icmp[24:])
	}

	na := NeighbourAdvert(hostMAC, gw, me, routerMAC)
	copy(na[6:12], []byte{2, 0, 0, 0, 0, 0x99}) // sent by another MAC than it gives
	if target, mac, ok := NeighbourAdvertisement(na); !ok || target != gw || mac != hostMAC {
		t.Errorf("NeighbourAdvertisement = %v %v %v, want %v at %v (its option)", target, mac, ok, gw, hostMAC)
	}
	if target, mac, ok := NeighbourAdvertisement(na[:len(na)-8]); !ok || target != gw || mac != (flows.MAC{2, 0, 0, 0, 0, 0x99}) {
		t.Errorf("NeighbourAdvertisement without the option = %v %v %v, want the frame's source", target, mac, ok)
	}
	if _, _, ok := NeighbourAdvertisement(ns); ok {
		t.Error("a solicitation read as an advertisement")
	}
	if _, ok := IPv4Dst(ns); ok {
		t.Error("IPv4Dst of an IPv6 frame")
	}
	if !IsIPv6(ns) || IsIPv6(ARPRequest(routerMAC, netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.1"))) || IsIPv6(ns[:13]) {
		t.Error("IsIPv6")
	}
}

func TestIPv4Dst(t *testing.T) {
	in := make([]byte, 14+20)
	binary.BigEndian.PutUint16(in[12:], flows.EthTypeIPv4)
	in[14] = 0x45 // version 4, 20-byte header
	copy(in[14+16:], []byte{192, 0, 2, 50})
	if dst, ok := IPv4Dst(in); !ok || dst != netip.MustParseAddr("192.0.2.50") {
		t.Errorf("IPv4Dst = %v %v", dst, ok)
	}
	if _, ok := IPv4Dst(in[:33]); ok {
		t.Error("IPv4Dst of a truncated frame")
	}
}
