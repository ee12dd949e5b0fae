package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/testbed"
)

// floodLabIntent is one network with four hosts: a, b and d in group
// "open" (UDP 5001-5002 in, IPv4 and IPv6), c in group "closed" (nothing
// in but ARP and ND); everyone may send anything.
func floodLabIntent() *intent.Intent {
	egress := func(et intent.EtherType) intent.Rule {
		return intent.Rule{Direction: intent.Egress, EtherType: et, Protocol: intent.ProtocolAny}
	}
	udpIn := func(et intent.EtherType) intent.Rule {
		return intent.Rule{Direction: intent.Ingress, EtherType: et, Protocol: intent.ProtoUDP, PortMin: 5001, PortMax: 5002}
	}
	port := func(name string, last byte, group string) intent.Port {
		return intent.Port{Name: name, Network: "tenant", MAC: [6]byte{2, 0, 10, 0, 0, last},
			IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, last}),
				netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x10, 15: last})},
			SecurityGroups: []string{group}, PortSecurity: true}
	}
	return &intent.Intent{
		Bridge: "br-int", Datapath: "netdev",
		Networks: []intent.Network{{Name: "tenant",
			CIDR: netip.MustParsePrefix("10.0.0.0/24"), CIDR6: netip.MustParsePrefix("fd00:10::/64")}},
		Ports: []intent.Port{port("a", 10, "open"), port("b", 11, "open"), port("c", 12, "closed"), port("d", 13, "open")},
		SecurityGroups: []intent.SecurityGroup{
			{Name: "open", Stateful: true, Rules: []intent.Rule{udpIn(intent.IPv4), udpIn(intent.IPv6), egress(intent.IPv4), egress(intent.IPv6)}},
			{Name: "closed", Stateful: true, Rules: []intent.Rule{egress(intent.IPv4), egress(intent.IPv6)}},
		},
	}
}

// TestFloodOnRealTrafficOnOVS needs root and Open vSwitch: hosts in network
// namespaces on a private bridge programmed by the compiler. ARP and
// neighbour solicitations reach every other host (whatever its groups)
// and never come back to the sender; IPv4 broadcast, IPv4 multicast and
// IPv6 multicast reach the hosts whose ingress rules allow them and no
// other.
func TestFloodOnRealTrafficOnOVS(t *testing.T) {
	in := floodLabIntent()
	l := newSGLab(t, in)
	ctx := context.Background()
	hosts := []string{"a", "b", "c", "d"}
	taps := map[string]*frameTap{}
	for _, h := range hosts {
		taps[h] = newFrameTap(t, l.hosts[h])
	}
	a := l.hosts["a"]
	aMAC := flows.MAC(in.Port("a").MAC)

	// ARP and ND for addresses nobody has: the kernel broadcasts a
	// request and a solicitation to the solicited-node group.
	_, _ = a.Exec(ctx, "ping", "-c1", "-W1", "10.0.0.99")
	_, _ = a.Exec(ctx, "ping", "-6", "-c1", "-W1", "fd00:10::99")
	isARP := func(f frame) bool { return f.src == aMAC && f.ethType == flows.EthTypeARP }
	isNS := func(f frame) bool {
		return f.src == aMAC && f.ethType == flows.EthTypeIPv6 && f.dst[0] == 0x33 && f.icmp6Type() == 135
	}
	for _, h := range hosts[1:] {
		if !taps[h].saw(isARP) {
			t.Errorf("%s did not receive a's ARP broadcast", h)
		}
		if !taps[h].saw(isNS) {
			t.Errorf("%s did not receive a's neighbour solicitation", h)
		}
	}
	if taps["a"].saw(func(f frame) bool { return f.src == aMAC }) {
		t.Error("a received its own frame back")
	}

	// Broadcast and multicast through the receivers' ingress rules.
	for key, got := range sendFloods(t, l, "a", hosts[1:]) {
		want := key.host != "c"
		if got != want {
			t.Errorf("%s received a's %s: %v, want %v (its group: %s)", key.host, key.what, got, want, in.Port(key.host).SecurityGroups[0])
		}
	}
}

// floodKey is a receiver and a kind of flood.
type floodKey struct{ host, what string }

