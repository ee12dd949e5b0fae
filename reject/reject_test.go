package reject

import (
	"encoding/binary"
	"github.com/flowgate/flowgate/packets"
	"net/netip"
	"testing"
)

var (
	clientMAC = []byte{2, 0, 0, 0, 0, 1}
	serverMAC = []byte{2, 0, 0, 0, 0, 2}
	client4   = netip.MustParseAddr("10.0.0.1")
	server4   = netip.MustParseAddr("10.0.0.2")
	client6   = netip.MustParseAddr("fd00::1")
	server6   = netip.MustParseAddr("fd00::2")
)

func frame(etherType uint16, ip []byte) []byte {
	f := append(append(append([]byte{}, serverMAC...), clientMAC...), byte(etherType>>8), byte(etherType))
	return append(f, ip...)
}

func ipv4(proto uint8, l4 []byte) []byte {
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(h[2:4], uint16(20+len(l4)))
	copy(h[12:16], client4.AsSlice())
	copy(h[16:20], server4.AsSlice())
	binary.BigEndian.PutUint16(h[10:12], packets.Checksum(0, h))
	return append(h, l4...)
}

func ipv6(next uint8, l4 []byte) []byte {
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, next, 64
	binary.BigEndian.PutUint16(h[4:6], uint16(len(l4)))
	copy(h[8:24], client6.AsSlice())
	copy(h[24:40], server6.AsSlice())
	return append(h, l4...)
}

func tcp(flags uint8, seq, ack uint32) []byte {
	s := make([]byte, 20)
	binary.BigEndian.PutUint16(s[0:2], 40000)
	binary.BigEndian.PutUint16(s[2:4], 22)
	binary.BigEndian.PutUint32(s[4:8], seq)
	binary.BigEndian.PutUint32(s[8:12], ack)
	s[12], s[13] = 5<<4, flags
	return s
}

func TestRSTForSYN(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		f := frame(etherTypeIPv4, ipv4(protoTCP, tcp(tcpSYN, 1000, 0)))
		ipLen, src, dst := 20, client4, server4
		if v6 {
			f, ipLen, src, dst = frame(etherTypeIPv6, ipv6(protoTCP, tcp(tcpSYN, 1000, 0))), 40, client6, server6
		}
		out, ok := Answer(f)
		if !ok {
			t.Fatalf("v6=%v: no answer to a SYN", v6)
		}
		if string(out[0:6]) != string(clientMAC) || string(out[6:12]) != string(serverMAC) {
			t.Errorf("v6=%v: MACs %x -> %x, want back to the client", v6, out[6:12], out[0:6])
		}
		ip := out[ethHeaderLen:]
		if !v6 && packets.Checksum(0, ip[:20]) != 0 {
			t.Errorf("IPv4 header checksum is wrong")
		}
		seg := ip[ipLen:]
		if got := binary.BigEndian.Uint16(seg[0:2]); got != 22 {
			t.Errorf("v6=%v: source port %d, want 22", v6, got)
		}
		if seg[13] != tcpRST|tcpACK || binary.BigEndian.Uint32(seg[8:12]) != 1001 || binary.BigEndian.Uint32(seg[4:8]) != 0 {
			t.Errorf("v6=%v: flags %#x seq %d ack %d, want RST|ACK 0 1001", v6, seg[13], binary.BigEndian.Uint32(seg[4:8]), binary.BigEndian.Uint32(seg[8:12]))
		}
		if packets.Checksum(packets.Pseudo(dst, src, protoTCP, len(seg)), seg) != 0 {
			t.Errorf("v6=%v: TCP checksum is wrong", v6)
		}
	}
}

func TestRSTForACK(t *testing.T) {
	out, ok := Answer(frame(etherTypeIPv4, ipv4(protoTCP, tcp(tcpACK, 5, 777))))
	if !ok {
		t.Fatal("no answer")
	}
	seg := out[ethHeaderLen+20:]
	if seg[13] != tcpRST || binary.BigEndian.Uint32(seg[4:8]) != 777 {
		t.Errorf("flags %#x seq %d, want RST with the ACK's number 777", seg[13], binary.BigEndian.Uint32(seg[4:8]))
	}
}

func TestUnreachableForUDP(t *testing.T) {
	udp := []byte{0x9c, 0x40, 0, 53, 0, 12, 0, 0, 'a', 'b', 'c', 'd'}
	out, ok := Answer(frame(etherTypeIPv4, ipv4(protoUDP, udp)))
	if !ok {
		t.Fatal("no answer")
	}
	ip := out[ethHeaderLen:]
	icmp := ip[20:]
	if ip[9] != protoICMP || icmp[0] != 3 || icmp[1] != 3 || packets.Checksum(0, icmp) != 0 || len(icmp) != 8+20+8 {
		t.Errorf("answer %x: want ICMP port unreachable quoting the header and 8 bytes", ip)
	}
	out, ok = Answer(frame(etherTypeIPv6, ipv6(protoUDP, udp)))
	if !ok {
		t.Fatal("no IPv6 answer")
	}
	icmp6 := out[ethHeaderLen+40:]
	if out[ethHeaderLen+6] != protoICMPv6 || icmp6[0] != 1 || icmp6[1] != 4 || packets.Checksum(packets.Pseudo(server6, client6, protoICMPv6, len(icmp6)), icmp6) != 0 {
		t.Errorf("answer %x: want ICMPv6 port unreachable", out)
	}
}

func TestNoAnswer(t *testing.T) {
	bcast := frame(etherTypeIPv4, ipv4(protoUDP, make([]byte, 8)))
	copy(bcast[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	for name, f := range map[string][]byte{
		"rst":        frame(etherTypeIPv4, ipv4(protoTCP, tcp(tcpRST, 1, 0))),
		"icmp error": frame(etherTypeIPv4, ipv4(protoICMP, []byte{3, 3, 0, 0, 0, 0, 0, 0})),
		"icmp6 err":  frame(etherTypeIPv6, ipv6(protoICMPv6, []byte{1, 4, 0, 0, 0, 0, 0, 0})),
		"arp":        frame(0x0806, make([]byte, 28)),
		"broadcast":  bcast,
		"short":      frame(etherTypeIPv4, []byte{0x45}),
	} {
		if _, ok := Answer(f); ok {
			t.Errorf("%s: answered", name)
		}
	}
}
