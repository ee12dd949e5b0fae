package testbed

import (
	"context"
	"net/netip"
	"testing"
)

// twoHosts starts a testbed with one switch and hosts a and b on it, each
// serving the echo ports.
func twoHosts(t *testing.T, opts SwitchOpts) (*Testbed, *Host, *Host) {
	t.Helper()
	tb := New(t, Options{})
	ctx := context.Background()
	sw, err := tb.AddSwitch(ctx, "s1", opts)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []*Host
	for i, name := range []string{"a", "b"} {
		n := byte(i + 1)
		h, err := tb.AddHost(ctx, name, HostOpts{
			IPv4: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, 7, n}), 24),
			IPv6: netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 7, 15: n}), 64),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			t.Fatal(err)
		}
		if _, err := h.ServeTCP(echoTCPPort); err != nil {
			t.Fatal(err)
		}
		if _, err := h.ServeUDP(echoUDPPort); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	return tb, hosts[0], hosts[1]
}

type probeCase struct {
	name string
	run  func(ctx context.Context) (Result, error)
	want Outcome
}

func checkProbes(t *testing.T, cases []probeCase) {
	t.Helper()
	for _, c := range cases {
		res, err := c.run(context.Background())
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if res.Outcome != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, res.Outcome, res.Detail, c.want)
		}
	}
}

// A secure bridge without flows drops everything: every probe times out
// (which also shows the probes cannot pass without the switch).
func TestProbesTimeOutOnEmptySecureSwitchOnOVS(t *testing.T) {
	t.Parallel()
	_, a, b := twoHosts(t, SwitchOpts{Secure: true})
	hosts := []*Host{a, b}
	expectMatrix(t, hosts, PingProbe(IPv4), UniformTable(hosts, TimedOut))
	expectMatrix(t, hosts, TCPProbe(IPv6, echoTCPPort), UniformTable(hosts, TimedOut))
	expectMatrix(t, hosts, UDPProbe(IPv4, echoUDPPort), UniformTable(hosts, TimedOut))
}

// A closed port answers: TCP with a RST, UDP with ICMP port unreachable.
// An open one echoes and reports the client's own address.
func TestProbeOutcomesOnLearningSwitchOnOVS(t *testing.T) {
	t.Parallel()
	_, a, b := twoHosts(t, SwitchOpts{})
	checkProbes(t, []probeCase{
		{"tcp4 open", func(ctx context.Context) (Result, error) { return TCPConnect(ctx, a, b.IP4(), echoTCPPort) }, OK},
		{"tcp6 closed", func(ctx context.Context) (Result, error) { return TCPConnect(ctx, a, b.IP6(), 9) }, Refused},
		{"udp4 closed", func(ctx context.Context) (Result, error) { return UDPExchange(ctx, a, b.IP4(), 9) }, Refused},
		{"udp6 closed", func(ctx context.Context) (Result, error) { return UDPExchange(ctx, a, b.IP6(), 9) }, Refused},
		{"ping4 absent host", func(ctx context.Context) (Result, error) {
			return Ping(ctx, a, netip.MustParseAddr("192.168.7.99"))
		}, TimedOut},
	})
	for _, dst := range []netip.Addr{b.IP4(), b.IP6()} {
		res, err := TCPConnect(context.Background(), a, dst, echoTCPPort)
		if err != nil {
			t.Fatal(err)
		}
		if res.Seen.Addr() != a.IP4() && res.Seen.Addr() != a.IP6() {
			t.Errorf("tcp to %s: server saw %s, want one of a's addresses %s, %s", dst, res.Seen, a.IP4(), a.IP6())
		}
	}
}

// A session survives while the path is open and is reported cut once a
// flow drops its packets.
func TestSessionReportsCutOnOVS(t *testing.T) {
	t.Parallel()
	tb, a, b := twoHosts(t, SwitchOpts{})
	ctx := context.Background()
	s, err := OpenSession(ctx, a, b.IP4(), echoTCPPort)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Seen().Addr() != a.IP4() {
		t.Errorf("session seen from %s, want %s", s.Seen(), a.IP4())
	}
	for i := range 3 {
		if !s.Alive() {
			t.Fatalf("session died on exchange %d with the path open", i)
		}
	}
	if _, err := tb.OVS().Ofctl(ctx, "add-flow", "s1", "priority=100,tcp,actions=drop"); err != nil {
		t.Fatal(err)
	}
	// The session's cached datapath flow can outlive the new drop flow
	// for a moment; wait until OVS has revalidated it.
	if err := tb.OVS().SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Alive() {
		t.Fatal("session alive after a flow drops all TCP")
	}
	if _, err := tb.OVS().Ofctl(ctx, "del-flows", "s1", "tcp"); err != nil {
		t.Fatal(err)
	}
	// A datapath flow cached from the drop can outlive it for a moment.
	if err := tb.OVS().SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Alive() {
		t.Error("a cut session came back to life; Alive must stay false once it failed")
	}
	if _, err := OpenSession(ctx, a, b.IP4(), echoTCPPort); err != nil {
		t.Errorf("new session after the drop flow went: %v", err)
	}
}
