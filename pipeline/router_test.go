package pipeline

import (
	"maps"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/golden"
)

func compileExampleRouters(t *testing.T, in *intent.Intent, b map[string]uint32) []flows.Flow {
	t.Helper()
	fs, err := compileRouters(in, b, assignIDs(in, nil), nil)
	if err != nil {
		t.Fatalf("compileRouters: %v", err)
	}
	flows.Sort(fs)
	return fs
}

// TestRouterGolden pins the router stage of the worked example
// (docs/router.md explains every flow).
func TestRouterGolden(t *testing.T) {
	got := flowsText(compileExampleRouters(t, routerExample(), routerExampleBindings()))
	golden.Check(t, filepath.Join("testdata", "router_worked_example.golden"), []byte(got))
}

func TestRouterFlowsValidAndDeterministic(t *testing.T) {
	first := compileExampleRouters(t, routerExample(), routerExampleBindings())
	for _, f := range first {
		if err := f.Validate(); err != nil {
			t.Errorf("invalid flow %s: %v", f, err)
		}
	}
	if _, err := flows.Dedupe(append([]flows.Flow(nil), first...)); err != nil {
		t.Errorf("two router flows share (table, priority, match): %v", err)
	}
	second := compileExampleRouters(t, routerExample(), routerExampleBindings())
	if flowsText(first) != flowsText(second) {
		t.Error("compiling the same intent twice gave different flows")
	}
}

func TestDescribeRouterCookies(t *testing.T) {
	in := routerExample()
	r := &in.Routers[0]
	tests := []struct {
		obj  routerObject
		want string
	}{
		{routerFloatingIP(r, 0), "routers[edge].floating_ips[0] (192.0.2.11 <-> web1)"},
		{routerForward(r, 1), "routers[edge].port_forwards[1] (udp 192.0.2.10:5353 -> db1:53)"},
		{routerSNAT(r, 1), "routers[edge].snat[1] (masquerade lab -> 192.0.2.10:1024-65535)"},
		{routerNetwork(r, in.Network("tenant")), "routers[edge].networks[tenant] (gateway 10.0.0.1 on 10.0.0.0/24)"},
		{routerExternal(r), "routers[edge].external (uplink uplink, 192.0.2.10/24 via 192.0.2.1)"},
	}
	for _, tt := range tests {
		cookie := tt.obj.cookie(r.Name)
		if got := DescribeCookie(in, cookie); got != tt.want {
			t.Errorf("DescribeCookie(%#x) = %q, want %q", cookie, got, tt.want)
		}
	}
	// Every flow of the stage names an object of the intent.
	namer := NewCookieNamer(in)
	for _, f := range compileExampleRouters(t, in, routerExampleBindings()) {
		if k := cookieKind(f.Cookie); k != KindRouter && k != KindNAT {
			continue
		}
		if _, ok := namer.lookup(f.Cookie); !ok {
			t.Errorf("flow %s: cookie names no object of the intent", f)
		}
	}
	// Removing a floating IP leaves the other objects' cookies alone.
	before := routerForward(r, 0).cookie(r.Name)
	in.Routers[0].FloatingIPs = nil
	if after := routerForward(&in.Routers[0], 0).cookie(r.Name); after != before {
		t.Errorf("forward cookie changed from %#x to %#x when a floating IP was removed", before, after)
	}
}

func TestRouterZones(t *testing.T) {
	rs := []intent.Router{{Name: "edge"}, {Name: "core"}}
	z := routerZones(rs)
	if z["edge"].SNAT != z["edge"].DNAT+1 || z["edge"] == z["core"] {
		t.Fatalf("zones %+v: want distinct DNAT/SNAT pairs", z)
	}
	for name, rz := range z {
		for _, zone := range []uint16{rz.DNAT, rz.SNAT} {
			if zone < FirstRouterZone || zone > LastRouterZone {
				t.Errorf("router %s zone %#x outside the reserved range", name, zone)
			}
		}
	}
	// Adding a router keeps the zones (and connections) of the others.
	z2 := routerZones(append(rs, intent.Router{Name: "branch"}))
	if z2["edge"] != z["edge"] || z2["core"] != z["core"] {
		t.Errorf("adding a router moved zones: %+v -> %+v", z, z2)
	}
}