// sendFloods sends an IPv4 broadcast (udp/5001), an IPv4 multicast
// (239.1.2.3 udp/5002) and an IPv6 multicast (ff02::1 udp/5001) from
// host from, and says which of them each receiver got.
func sendFloods(t *testing.T, l *sgLab, from string, receivers []string) map[floodKey]bool {
	t.Helper()
	ctx := context.Background()
	a := l.hosts[from]
	if _, err := a.Exec(ctx, "ip", "route", "add", "224.0.0.0/4", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	type listener struct {
		host, what string
		pc         net.PacketConn
	}
	var ls []listener
	for _, h := range receivers {
		for _, kind := range []struct {
			what string
			open func() (net.PacketConn, error)
		}{
			{"IPv4 broadcast", func() (net.PacketConn, error) { return net.ListenPacket("udp4", "0.0.0.0:5001") }},
			{"IPv4 multicast", func() (net.PacketConn, error) {
				ifi, err := net.InterfaceByName("eth0")
				if err != nil {
					return nil, err
				}
				return net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(239, 1, 2, 3), Port: 5002})
			}},
			{"IPv6 multicast", func() (net.PacketConn, error) { return net.ListenPacket("udp6", "[::]:5001") }},
		} {
			var pc net.PacketConn
			if err := testbed.InNetns(l.hosts[h].Netns(), func() (err error) { pc, err = kind.open(); return err }); err != nil {
				t.Fatalf("%s: listen for %s: %v", h, kind.what, err)
			}
			ls = append(ls, listener{h, kind.what, pc})
		}
	}
	var send net.PacketConn
	if err := testbed.InNetns(a.Netns(), func() (err error) {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
		send, err = lc.ListenPacket(ctx, "udp", "[::]:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	for what, dst := range map[string]*net.UDPAddr{
		"IPv4 broadcast": {IP: net.IPv4(10, 0, 0, 255), Port: 5001},
		"IPv4 multicast": {IP: net.IPv4(239, 1, 2, 3), Port: 5002},
		"IPv6 multicast": {IP: net.ParseIP("ff02::1"), Port: 5001, Zone: "eth0"},
	} {
		if _, err := send.WriteTo([]byte(what), dst); err != nil {
			t.Fatalf("send %s to %s: %v", what, dst, err)
		}
	}
	out := map[floodKey]bool{}
	for _, r := range ls {
		out[floodKey{r.host, r.what}] = received(r.pc, r.what)
		r.pc.Close()
	}
	return out
}

// received reports whether pc receives the datagram msg within a second.
func received(pc net.PacketConn, msg string) bool {
	_ = pc.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return false
		}
		if string(buf[:n]) == msg {
			return true
		}
	}
}

// frame is an Ethernet frame an AF_PACKET socket received.
type frame struct {
	src, dst flows.MAC
	ethType  uint16
	payload  []byte
}

// icmp6Type is the ICMPv6 type of an IPv6 frame without extension
// headers, or 0.
func (f frame) icmp6Type() uint8 {
	if f.ethType != flows.EthTypeIPv6 || len(f.payload) < 41 || f.payload[6] != flows.ProtoICMPv6 {
		return 0
	}
	return f.payload[40]
}

// frameTap records the frames arriving at a host's eth0 (not those it
// sends) from its creation until the test ends.
type frameTap struct {
	mu     sync.Mutex
	frames []frame
}

func newFrameTap(t *testing.T, h *testbed.Host) *frameTap {
	t.Helper()
	proto := uint16(syscall.ETH_P_ALL)<<8 | uint16(syscall.ETH_P_ALL)>>8 // network byte order
	var fd int
	err := testbed.InNetns(h.Netns(), func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			syscall.Close(fd)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: capture on eth0: %v", h.Name(), err)
	}
	tv := syscall.NsecToTimeval(int64(100 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	tap := &frameTap{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, from, err := syscall.Recvfrom(fd, buf, 0)
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil {
				return
			}
			ll, ok := from.(*syscall.SockaddrLinklayer)
			if !ok || ll.Pkttype == syscall.PACKET_OUTGOING || n < 14 {
				continue
			}
			f := frame{ethType: binary.BigEndian.Uint16(buf[12:14]), payload: slices.Clone(buf[14:n])}
			copy(f.dst[:], buf[0:6])
			copy(f.src[:], buf[6:12])
			tap.mu.Lock()
			tap.frames = append(tap.frames, f)
			tap.mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(stop); <-done; syscall.Close(fd) })
	return tap
}

// saw reports whether a frame matching ok arrives within a second.
func (tap *frameTap) saw(ok func(frame) bool) bool {
	deadline := time.Now().Add(time.Second)
	for {
		tap.mu.Lock()
		found := slices.ContainsFunc(tap.frames, ok)
		tap.mu.Unlock()
		if found || time.Now().After(deadline) {
			return found
		}
		time.Sleep(50 * time.Millisecond)
	}
}
