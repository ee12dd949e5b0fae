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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

// natLab is the topology of routerExample (router_example_test.go), started
// on a private OVS.
type natLab struct {
	ovs                         *testbed.OVS
	web1, web2, db1, lab1, outs *nsHost
}

const labBridge = "br-int"

func newNATLab(t *testing.T) *natLab {
	t.Helper()
	o := testbed.NewOVS(t)
	ctx := context.Background()
	if _, err := o.Vsctl(ctx, "add-br", labBridge, "--", "set", "Bridge", labBridge,
		"datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13"); err != nil {
		t.Fatalf("add bridge: %v", err)
	}
	l := &natLab{ovs: o}
	l.web1 = addHost(t, o, labBridge, "web1", 1, "02:00:0a:00:00:0b", []string{"10.0.0.11/24"}, "10.0.0.1")
	l.web2 = addHost(t, o, labBridge, "web2", 2, "02:00:0a:00:00:0c", []string{"10.0.0.12/24"}, "10.0.0.1")
	l.db1 = addHost(t, o, labBridge, "db1", 3, "02:00:0a:00:00:15", []string{"10.0.0.21/24"}, "10.0.0.1")
	l.lab1 = addHost(t, o, labBridge, "lab1", 4, "02:00:0a:00:01:05", []string{"10.0.1.5/24"}, "10.0.1.1")
	l.outs = addHost(t, o, labBridge, "uplink", 10, "02:00:c0:00:02:01", []string{"192.0.2.1/24"}, "")
	l.outs.exec(t, "ip", "addr", "add", "198.51.100.10/32", "dev", "lo")
	l.outs.exec(t, "ip", "addr", "add", "203.0.113.5/32", "dev", "lo")
	// An upstream that routes the internal prefixes to the router, so that
	// security groups, not a missing route, decide what the outside reaches.
	l.outs.exec(t, "ip", "route", "add", "10.0.0.0/16", "via", "192.0.2.10")

	l.web1.serveTCP(t, ":8080")
	l.web1.serveTCP(t, ":22")
	l.web2.serveTCP(t, ":8080")
	l.db1.serveTCP(t, ":22")
	l.db1.serveTCP(t, ":3306")
	l.db1.serveUDP(t, ":53")
	l.lab1.serveTCP(t, ":9000")
	l.outs.serveTCP(t, "198.51.100.10:80")
	l.outs.serveUDP(t, "198.51.100.10:7")
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
	if _, err := l.ovs.Ofctl(context.Background(), "--bundle", "replace-flows", labBridge, path); err != nil {
		t.Fatalf("install flows: %v", err)
	}
}