// Without gateway_mac the router learns its next hop: until the MAC is
// known the default route sends packets to the controller (which asks
// for it), and the gateway's ARP answers go up; once learned, the default
// route sets the learned MAC, as it sets a static one.
func TestRouterLearnsGatewayMAC(t *testing.T) {
	in := routerExample()
	in.Routers[0].External.GatewayMAC = nil
	b := routerExampleBindings()
	unknown, err := compileRouters(in, b, assignIDs(in, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	text := flowsText(unknown)
	for _, want := range []string{
		"table=94, priority=100,ip actions=CONTROLLER:64",
		"table=90, priority=310,arp,in_port=10,arp_spa=192.0.2.1,arp_op=2 actions=CONTROLLER:65535",
		"table=90, priority=310,arp,in_port=10,arp_spa=192.0.2.1,arp_tpa=192.0.2.1,arp_op=1 actions=CONTROLLER:65535",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("unresolved next hop: no flow %q in\n%s", want, text)
		}
	}
	learned, err := compileRouters(in, b, assignIDs(in, nil), NextHops{{Router: "edge"}: flows.MustMAC("02:00:c0:00:02:99")})
	if err != nil {
		t.Fatal(err)
	}
	if text := flowsText(learned); !strings.Contains(text, "set_field:02:00:c0:00:02:99->eth_dst") || strings.Contains(text, "priority=100,ip actions=CONTROLLER:64") {
		t.Errorf("learned next hop: want the default route to set it\n%s", text)
	}
	if got := InstalledNextHops(in, b, learned); got[NextHopKey{Router: "edge"}] != flows.MustMAC("02:00:c0:00:02:99") || len(got) != 1 {
		t.Errorf("InstalledNextHops = %v, want edge's learned MAC", got)
	}
	if got := InstalledNextHops(in, b, unknown); len(got) != 0 {
		t.Errorf("InstalledNextHops of an unresolved router = %v, want none", got)
	}
	q := NextHopQueries(in, b)
	if len(q) != 1 || q[0].Router != "edge" || q[0].Uplink != 10 || q[0].Gateway.String() != "192.0.2.1" {
		t.Errorf("NextHopQueries = %+v", q)
	}
	in.Routers[0].External.GatewayMAC = &[6]byte{2, 0, 0xc0, 0, 2, 1}
	if q := NextHopQueries(in, b); len(q) != 0 {
		t.Errorf("a static gateway_mac is not learned, got queries %+v", q)
	}
}

// Addresses of the uplink's own prefix are reached at their own MACs,
// which the controller learns as it learns the next hop's: until one is
// known, packets to it go up (the controller asks) and are dropped; the
// gateway's entry is the next hop's MAC. A static gateway_mac keeps the
// old way: everything to the gateway.
func TestRouterOnLinkNeighbours(t *testing.T) {
	in := routerExample()
	in.Routers[0].External.GatewayMAC = nil
	b := routerExampleBindings()
	gw, peer := flows.MustMAC("02:00:c0:00:02:01"), flows.MustMAC("02:00:c0:00:02:32")
	hops := NextHops{{Router: "edge"}: gw, {Router: "edge", Neighbour: netip.MustParseAddr("192.0.2.50")}: peer,
		{Router: "edge", Neighbour: netip.MustParseAddr("198.51.100.7")}: peer, // not on-link: ignored
		{Router: "other", Neighbour: netip.MustParseAddr("192.0.2.51")}:  peer} // another router's
	fs, err := CompileWith(in, b, hops)
	if err != nil {
		t.Fatal(err)
	}
	text := flowsText(fs)
	for _, want := range []string{
		"table=94, priority=124,ip,nw_dst=192.0.2.0/24 actions=dec_ttl,set_field:02:00:c0:00:02:0a->eth_src,set_field:0->reg6,goto_table:95",
		"table=95, priority=100,ip,reg6=0,nw_dst=192.0.2.1 actions=set_field:02:00:c0:00:02:01->eth_dst,goto_table:96",
		"table=95, priority=100,ip,reg6=0,nw_dst=192.0.2.50 actions=set_field:02:00:c0:00:02:32->eth_dst,goto_table:96",
		"table=95, priority=50,ip,reg6=0 actions=CONTROLLER:64,set_field:02:00:c0:00:02:01->eth_dst,goto_table:96",
		"table=95, priority=51,ip,reg6=0,in_port=10 actions=drop",
		"table=90, priority=309,arp,in_port=10,dl_dst=02:00:c0:00:02:0a,arp_spa=192.0.2.0/24,arp_op=2 actions=CONTROLLER:65535",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no flow %q in\n%s", want, text)
		}
	}
	for _, not := range []string{"nw_dst=198.51.100.7 actions=set_field", "nw_dst=192.0.2.51"} {
		if strings.Contains(text, not) {
			t.Errorf("a flow with %q: only the router's own on-link neighbours resolve\n%s", not, text)
		}
	}
	want := NextHops{{Router: "edge"}: gw, {Router: "edge", Neighbour: netip.MustParseAddr("192.0.2.50")}: peer}
	if got := InstalledNextHops(in, b, fs); !maps.Equal(got, want) {
		t.Errorf("InstalledNextHops = %v, want %v", got, want)
	}
	if k := (NextHopKey{Router: "edge", Neighbour: netip.MustParseAddr("192.0.2.50")}).String(); k != "edge/192.0.2.50" {
		t.Errorf("key %q", k)
	}
	in.Routers[0].External.GatewayMAC = (*[6]byte)(&gw)
	static, err := CompileWith(in, b, hops)
	if err != nil {
		t.Fatal(err)
	}
	if text := flowsText(static); strings.Contains(text, "nw_dst=192.0.2.0/24") || strings.Contains(text, "reg6=0,nw_dst") {
		t.Errorf("static gateway_mac: want no on-link route\n%s", text)
	}
}

