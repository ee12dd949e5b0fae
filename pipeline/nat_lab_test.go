package pipeline_test

// The lab for the router/NAT integration tests: the topology of the worked
// example with its router, as namespaces on a private userspace OVS.
//
//	tenant 10.0.0.0/24, gw 10.0.0.1:  web1 ofport 1 10.0.0.11,
//	  web2 ofport 2 10.0.0.12, db1 ofport 3 10.0.0.21
//	lab 10.0.1.0/24, gw 10.0.1.1:  lab1 ofport 4 10.0.1.5
//	uplink ofport 10 -> "outside" namespace: 192.0.2.1/24 (the external
//	  gateway, MAC 02:00:c0:00:02:01), loopback 198.51.100.10 (a server on
//	  the internet) and 203.0.113.5 (an admin workstation)
//	router edge: external 192.0.2.10/24, masquerade tenant+lab ->
//	  192.0.2.10, floating IP web1 -> 192.0.2.11, forwards
//	  tcp 192.0.2.10:2222 -> db1:22, udp 192.0.2.10:5353 -> db1:53,
//	  tcp 192.0.2.10:8080 -> web2:8080

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// natLab is the topology of routerExample (router_example_test.go), started
// on a testbed: a private OVS with the intent's netdev datapath.
type natLab struct {
	tb                          *testbed.Testbed
	web1, web2, db1, lab1, outs *testbed.Host
}

const labBridge = "br-int"

var (
	internetServer   = netip.MustParseAddr("198.51.100.10")
	adminWorkstation = netip.MustParseAddr("203.0.113.5")
)