func (l *natLab) logConntrack(t *testing.T) {
	t.Helper()
	out, err := l.ovs.Appctl(context.Background(), "dpctl/dump-conntrack")
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
		expectSeenAs(t, l.lab1, "", "10.0.0.11:8080", "10.0.1.5")
		expectSeenAs(t, l.web1, "", "10.0.1.5:9000", "10.0.0.11")
		// lab1's group accepts only tenant sources on 9000; the router must
		// not let the outside in just because it routes.
		expectSeenAs(t, l.outs, "198.51.100.10:0", "10.0.0.11:8080", "198.51.100.10")
		expectRefused(t, l.outs, "198.51.100.10:0", "10.0.1.5:9000")
		// The router is one hop: TTL 1 dies there, TTL 2 arrives.
		if c, _, err := l.lab1.dialTCPTTL("", "10.0.0.11:8080", 1); err == nil {
			c.Close()
			t.Errorf("lab1 -> web1 with TTL 1 connected; the router must decrement the TTL and drop at zero")
		}
		c, _, err := l.lab1.dialTCPTTL("", "10.0.0.11:8080", 2)
		if err != nil {
			t.Errorf("lab1 -> web1 with TTL 2: %v", err)
		} else {
			c.Close()
		}
		gwMAC := l.web1.exec(t, "ip", "neigh", "show", "10.0.0.1")
		if !strings.Contains(gwMAC, "02:00:0a:00:00:01") {
			t.Errorf("web1 resolved its gateway 10.0.0.1 to %q, want the router MAC 02:00:0a:00:00:01", gwMAC)
		}
	})
	t.Run("masquerade tcp", func(t *testing.T) {
		// Two hosts at once: both connections are open while the server
		// records their sources, so both mappings coexist in conntrack.
		var wg sync.WaitGroup
		seen := make([]string, 2)
		errs := make([]error, 2)
		conns := make([]net.Conn, 2)
		for i, h := range []*nsHost{l.web2, l.db1} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conns[i], seen[i], errs[i] = h.dialTCP("", "198.51.100.10:80")
			}()
		}
		wg.Wait()
		for i := range conns {
			if errs[i] != nil {
				t.Fatalf("masquerade: %v", errs[i])
			}
			defer conns[i].Close()
		}
		t.Logf("server saw web2 as %s and db1 as %s", seen[0], seen[1])
		for _, s := range seen {
			if host(s) != "192.0.2.10" {
				t.Errorf("server saw %s, want the masquerade address 192.0.2.10", s)
			}
		}
		if seen[0] == seen[1] {
			t.Errorf("both clients share %s: masquerade must give them distinct source ports", seen[0])
		}
	})
	t.Run("masquerade udp", func(t *testing.T) {
		got, err := l.web2.askUDP("", "198.51.100.10:7")
		if err != nil {
			t.Fatal(err)
		}
		if host(got) != "192.0.2.10" {
			t.Errorf("UDP server saw %s, want 192.0.2.10", got)
		}
	})
	t.Run("floating ip inbound", func(t *testing.T) {
		expectSeenAs(t, l.outs, "198.51.100.10:0", "192.0.2.11:8080", "198.51.100.10")
		// web1's group allows ssh only from the admin network.
		expectSeenAs(t, l.outs, "203.0.113.5:0", "192.0.2.11:22", "203.0.113.5")
		expectRefused(t, l.outs, "198.51.100.10:0", "192.0.2.11:22")
	})
	t.Run("floating ip outbound", func(t *testing.T) {
		expectSeenAs(t, l.web1, "", "198.51.100.10:80", "192.0.2.11")
	})
	t.Run("port forward", func(t *testing.T) {
		expectSeenAs(t, l.outs, "203.0.113.5:0", "192.0.2.10:2222", "203.0.113.5")
		// db's group allows 22 only from the admin network.
		expectRefused(t, l.outs, "198.51.100.10:0", "192.0.2.10:2222")
		expectSeenAs(t, l.outs, "198.51.100.10:0", "192.0.2.10:8080", "198.51.100.10")
		got, err := l.outs.askUDP("198.51.100.10:0", "192.0.2.10:5353")
		if err != nil {
			t.Fatal(err)
		}
		if host(got) != "198.51.100.10" {
			t.Errorf("db1 saw the UDP forward from %s, want 198.51.100.10", got)
		}
	})
	t.Run("router answers ping", func(t *testing.T) {
		for _, c := range []struct {
			h  *nsHost
			to string
		}{
			{l.web1, "10.0.0.1"},   // its gateway
			{l.web1, "10.0.1.1"},   // the router's address on another network
			{l.web1, "192.0.2.10"}, // the router's external address, from inside
			{l.outs, "192.0.2.10"}, // and from outside
			{l.lab1, "10.0.1.1"},   // the other network's own gateway
		} {
			out, err := exec.Command("ip", "netns", "exec", c.h.NS, "ping", "-c", "1", "-W", "2", c.to).CombinedOutput()
			if err != nil {
				t.Errorf("%s: ping %s: %v\n%s", c.h.Name, c.to, err, out)
			}
		}
	})
	t.Run("self hairpin", func(t *testing.T) {
		// A port reaching its own floating IP and its own forward: the
		// router hands the packet back out of the port it came in on.
		expectSeenAs(t, l.web1, "", "192.0.2.11:8080", "192.0.2.10")
		expectSeenAs(t, l.web2, "", "192.0.2.10:8080", "192.0.2.10")
		got, err := l.db1.askUDP("", "192.0.2.10:5353")
		if err != nil {
			t.Fatal(err)
		}
		if host(got) != "192.0.2.10" {
			t.Errorf("db1 saw its own hairpinned UDP forward from %s, want 192.0.2.10", got)
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		expectSeenAs(t, l.web2, "", "192.0.2.11:8080", "192.0.2.10")
		expectSeenAs(t, l.web1, "", "192.0.2.10:8080", "192.0.2.10")
		got, err := l.web2.askUDP("", "192.0.2.10:5353")
		if err != nil {
			t.Fatal(err)
		}
		if host(got) != "192.0.2.10" {
			t.Errorf("db1 saw the hairpinned UDP forward from %s, want 192.0.2.10", got)
		}
	})
}

func host(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

// expectSeenAs connects from h and checks the source address the server saw.
func expectSeenAs(t *testing.T, h *nsHost, laddr, raddr, wantSrc string) {
	t.Helper()
	got, err := h.askTCP(laddr, raddr)
	if err != nil {
		t.Errorf("%s -> %s: %v", h.Name, raddr, err)
		return
	}
	if host(got) != wantSrc {
		t.Errorf("%s -> %s: server saw %s, want source %s", h.Name, raddr, got, wantSrc)
	}
}

// expectRefused checks that a connection from h to raddr does not complete.
func expectRefused(t *testing.T, h *nsHost, laddr, raddr string) {
	t.Helper()
	if got, err := h.askTCP(laddr, raddr); err == nil {
		t.Errorf("%s -> %s: connected (server saw %s), want it refused", h.Name, raddr, got)
	}
}
