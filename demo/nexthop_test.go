package demo

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/testbed"
)

// TestLearnedNextHopOnOVS runs the worked example with its router's
// gateway_mac removed: the controller learns the upstream router's MAC by
// ARP, and masquerade, the floating IP, the forward and hairpin give
// every matrix the intent expects from a fresh start; traceroute shows
// the router as a hop. Then the upstream router's MAC changes (a
// failover): new connections work again within 10 s, through the newly
// learned MAC.
func TestLearnedNextHopOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	doc, err := os.ReadFile("../examples/intent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := intent.Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	d.Routers[0].External.GatewayMAC = ""
	// A forward to a UDP port nobody serves on db1, which db's group lets
	// in: db1's port unreachable must reach the outside client.
	closedPort, externalPort := int64(5399), int64(5399)
	d.Routers[0].PortForwards = append(d.Routers[0].PortForwards, intent.PortForwardDoc{
		Protocol: "udp", IP: "192.0.2.10", ExternalPort: &externalPort, Port: "db1", InternalPort: &closedPort})
	for i := range d.SecurityGroups {
		if d.SecurityGroups[i].Name == "db" {
			d.SecurityGroups[i].Rules = append(d.SecurityGroups[i].Rules, intent.RuleDoc{Direction: "ingress", Protocol: "udp", Ports: "5399"})
		}
	}
	data, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "intent.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tb := testbed.New(t, testbed.Options{})
	hosts, err := buildTopology(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, logs, stop, err := startController(ctx, tb, path)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("controller log:\n%s", logs)
		}
	})
	if got := c.Status().NextHops["edge"]; got != "02:00:c0:00:02:01" {
		t.Fatalf("next hop of edge = %q, want the upstream router's 02:00:c0:00:02:01", got)
	}
	t.Logf("next hop learned and every flow installed %v after the start", time.Since(start).Round(time.Millisecond))

	grids, err := workedGrids()
	if err != nil {
		t.Fatal(err)
	}
	if err := probeAll(ctx, hosts, grids); err != nil {
		t.Fatal(err)
	}
	for _, g := range grids {
		for _, d := range g.differences() {
			t.Errorf("learned next hop: %s", d)
		}
	}

	// traceroute through the router: the router is hop 1 (its ICMP time
	// exceeded, from the controller), the internet server hop 2 (its port
	// unreachable, un-SNATed by the router as related to the probe).
	out, err := hosts["web1"].Exec(ctx, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "3", internetServer.String())
	if err != nil {
		t.Fatalf("traceroute: %v\n%s", err, out)
	}
	t.Logf("traceroute from web1:\n%s", out)
	for _, hop := range []string{" 1  10.0.0.1 ", " 2  198.51.100.10 "} {
		if !strings.Contains(out, hop) {
			t.Errorf("traceroute: no hop %q", strings.TrimSpace(hop))
		}
	}

	// Neighbour discovery for the router's IPv6 gateway: the controller
	// answers web1's solicitation with the router's MAC on tenant.
	if _, err := hosts["web1"].Exec(ctx, "ip", "-6", "neigh", "flush", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	// The router answers the echo in the datapath once web1 knows its MAC.
	if res, err := testbed.Ping(ctx, hosts["web1"], netip.MustParseAddr("fd00:10::1")); err != nil || res.Outcome != testbed.OK {
		t.Errorf("ping6 web1 -> its gateway fd00:10::1: %v %s (%s), want answered", err, res.Outcome, res.Detail)
	}
	neigh, err := hosts["web1"].Exec(ctx, "ip", "-6", "neigh", "show", "fd00:10::1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(neigh, "02:00:0a:00:00:01") {
		t.Errorf("web1 resolved its IPv6 gateway fd00:10::1 to %q, want the router's MAC 02:00:0a:00:00:01", strings.TrimSpace(neigh))
	}

	// Router advertisements: web1 learns its IPv6 default route from the
	// router (via its link-local address) without any static route.
	deadline := time.Now().Add(15 * time.Second)
	for {
		routes, err := hosts["web1"].Exec(ctx, "ip", "-6", "route", "show", "default", "proto", "ra")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(routes, "via fe80::") {
			t.Logf("web1's IPv6 default route from the router's advertisement: %s", strings.TrimSpace(routes))
			break
		}
		if time.Now().After(deadline) {
			all, _ := hosts["web1"].Exec(ctx, "ip", "-6", "route")
			t.Errorf("no IPv6 default route from a router advertisement within 15 s; routes:\n%s", all)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The closed forwarded port: refused at once, not a timeout.
	res, err := testbed.UDPExchangeFrom(ctx, hosts["uplink"], internetServer, netip.MustParseAddr("192.0.2.10"), 5399)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != testbed.Refused {
		t.Errorf("internet -> udp 192.0.2.10:5399 (forwarded to a closed port of db1): %s (%s), want refused by db1's port unreachable", res.Outcome, res.Detail)
	}

	const failover = "02:00:c0:00:02:77"
	if _, err := hosts["uplink"].Exec(ctx, "ip", "link", "set", "eth0", "address", failover); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	for {
		res, err := testbed.TCPConnect(ctx, hosts["web1"], internetServer, 8080)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome == testbed.OK && c.Status().NextHops["edge"] == failover {
			t.Logf("after the upstream MAC changed, a new connection worked %v later", time.Since(changed).Round(time.Millisecond))
			break
		}
		if time.Since(changed) > 10*time.Second {
			t.Fatalf("no connection to the internet within 10 s of the upstream MAC change (next hop %q, last %v %s)",
				c.Status().NextHops["edge"], res.Outcome, res.Detail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
