package controller_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/overlaylab"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
	"github.com/flowgate/flowgate/testbed"
)

// overlayLab is several testbed nodes (hypervisors), each with its own
// controller, sharing one intent and the port locations in an embedded
// etcd.
type overlayLab struct {
	t        *testing.T
	tb       *testbed.Testbed
	hosts    map[string]*testbed.Host
	where    map[string]string // host -> node
	operator *store.Store
	ctrls    map[string]*overlaylab.Controller
	nodes    map[string]*testbed.Node
	etcd     *storetest.Server
}

// overlayHost is a namespace to plug into a node: a port of the intent
// (or the router's uplink) with its MAC and addresses.
type overlayHost struct {
	name, node, mac, ip4, ip6 string
}

// newOverlayLab builds nodes hv1..hvN, the hosts on them, stores doc and
// starts a controller per node, waiting until each installed the intent.
func newOverlayLab(t *testing.T, nodes int, hosts []overlayHost, doc *intent.Document) (*overlayLab, int64) {
	return newOverlayLabOn(t, "192.168.100.%d/24", nodes, hosts, doc)
}

// newOverlayLabOn is newOverlayLab on an underlay of addresses
// fmt.Sprintf(underlay, 11), 12, ...
func newOverlayLabOn(t *testing.T, underlay string, nodes int, hosts []overlayHost, doc *intent.Document) (*overlayLab, int64) {
	ctx := context.Background()
	tb := testbed.New(t, testbed.Options{})
	etcd := storetest.Start(t, storetest.Options{})
	byName := map[string]*testbed.Node{}
	l := &overlayLab{t: t, tb: tb, hosts: map[string]*testbed.Host{}, where: map[string]string{}, ctrls: map[string]*overlaylab.Controller{}, nodes: byName}
	for i := range nodes {
		name := fmt.Sprintf("hv%d", i+1)
		n, err := tb.AddNode(ctx, name, testbed.NodeOpts{Underlay: netip.MustParsePrefix(fmt.Sprintf(underlay, 11+i))})
		if err != nil {
			t.Fatal(err)
		}
		byName[name] = n
	}
	for _, oh := range hosts {
		mac, _ := net.ParseMAC(oh.mac)
		opts := testbed.HostOpts{MAC: mac}
		if oh.ip4 != "" {
			opts.IPv4 = netip.MustParsePrefix(oh.ip4)
		}
		if oh.ip6 != "" {
			opts.IPv6 = netip.MustParsePrefix(oh.ip6)
		}
		h, err := tb.AddHost(ctx, oh.name, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, byName[oh.node].IntegrationBridge()); err != nil {
			t.Fatal(err)
		}
		for _, port := range []uint16{22, 3306, 8080} {
			if _, err := h.ServeTCP(port); err != nil {
				t.Fatal(err)
			}
		}
		l.hosts[oh.name], l.where[oh.name] = h, oh.node
	}
	l.operator, l.etcd = openEtcd(t, etcd), etcd
	rev, err := l.operator.Put(ctx, doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range byName {
		l.ctrls[name] = overlaylab.Start(t, n, openEtcd(t, etcd))
	}
	return l, rev
}

// halt stops the controller on node (once).
func (l *overlayLab) halt(node string) { l.ctrls[node].Halt() }

func (l *overlayLab) probe(from string, dst netip.Addr, port uint16) testbed.Result {
	l.t.Helper()
	res, err := testbed.TCPConnect(context.Background(), l.hosts[from], dst, port)
	if err != nil {
		l.t.Fatal(err)
	}
	return res
}

func (l *overlayLab) addr(host string, v6 bool) netip.Addr {
	if v6 {
		return l.hosts[host].IP6()
	}
	return l.hosts[host].IP4()
}

// expect probes from -> dst:port; seen, when valid, is the source the
// server must have seen (NAT).
func (l *overlayLab) expect(from string, dst netip.Addr, port uint16, want testbed.Outcome, seen netip.Addr) {
	l.t.Helper()
	res := l.probe(from, dst, port)
	if res.Outcome != want || want == testbed.OK && seen.IsValid() && res.Seen.Addr() != seen {
		l.t.Errorf("%s (%s) -> %s:%d: %s (%s), seen from %v; want %s (seen from %v)", from, l.where[from], dst, port,
			res.Outcome, res.Detail, res.Seen, want, seen)
	}
}

// waitReach waits until from reaches dst:port (every controller has seen
// the others' ports).
func (l *overlayLab) waitReach(from string, dst netip.Addr, port uint16) {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.probe(from, dst, port).Outcome != testbed.OK {
		if time.Now().After(deadline) {
			overlaylab.DumpHit(l.t, l.nodes)
			l.t.Fatalf("%s never reached %s:%d across the overlay", from, dst, port)
		}
	}
}

var workedHosts = []overlayHost{
	{"web1", "hv1", "02:00:0a:00:00:0b", "10.0.0.11/24", "fd00:10::11/64"},
	{"web2", "hv2", "02:00:0a:00:00:0c", "10.0.0.12/24", "fd00:10::12/64"},
	{"db1", "hv3", "02:00:0a:00:00:15", "10.0.0.21/24", "fd00:10::21/64"},
}

// TestOverlayAcrossHostsOnOVS: the worked example over three hosts
// (web1 on hv1, web2 on hv2, db1 on hv3), a controller per host reading
// one intent from etcd and publishing its ports' locations there. The
// groups hold across hosts over Geneve, IPv4 and IPv6; web2 joining
// group web on hv2 is in force on every host within a second of the etcd
// write; a controller that stops leaves every host's traffic flowing.
func TestOverlayAcrossHostsOnOVS(t *testing.T) {
	// web2 starts in group db: db1 lets only group web in on 3306.
	doc := storeDoc(t, func(s string) string {
		return strings.Replace(s, `ips: [10.0.0.12, "fd00:10::12"], security_groups: [web]}`, `ips: [10.0.0.12, "fd00:10::12"], security_groups: [db]}`, 1)
	})
	l, rev := newOverlayLab(t, 3, workedHosts, doc)
	l.waitReach("web1", l.addr("db1", false), 3306)
	for _, c := range []struct {
		from, to string
		v6       bool
		port     uint16
		want     testbed.Outcome
	}{
		{"web1", "db1", true, 3306, testbed.OK},
		{"db1", "web1", false, 8080, testbed.OK},
		{"db1", "web2", true, 8080, testbed.TimedOut}, // web2 is in group db now: no 8080 in
		{"web2", "db1", false, 3306, testbed.TimedOut},
		{"web1", "db1", false, 22, testbed.TimedOut},
		{"web1", "web2", false, 22, testbed.TimedOut},
	} {
		l.expect(c.from, l.addr(c.to, c.v6), c.port, c.want, netip.Addr{})
	}

	// web2 joins group web (on hv2): every host has the change in force
	// within a second of the etcd write, and db1's host lets web2 in.
	written := time.Now()
	rev2, err := l.operator.Put(context.Background(), storeDoc(t, nil), rev)
	if err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	for name, r := range l.ctrls {
		for r.Status().IntentRevision != rev2 {
			if time.Since(written) > 10*time.Second {
				t.Fatalf("%s never applied revision %d", name, rev2)
			}
			time.Sleep(2 * time.Millisecond)
		}
		slowest = max(slowest, time.Since(written))
	}
	t.Logf("web2 joined group web on hv2: in force on all three hosts %v after the etcd write", slowest.Round(time.Millisecond))
	if slowest > time.Second {
		t.Errorf("the change reached the last host %v after the write, want within 1 s", slowest)
	}
	// The datapath's cached drop for web2 goes when the revalidators
	// next run.
	l.waitReach("web2", l.addr("db1", false), 3306)

	// etcd stops for 10 s: every host keeps its flows (fail static), what
	// was allowed stays allowed and what was forbidden stays forbidden;
	// when etcd is back nothing was lost.
	flowsOn := func() map[string]string {
		out := map[string]string{}
		for name, n := range l.nodes {
			dump, err := n.OVS().Ofctl(context.Background(), "-O", "OpenFlow13", "dump-flows", testbed.IntegrationBridge, "--no-stats")
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(dump, "\n")
			slices.Sort(lines)
			out[name] = strings.Join(lines, "\n")
		}
		return out
	}
	before := flowsOn()
	l.etcd.Stop()
	stopped := time.Now()
	for time.Since(stopped) < 10*time.Second {
		l.expect("web2", l.addr("db1", false), 3306, testbed.OK, netip.Addr{})
		l.expect("web1", l.addr("db1", false), 22, testbed.TimedOut, netip.Addr{})
		l.expect("db1", l.addr("web2", true), 3306, testbed.TimedOut, netip.Addr{})
	}
	l.etcd.Restart()
	for name, r := range l.ctrls {
		deadline := time.Now().Add(15 * time.Second)
		for sc := r.Status().StoreConnected; sc == nil || !*sc; sc = r.Status().StoreConnected {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not reconnect to etcd", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond) // the resyncs apply (nothing, if nothing was lost)
	if after := flowsOn(); !maps.Equal(after, before) {
		for name := range before {
			if after[name] != before[name] {
				t.Errorf("%s's flows changed while etcd was away and back:\nbefore\n%s\nafter\n%s", name, before[name], after[name])
			}
		}
	}
	l.expect("web2", l.addr("db1", false), 3306, testbed.OK, netip.Addr{})

	// web1 moves from hv1 to hv3 (a VM migrating, same MAC and
	// addresses): hv3 publishes it, hv1 withdraws it, and every host's
	// traffic follows it; its groups go with it.
	ctx := context.Background()
	moved := time.Now()
	if err := l.tb.Unlink(ctx, l.hosts["web1"]); err != nil {
		t.Fatal(err)
	}
	if err := l.tb.Link(ctx, l.hosts["web1"], l.nodes["hv3"].IntegrationBridge()); err != nil {
		t.Fatal(err)
	}
	l.where["web1"] = "hv3"
	l.waitReach("web2", l.addr("web1", false), 8080)
	t.Logf("web1 moved from hv1 to hv3: web2 (hv2) reaches it there %v after the re-plug", time.Since(moved).Round(time.Millisecond))
	l.expect("web1", l.addr("db1", false), 3306, testbed.OK, netip.Addr{}) // now beside db1, still in group web
	l.expect("web1", l.addr("db1", true), 3306, testbed.OK, netip.Addr{})
	l.expect("web1", l.addr("db1", false), 22, testbed.TimedOut, netip.Addr{})
	l.expect("db1", l.addr("web1", true), 8080, testbed.OK, netip.Addr{})
	l.expect("web2", l.addr("web1", false), 22, testbed.TimedOut, netip.Addr{})
	if ov := l.ctrls["hv2"].Status().Overlay; ov == nil || ov.Hosts["hv1"].Ports != 0 || ov.Hosts["hv3"].Ports != 2 {
		t.Errorf("hv2's view after the move: %+v, want web1 and db1 on hv3, nothing on hv1", ov)
	}

	// hv1's controller stops: everyone's traffic keeps flowing on the
	// installed flows.
	l.halt("hv1")
	l.expect("web1", l.addr("db1", false), 3306, testbed.OK, netip.Addr{})
	l.expect("web2", l.addr("db1", false), 3306, testbed.OK, netip.Addr{})
	l.expect("db1", l.addr("web1", false), 8080, testbed.OK, netip.Addr{})
}

// TestOverlayRouterOnItsUplinksHostOnOVS: the router of the worked
// example (examples/intent.yaml) runs on hv2, where its uplink is bound
// (the outside world is a host there, 192.0.2.1, the router's next hop);
// web1 on hv1 and db1 on hv3 reach the outside and are reached through
// it across the overlay, with the same NAT as on one host.
func TestOverlayRouterOnItsUplinksHostOnOVS(t *testing.T) {
	l := newRouterLab(t, "192.168.100.%d/24")
	outside, masquerade, floating := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	l.expect("db1", outside, 8080, testbed.OK, masquerade)               // hv3 -> the router on hv2: masquerade
	l.expect("web1", outside, 8080, testbed.OK, floating)                // hv1: SNAT to its floating IP
	l.expect("uplink", floating, 8080, testbed.OK, outside)              // the outside -> web1 on hv1 through its floating IP
	l.expect("uplink", masquerade, 2222, testbed.TimedOut, netip.Addr{}) // db1:22 only from the admin network
	l.expect("web1", l.addr("db1", false), 3306, testbed.OK, netip.Addr{})

	// /v1/status: each host's view of the overlay.
	for node, want := range map[string]string{"hv1": "hv2", "hv2": "here", "hv3": "hv2"} {
		ov := l.ctrls[node].Status().Overlay
		if ov == nil || ov.Host != node || !ov.Published || ov.Routers["edge"] != want || len(ov.Hosts) != 2 {
			t.Errorf("%s's status overlay: %+v; want router edge %s, published, two other hosts", node, ov, want)
			continue
		}
		if h := ov.Hosts["hv2"]; node != "hv2" && (h.Ports != 2 || h.TunnelIP != "192.168.100.12") {
			t.Errorf("%s sees hv2 as %+v, want 2 ports (web2, uplink) at 192.168.100.12", node, h)
		}
	}
}

// TestOverlayIPv6UnderlayOnOVS: the example's router on hv2 with the
// hosts' tunnel endpoints IPv6 (fd00:100::11 and up): the controllers
// publish IPv6 endpoints and the overlay carries everything it carries
// over IPv4 — the groups, NAT to and from the outside through the router
// on another host, and the longest path, a hairpin to a floating IP from
// a third host.
func TestOverlayIPv6UnderlayOnOVS(t *testing.T) {
	l := newRouterLab(t, "fd00:100::%d/64")
	outside, masquerade, floating := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	l.expect("db1", outside, 8080, testbed.OK, masquerade)  // hv3 -> the router on hv2
	l.expect("uplink", floating, 8080, testbed.OK, outside) // the outside -> web1 on hv1
	l.expect("db1", floating, 8080, testbed.OK, masquerade) // hv3 -> hv2 -> hv1, hairpinned
	l.expect("web1", l.addr("db1", false), 3306, testbed.OK, netip.Addr{})
	l.expect("web1", l.addr("db1", true), 3306, testbed.OK, netip.Addr{})
	l.expect("web1", l.addr("db1", false), 22, testbed.TimedOut, netip.Addr{})
	if ov := l.ctrls["hv1"].Status().Overlay; ov == nil || ov.TunnelIP != "fd00:100::11" || ov.Hosts["hv2"].TunnelIP != "fd00:100::12" {
		t.Errorf("hv1's status overlay: %+v, want IPv6 endpoints", ov)
	}
	out, err := l.nodes["hv1"].OVS().Appctl(context.Background(), "dpctl/dump-flows")
	if err != nil || !strings.Contains(out, "ipv6(src=fd00:100::11") {
		t.Errorf("hv1's datapath pushes no IPv6 tunnel header:\n%s", out)
	}
}

// newRouterLab is the worked example (examples/intent.yaml) on three
// hosts of an underlay of addresses fmt.Sprintf(underlay, 11), 12, 13,
// its router's uplink on hv2 with the outside world there (192.0.2.1,
// the router's next hop), the tenant hosts routing through the router,
// and db1 already reaching the outside.
func newRouterLab(t *testing.T, underlay string) *overlayLab {
	data, err := os.ReadFile("../examples/intent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := intent.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	hosts := append(workedHosts[:len(workedHosts):len(workedHosts)],
		overlayHost{"uplink", "hv2", "02:00:c0:00:02:01", "192.0.2.1/24", ""})
	l, _ := newOverlayLabOn(t, underlay, 3, hosts, doc)
	for _, h := range workedHosts {
		if _, err := l.hosts[h.name].Exec(context.Background(), "ip", "route", "add", "default", "via", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	l.waitReach("db1", netip.MustParseAddr("192.0.2.1"), 8080)
	return l
}

func openEtcd(t *testing.T, srv *storetest.Server) *store.Store {
	t.Helper()
	s, err := store.Open(store.Config{URL: srv.URL(), Health: 200 * time.Millisecond, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestOverlayMatrixSameAsOneHostOnOVS: the worked example
// (examples/intent.yaml, with its router, NAT and service, and one more
// port forward, 192.0.2.10:8081 to web1:8080) gives the same reachability
// matrices — ICMP, tcp/22, tcp/80 to the service, tcp/8080 (floating IP
// and forward included), tcp/3306, IPv4 and IPv6, NAT addresses seen
// included — when web1, web2 and db1 are spread over three hosts (the
// router on a fourth host, named by routers[].host) as when all of them
// and the uplink share one host. The hairpins through the router from a
// host other than the router's (to a floating IP and to a forward) are
// checked by name too: they are the longest paths (a tunnel and six
// conntrack passes).
func TestOverlayMatrixSameAsOneHostOnOVS(t *testing.T) {
	raw, err := os.ReadFile("../examples/intent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	forward := "      - {protocol: tcp, ip: 192.0.2.10, external_port: 2222, port: db1, internal_port: 22}\n"
	if !strings.Contains(string(raw), forward) {
		t.Fatal("examples/intent.yaml has no forward 2222 -> db1:22 any more")
	}
	data := []byte(strings.Replace(string(raw), forward,
		forward+"      - {protocol: tcp, ip: 192.0.2.10, external_port: 8081, port: web1, internal_port: 8080}\n", 1))
	ctx := context.Background()
	matrices := func(nodes int, where map[string]string, gatewayHost string) []string {
		text := string(data)
		if gatewayHost != "" {
			text = strings.Replace(text, "  - name: edge\n", "  - name: edge\n    host: "+gatewayHost+"\n", 1)
		}
		doc, err := intent.Decode([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		var hosts []overlayHost
		for _, h := range append(workedHosts[:len(workedHosts):len(workedHosts)],
			overlayHost{"uplink", "", "02:00:c0:00:02:01", "192.0.2.1/24", ""}) {
			h.node = where[h.name]
			hosts = append(hosts, h)
		}
		l, _ := newOverlayLab(t, nodes, hosts, doc)
		var tenant, all []*testbed.Host
		for _, h := range []string{"web1", "web2", "db1"} {
			if _, err := l.hosts[h].Exec(ctx, "ip", "route", "add", "default", "via", "10.0.0.1"); err != nil {
				t.Fatal(err)
			}
			tenant = append(tenant, l.hosts[h])
		}
		// The outside reaches the tenant addresses through the router
		// too, so that groups, not the lack of a route, decide.
		if _, err := l.hosts["uplink"].Exec(ctx, "ip", "route", "add", "10.0.0.0/24", "via", "192.0.2.10"); err != nil {
			t.Fatal(err)
		}
		all = append(tenant, l.hosts["uplink"])
		l.waitReach("db1", netip.MustParseAddr("192.0.2.1"), 8080)
		cols := append(testbed.HostColumns(all),
			testbed.Column{Label: "192.0.2.11", Addr: netip.MustParseAddr("192.0.2.11")},
			testbed.Column{Label: "10.0.0.100:80", Addr: netip.MustParseAddr("10.0.0.100"), Port: 80},
			testbed.Column{Label: "192.0.2.10:8081", Addr: netip.MustParseAddr("192.0.2.10"), Port: 8081})
		grids := []testbed.Grid{
			// The router's own addresses answer ping from every host.
			{Probe: testbed.PingProbe(testbed.IPv4), Rows: testbed.HostRows(all), Cols: append(cols[:5:5],
				testbed.Column{Label: "10.0.0.1", Addr: netip.MustParseAddr("10.0.0.1")},
				testbed.Column{Label: "192.0.2.10", Addr: netip.MustParseAddr("192.0.2.10")})},
			{Probe: testbed.TCPProbe(testbed.IPv4, 22), Rows: testbed.HostRows(all), Cols: cols[:5]},
			{Probe: testbed.TCPProbe(testbed.IPv4, 8080), Rows: testbed.HostRows(all), Cols: cols},
			{Probe: testbed.TCPProbe(testbed.IPv4, 3306), Rows: testbed.HostRows(all), Cols: cols[:4]},
			{Probe: testbed.TCPProbe(testbed.IPv6, 3306), Rows: testbed.HostRows(tenant), Cols: testbed.HostColumns(tenant)},
			{Probe: testbed.TCPProbe(testbed.IPv6, 8080), Rows: testbed.HostRows(tenant), Cols: testbed.HostColumns(tenant)},
		}
		// A backend's connection to its own service may land on itself
		// (and then sees the service address): not a stable cell.
		grids[2].Skip = func(i, j int) bool { return i == j || j == 5 && i < 2 }
		tables, err := testbed.ProbeGrids(ctx, grids...)
		if err != nil {
			t.Fatal(err)
		}
		// The hairpins: web1 (hv1) to its own floating IP and forward,
		// db1 (hv3) to both; web1 sees the router's address.
		for _, row := range []int{0, 2} {
			for _, col := range []int{4, 6} {
				if c := tables[2].Cells[row][col]; c != "192.0.2.10" {
					t.Errorf("%d hosts: %s -> %s: %s, want reached from 192.0.2.10 (hairpin SNAT)", nodes,
						tables[2].Rows[row], tables[2].Cols[col], c)
				}
			}
		}
		var out []string
		for _, tab := range tables {
			out = append(out, tab.String())
		}
		// IPv6 from the router: each port resolves the gateway6 (the
		// controller of the port's host answers), pings it and has a
		// default route from the router's advertisements.
		for _, h := range []string{"web1", "web2", "db1"} {
			ping6, err := testbed.Ping(ctx, l.hosts[h], netip.MustParseAddr("fd00:10::1"))
			if err != nil {
				t.Fatal(err)
			}
			neigh, _ := l.hosts[h].Exec(ctx, "ip", "-6", "neigh", "show", "fd00:10::1")
			ra := ""
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if routes, _ := l.hosts[h].Exec(ctx, "ip", "-6", "route", "show", "default", "proto", "ra"); strings.Contains(routes, "via fe80::") {
					ra = "default route from the router's advertisement"
					break
				}
			}
			mac := "no MAC"
			if f := strings.Fields(neigh); slices.Contains(f[:max(len(f)-1, 0)], "lladdr") {
				mac = f[slices.Index(f, "lladdr")+1]
			}
			// traceroute to the outside: the router is hop 1 from every
			// host (the time exceeded comes from the sender's host when
			// the router runs on another).
			trace, err := l.hosts[h].Exec(ctx, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "3", "192.0.2.1")
			if err != nil {
				t.Fatalf("traceroute: %v\n%s", err, trace)
			}
			var hops []string
			for _, line := range strings.Split(trace, "\n")[1:] {
				if f := strings.Fields(line); len(f) >= 2 {
					hops = append(hops, f[0]+" "+f[1])
				}
			}
			out = append(out, fmt.Sprintf("%s: fd00:10::1 at %s, ping6 %s; %s; traceroute 192.0.2.1: %s", h, mac, ping6.Outcome, ra,
				strings.Join(hops, ", ")))
		}
		return out
	}
	one := matrices(1, map[string]string{"web1": "hv1", "web2": "hv1", "db1": "hv1", "uplink": "hv1"}, "")
	// The router on a fourth host, the gateway host its intent names.
	three := matrices(4, map[string]string{"web1": "hv1", "web2": "hv2", "db1": "hv3", "uplink": "hv4"}, "hv4")
	for i := range one {
		t.Logf("one host:\n%s\nthree hosts:\n%s", one[i], three[i])
		if one[i] != three[i] {
			t.Errorf("matrix %d differs between one host and three", i)
		}
	}
}