// The IPv6 next hop is learned apart from the IPv4 one (it may be another
// router, or VRRP's IPv6 virtual MAC): neighbour advertisements for
// gateway6 go up, solicited or not, and the IPv6 default route waits for
// its own MAC, whatever the IPv4 one is.
func TestRouterLearnsGateway6MAC(t *testing.T) {
	in := routerExample()
	in.Networks[0].CIDR6, in.Networks[0].Gateway6 = netip.MustParsePrefix("fd00:10::/64"), netip.MustParseAddr("fd00:10::1")
	ext := &in.Routers[0].External
	ext.GatewayMAC, ext.IP6, ext.Gateway6 = nil, netip.MustParsePrefix("2001:db8:2::10/64"), netip.MustParseAddr("2001:db8:2::1")
	b := routerExampleBindings()
	v4 := flows.MustMAC("02:00:c0:00:02:01")
	v4only, err := compileRouters(in, b, assignIDs(in, nil), NextHops{{Router: "edge"}: v4})
	if err != nil {
		t.Fatal(err)
	}
	text := flowsText(v4only)
	for _, want := range []string{
		"table=94, priority=100,ipv6 actions=CONTROLLER:64",
		"table=94, priority=100,ip actions=dec_ttl,set_field:02:00:c0:00:02:0a->eth_src,set_field:02:00:c0:00:02:01->eth_dst",
		" priority=101,icmp6,in_port=10,icmp_type=136,icmp_code=0,nd_target=2001:db8:2::1 actions=set_field:0xfff0->reg0,goto_table:90",
		"table=90, priority=310,icmp6,in_port=10,icmp_type=136,icmp_code=0,nd_target=2001:db8:2::1 actions=CONTROLLER:65535",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("IPv4 next hop learned, IPv6 not: no flow %q in\n%s", want, text)
		}
	}
	v6 := flows.MustMAC("00:00:5e:00:02:01")
	both, err := compileRouters(in, b, assignIDs(in, nil), NextHops{{Router: "edge"}: v4, {Router: "edge", IPv6: true}: v6})
	if err != nil {
		t.Fatal(err)
	}
	if text := flowsText(both); !strings.Contains(text, "table=94, priority=100,ipv6 actions=dec_ttl,set_field:02:00:c0:00:02:0a->eth_src,set_field:00:00:5e:00:02:01->eth_dst") {
		t.Errorf("IPv6 next hop learned: want the IPv6 default route to set it\n%s", text)
	}
	want := NextHops{{Router: "edge"}: v4, {Router: "edge", IPv6: true}: v6}
	if got := InstalledNextHops(in, b, both); !maps.Equal(got, want) {
		t.Errorf("InstalledNextHops = %v, want %v", got, want)
	}
	q := NextHopQueries(in, b)
	if len(q) != 2 || q[1].Key() != (NextHopKey{Router: "edge", IPv6: true}) || q[1].IP.String() != "2001:db8:2::10" || q[1].Gateway.String() != "2001:db8:2::1" {
		t.Errorf("NextHopQueries = %+v, want edge's IPv4 and IPv6 next hops", q)
	}
	if k := q[1].Key().String(); k != "edge/ipv6" {
		t.Errorf("key %q", k)
	}
	// A link-local gateway6 is asked from the router's link-local address.
	ext.Gateway6 = netip.MustParseAddr("fe80::1")
	if q := NextHopQueries(in, b); len(q) != 2 || q[1].IP != linkLocal(flows.MAC(ext.MAC)) || q[1].Gateway != ext.Gateway6 {
		t.Errorf("NextHopQueries with a link-local gateway6 = %+v, want it asked from %v", q, linkLocal(flows.MAC(ext.MAC)))
	}
}

func TestRouterUnboundPorts(t *testing.T) {
	in := routerExample()
	fs := compileExampleRouters(t, in, map[string]uint32{"web1": 1})
	text := flowsText(fs)
	for _, absent := range []string{"in_port=10", "output:10", "nw_dst=10.0.0.21 "} {
		if strings.Contains(text, absent) {
			t.Errorf("unbound uplink/port: found %q in\n%s", absent, text)
		}
	}
	if !strings.Contains(text, "nw_dst=10.0.0.11 ") {
		t.Errorf("bound web1 has no neighbour flow:\n%s", text)
	}
}