func newNATLab(t *testing.T) *natLab {
	t.Helper()
	tb := testbed.New(t, testbed.Options{Datapath: testbed.DatapathNetdev})
	ctx := context.Background()
	sw, err := tb.AddSwitch(ctx, labBridge, testbed.SwitchOpts{Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	// add plugs a host into the bridge as OpenFlow port ofport, with a
	// default route via gw when it is not empty.
	add := func(name string, ofport uint32, mac, ip, gw string) *testbed.Host {
		t.Helper()
		hw, err := net.ParseMAC(mac)
		if err != nil {
			t.Fatal(err)
		}
		opts := testbed.HostOpts{MAC: hw, IPv4: netip.MustParsePrefix(ip), OFPort: ofport}
		if gw != "" {
			opts.Gateway4 = netip.MustParseAddr(gw)
		}
		h, err := tb.AddHost(ctx, name, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			t.Fatal(err)
		}
		return h
	}
	l := &natLab{tb: tb}
	l.web1 = add("web1", 1, "02:00:0a:00:00:0b", "10.0.0.11/24", "10.0.0.1")
	l.web2 = add("web2", 2, "02:00:0a:00:00:0c", "10.0.0.12/24", "10.0.0.1")
	l.db1 = add("db1", 3, "02:00:0a:00:00:15", "10.0.0.21/24", "10.0.0.1")
	l.lab1 = add("lab1", 4, "02:00:0a:00:01:05", "10.0.1.5/24", "10.0.1.1")
	l.outs = add("uplink", 10, "02:00:c0:00:02:01", "192.0.2.1/24", "")
	for _, argv := range [][]string{
		{"ip", "addr", "add", internetServer.String() + "/32", "dev", "lo"},
		{"ip", "addr", "add", adminWorkstation.String() + "/32", "dev", "lo"},
		// An upstream that routes the internal prefixes to the router, so
		// that security groups, not a missing route, decide what the
		// outside reaches.
		{"ip", "route", "add", "10.0.0.0/16", "via", "192.0.2.10"},
	} {
		if _, err := l.outs.Exec(ctx, argv...); err != nil {
			t.Fatal(err)
		}
	}
	serve := func(h *testbed.Host, tcp []uint16, udp ...uint16) {
		t.Helper()
		for _, p := range tcp {
			if _, err := h.ServeTCP(p); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range udp {
			if _, err := h.ServeUDP(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	serve(l.web1, []uint16{8080, 22})
	serve(l.web2, []uint16{8080})
	serve(l.db1, []uint16{22, 3306}, 53)
	serve(l.lab1, []uint16{9000})
	serve(l.outs, []uint16{80}, 7) // the internet server's
	return l
}

// install replaces the bridge's flows with text (ovs-ofctl add-flows
// syntax) in one bundle.
func (l *natLab) install(t *testing.T, text string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.tb.OVS().Ofctl(context.Background(), "--bundle", "replace-flows", labBridge, path); err != nil {
		t.Fatalf("install flows: %v", err)
	}
	// Datapath flows cached before (the hosts' own router and neighbour
	// solicitations, dropped by the empty table) would take the first
	// probes otherwise.
	if err := l.tb.OVS().SettleDatapath(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (l *natLab) logConntrack(t *testing.T) {
	t.Helper()
	out, err := l.tb.OVS().Appctl(context.Background(), "dpctl/dump-conntrack")
	if err != nil {
		t.Errorf("dump-conntrack: %v", err)
		return
	}
	t.Logf("ovs-appctl dpctl/dump-conntrack:\n%s", out)
}

// checkRouterBehaviour is the behaviour the router flows must show on the
// lab topology. It was first proven against a hand-written flow set (the
// phase-1 prototype, commit 38cfb6a), of which the compiled router stage is
// the generalisation (docs/router.md).
func checkRouterBehaviour(t *testing.T, l *natLab) {
	t.Run("routing between internal networks", func(t *testing.T) {
		expectSeenAs(t, l.lab1, own, "10.0.0.11:8080", "10.0.1.5")
		expectSeenAs(t, l.web1, own, "10.0.1.5:9000", "10.0.0.11")
		// lab1's group accepts only tenant sources on 9000; the router must
		// not let the outside in just because it routes.
		expectSeenAs(t, l.outs, internetServer, "10.0.0.11:8080", "198.51.100.10")
		expectRefused(t, l.outs, internetServer, "10.0.1.5:9000")
		// The router is one hop: TTL 1 dies there, TTL 2 arrives.
		web1 := netip.MustParseAddr("10.0.0.11")
		if res, err := testbed.TCPConnectTTL(probeContext(t), l.lab1, web1, 8080, 1); err != nil || res.Outcome == testbed.OK {
			t.Errorf("lab1 -> web1 with TTL 1: %s (%v); the router must decrement the TTL and drop at zero", res.Outcome, err)
		}
		if res, err := testbed.TCPConnectTTL(probeContext(t), l.lab1, web1, 8080, 2); err != nil || res.Outcome != testbed.OK {
			t.Errorf("lab1 -> web1 with TTL 2: %s %s (%v)", res.Outcome, res.Detail, err)
		}
		gwMAC, err := l.web1.Exec(context.Background(), "ip", "neigh", "show", "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(gwMAC, "02:00:0a:00:00:01") {
			t.Errorf("web1 resolved its gateway 10.0.0.1 to %q, want the router MAC 02:00:0a:00:00:01", gwMAC)
		}
	})
	t.Run("masquerade tcp", func(t *testing.T) {
		// Two hosts at once: both connections are open while the server
		// records their sources, so both mappings coexist in conntrack.
		var wg sync.WaitGroup
		seen := make([]netip.AddrPort, 2)
		errs := make([]error, 2)
		for i, h := range []*testbed.Host{l.web2, l.db1} {
			wg.Go(func() {
				s, err := testbed.OpenSession(probeContext(t), h, internetServer, 80)
				if err != nil {
					errs[i] = err
					return
				}
				t.Cleanup(func() { s.Close() })
				seen[i] = s.Seen()
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("masquerade: %v", err)
			}
		}
		t.Logf("server saw web2 as %s and db1 as %s", seen[0], seen[1])
		for _, s := range seen {
			if s.Addr().String() != "192.0.2.10" {
				t.Errorf("server saw %s, want the masquerade address 192.0.2.10", s)
			}
		}
		if seen[0] == seen[1] {
			t.Errorf("both clients share %s: masquerade must give them distinct source ports", seen[0])
		}
	})
	t.Run("masquerade udp", func(t *testing.T) {
		expectUDPSeenAs(t, l.web2, own, "198.51.100.10:7", "192.0.2.10")
	})
	t.Run("floating ip inbound", func(t *testing.T) {
		expectSeenAs(t, l.outs, internetServer, "192.0.2.11:8080", "198.51.100.10")
		// web1's group allows ssh only from the admin network.
		expectSeenAs(t, l.outs, adminWorkstation, "192.0.2.11:22", "203.0.113.5")
		expectRefused(t, l.outs, internetServer, "192.0.2.11:22")
	})
	t.Run("floating ip outbound", func(t *testing.T) {
		expectSeenAs(t, l.web1, own, "198.51.100.10:80", "192.0.2.11")
	})
	t.Run("port forward", func(t *testing.T) {
		expectSeenAs(t, l.outs, adminWorkstation, "192.0.2.10:2222", "203.0.113.5")
		// db's group allows 22 only from the admin network.
		expectRefused(t, l.outs, internetServer, "192.0.2.10:2222")
		expectSeenAs(t, l.outs, internetServer, "192.0.2.10:8080", "198.51.100.10")
		expectUDPSeenAs(t, l.outs, internetServer, "192.0.2.10:5353", "198.51.100.10")
	})
	t.Run("icmp errors through nat", func(t *testing.T) {
		// A masqueraded UDP datagram to a closed port outside: the
		// outside's port unreachable (to 192.0.2.10) is related to the
		// connection, un-SNATed to web2's own address and let in, so
		// web2's socket is refused at once instead of timing out.
		res, err := testbed.UDPExchange(probeContext(t), l.web2, netip.MustParseAddr("198.51.100.10"), 9)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != testbed.Refused {
			t.Errorf("web2 -> udp 198.51.100.10:9 (closed): %s (%s), want refused by the port unreachable", res.Outcome, res.Detail)
		}
	})
	t.Run("router answers ping", func(t *testing.T) {
		for _, c := range []struct {
			h  *testbed.Host
			to string
		}{
			{l.web1, "10.0.0.1"},   // its gateway
			{l.web1, "10.0.1.1"},   // the router's address on another network
			{l.web1, "192.0.2.10"}, // the router's external address, from inside
			{l.outs, "192.0.2.10"}, // and from outside
			{l.lab1, "10.0.1.1"},   // the other network's own gateway
		} {
			res, err := testbed.Ping(context.Background(), c.h, netip.MustParseAddr(c.to))
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != testbed.OK {
				t.Errorf("%s: ping %s: %v %s", c.h.Name(), c.to, res.Outcome, res.Detail)
			}
		}
	})
	t.Run("self hairpin", func(t *testing.T) {
		// A port reaching its own floating IP and its own forward: the
		// router hands the packet back out of the port it came in on.
		expectSeenAs(t, l.web1, own, "192.0.2.11:8080", "192.0.2.10")
		expectSeenAs(t, l.web2, own, "192.0.2.10:8080", "192.0.2.10")
		expectUDPSeenAs(t, l.db1, own, "192.0.2.10:5353", "192.0.2.10")
	})
	t.Run("hairpin", func(t *testing.T) {
		expectSeenAs(t, l.web2, own, "192.0.2.11:8080", "192.0.2.10")
		expectSeenAs(t, l.web1, own, "192.0.2.10:8080", "192.0.2.10")
		expectUDPSeenAs(t, l.web2, own, "192.0.2.10:5353", "192.0.2.10")
	})
}

// own, as a probe's source, leaves the choice to the host's routes: its
// own address.
var own netip.Addr

// probeTimeout bounds one probe; a dropped one costs this long.
const probeTimeout = 1500 * time.Millisecond

func probeContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	t.Cleanup(cancel)
	return ctx
}

// expectSeenAs connects from h (from src when it is valid) to dst over TCP
// and checks the source address the echo server saw.
func expectSeenAs(t *testing.T, h *testbed.Host, src netip.Addr, dst, wantSrc string) {
	t.Helper()
	d := netip.MustParseAddrPort(dst)
	res, err := testbed.TCPConnectFrom(probeContext(t), h, src, d.Addr(), d.Port())
	checkSeen(t, h, "tcp "+dst, res, err, wantSrc)
}

// expectUDPSeenAs is expectSeenAs for a UDP exchange.
func expectUDPSeenAs(t *testing.T, h *testbed.Host, src netip.Addr, dst, wantSrc string) {
	t.Helper()
	d := netip.MustParseAddrPort(dst)
	res, err := testbed.UDPExchangeFrom(probeContext(t), h, src, d.Addr(), d.Port())
	checkSeen(t, h, "udp "+dst, res, err, wantSrc)
}

func checkSeen(t *testing.T, h *testbed.Host, what string, res testbed.Result, err error, wantSrc string) {
	t.Helper()
	switch {
	case err != nil:
		t.Errorf("%s -> %s: %v", h.Name(), what, err)
	case res.Outcome != testbed.OK:
		t.Errorf("%s -> %s: %s (%s), want it answered", h.Name(), what, res.Outcome, res.Detail)
	case res.Seen.Addr().String() != wantSrc:
		t.Errorf("%s -> %s: server saw %s, want source %s", h.Name(), what, res.Seen, wantSrc)
	}
}

// expectRefused checks that a TCP connection from h (from src when it is
// valid) to dst does not complete.
func expectRefused(t *testing.T, h *testbed.Host, src netip.Addr, dst string) {
	t.Helper()
	d := netip.MustParseAddrPort(dst)
	res, err := testbed.TCPConnectFrom(probeContext(t), h, src, d.Addr(), d.Port())
	if err != nil {
		t.Errorf("%s -> %s: %v", h.Name(), dst, err)
	} else if res.Outcome == testbed.OK {
		t.Errorf("%s -> %s: connected (server saw %s), want it refused", h.Name(), dst, res.Seen)
	}
}
