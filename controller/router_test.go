package controller_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/testbed"
)

// routed6Intent is two networks a router routes IPv6 between, lab
// IPv6-only, with groups open to anything IPv6, so that only routing
// decides.
const routed6Intent = `bridge: br-int
networks:
  - {name: tenant, cidr: 10.0.0.0/24, gateway: 10.0.0.1, cidr6: "fd00:10::/64", gateway6: "fd00:10::1"}
  - {name: lab, cidr6: "fd00:11::/64", gateway6: "fd00:11::1"}
ports:
  - {name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11, "fd00:10::11"], security_groups: [open]}
  - {name: lab1, network: lab, mac: "02:00:0a:00:01:05", ips: ["fd00:11::5"], security_groups: [open]}
security_groups:
  - name: open
    rules:
      - {direction: ingress, protocol: any, ethertype: ipv6}
      - {direction: egress, protocol: any, ethertype: ipv6}
routers:
  - name: edge
    host: ROUTERHOST
    networks: [tenant, lab]
    external: {port: uplink, mac: "02:00:c0:00:02:0a", ip: 192.0.2.10/24, gateway: 192.0.2.1, gateway_mac: "02:00:c0:00:02:01"}
`

// TestIPv6TracerouteOnOVS: a routed IPv6 packet whose hop limit runs out
// at the router gets an ICMPv6 time exceeded from the router's gateway6
// on the sender's network (the controller makes it from dec_ttl's
// invalid-TTL packet-in), so traceroute6 shows the router as hop 1 and
// the destination as hop 2, both ways. The hosts resolve the gateways by
// the controller's neighbour advertisements, on the IPv6-only network
// too. The same on two hosts of an
// overlay with the router on lab1's: web1's packets expire on web1's
// host (its controller answers), lab1's at the router.
func TestIPv6TracerouteOnOVS(t *testing.T) {
	for _, c := range []struct {
		name              string
		nodes             int
		lab1Host, routeAt string
	}{
		{"one host", 1, "hv1", "hv1"},
		{"router on the other host", 2, "hv2", "hv2"},
	} {
		t.Run(c.name, func(t *testing.T) { traceroute6(t, c.nodes, c.lab1Host, c.routeAt) })
	}
}

func traceroute6(t *testing.T, nodes int, lab1Host, routerHost string) {
	doc, err := intent.Decode([]byte(strings.Replace(routed6Intent, "ROUTERHOST", routerHost, 1)))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := newOverlayLab(t, nodes, []overlayHost{
		{"web1", "hv1", "02:00:0a:00:00:0b", "10.0.0.11/24", "fd00:10::11/64"},
		{"lab1", lab1Host, "02:00:0a:00:01:05", "", "fd00:11::5/64"},
	}, doc)
	ctx := context.Background()
	paths := []struct{ from, to, other, via string }{
		{"web1", "fd00:11::5", "fd00:11::/64", "fd00:10::1"},
		{"lab1", "fd00:10::11", "fd00:10::/64", "fd00:11::1"},
	}
	// Each host routes the other network through its gateway (both
	// before the first probe: the answer from hop 2 needs the way back).
	for _, c := range paths {
		if _, err := l.hosts[c.from].Exec(ctx, "ip", "-6", "route", "add", c.other, "via", c.via); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range paths {
		out, err := l.hosts[c.from].Exec(ctx, "traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "3", c.to)
		if err != nil {
			t.Fatalf("traceroute6: %v\n%s", err, out)
		}
		t.Logf("traceroute6 from %s:\n%s", c.from, out)
		for _, hop := range []string{" 1  " + c.via + " ", " 2  " + c.to + " "} {
			if !strings.Contains(out, hop) {
				t.Errorf("traceroute6 %s -> %s: no hop %q", c.from, c.to, strings.TrimSpace(hop))
			}
		}
	}
}

// TestIPv6NextHopLearnedOnOVS: a router without gateway_mac learns its
// IPv6 next hop by neighbour solicitation, apart from its IPv4 one. The
// outside router first answers both families at one MAC; then its IPv6
// moves to a MAC of its own (as VRRP's IPv6 group has), and IPv6 at the
// old MAC is dropped: web1 keeps reaching the outside over IPv6 only
// because the next refresh learned the new MAC for gateway6, while the
// IPv4 next hop stays where it is. With a global gateway6, and with a
// link-local one (the outside's eth0 address from its MAC), which the
// router asks from its own link-local address.
func TestIPv6NextHopLearnedOnOVS(t *testing.T) {
	for _, gw6 := range []string{"2001:db8:2::1", "fe80::c0ff:fe00:201"} {
		t.Run(gw6, func(t *testing.T) { ipv6NextHopLearned(t, gw6) })
	}
}

func ipv6NextHopLearned(t *testing.T, gw6 string) {
	doc, err := intent.Decode([]byte(`bridge: br-int
networks:
  - {name: tenant, cidr: 10.0.0.0/24, gateway: 10.0.0.1, cidr6: "fd00:10::/64", gateway6: "fd00:10::1"}
ports:
  - {name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11, "fd00:10::11"], security_groups: [open]}
security_groups:
  - name: open
    rules:
      - {direction: egress, protocol: any, ethertype: ipv6}
      - {direction: egress, protocol: any}
routers:
  - name: edge
    networks: [tenant]
    external: {port: uplink, mac: "02:00:c0:00:02:0a", ip: 192.0.2.10/24, gateway: 192.0.2.1,
               ip6: "2001:db8:2::10/64", gateway6: "` + gw6 + `"}
`))
	if err != nil {
		t.Fatal(err)
	}
	l := newUplinkLab(t, doc, true)
	out := l.hosts["uplink"]
	run(t, out, []string{"ip", "-6", "route", "add", "fd00:10::/64", "via", "2001:db8:2::10"})
	run(t, l.hosts["web1"], []string{"ip", "-6", "route", "add", "2001:db8:2::/64", "via", "fd00:10::1"})
	c := l.ctrls["hv1"]
	waitNextHop := func(key, want string) {
		t.Helper()
		start := time.Now()
		for c.Status().NextHops[key] != want {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("next hops %v; want %s at %s", c.Status().NextHops, key, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("next hop %s at %s (%v after we looked)", key, want, time.Since(start).Round(time.Millisecond))
	}
	waitNextHop("edge", "02:00:c0:00:02:01")
	waitNextHop("edge/ipv6", "02:00:c0:00:02:01")
	outside := netip.MustParseAddr("2001:db8:2::1")
	l.waitReach("web1", outside, 8080)
	l.expect("web1", outside, 8080, testbed.OK, netip.MustParseAddr("fd00:10::11")) // routed, not translated

	// The outside's IPv6 moves to a MAC of its own; eth0 drops IPv6.
	moved := time.Now()
	run(t, out,
		[]string{"ip", "link", "add", "v6", "link", "eth0", "address", "00:00:5e:00:02:01", "type", "macvlan", "mode", "private"},
		[]string{"sysctl", "-qw", "net.ipv4.conf.v6.arp_ignore=1"}, // 192.0.2.1 stays at eth0's MAC
		[]string{"ip", "link", "set", "v6", "up"},
		[]string{"sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"},
		[]string{"ip", "-6", "addr", "add", "2001:db8:2::1/64", "dev", "v6", "nodad"},
		[]string{"ip", "-6", "addr", "add", "fe80::c0ff:fe00:201/64", "dev", "v6", "nodad"},
		[]string{"ip", "-6", "route", "replace", "fd00:10::/64", "via", "2001:db8:2::10", "dev", "v6"},
	)
	waitNextHop("edge/ipv6", "00:00:5e:00:02:01")
	l.waitReach("web1", outside, 8080)
	t.Logf("IPv6 next hop moved: web1 reaches the outside again %v after the move", time.Since(moved).Round(time.Millisecond))
	if got := c.Status().NextHops["edge"]; got != "02:00:c0:00:02:01" {
		t.Errorf("IPv4 next hop %s after the IPv6 one moved; want it unchanged", got)
	}
	l.expect("web1", netip.MustParseAddr("192.0.2.1"), 8080, testbed.OK, netip.MustParseAddr("10.0.0.11")) // IPv4 still at eth0's MAC
}

// newUplinkLab is one node with web1 (10.0.0.11, and fd00:10::11 with
// v6) and the router's uplink, where the outside's gateway is (192.0.2.1,
// and 2001:db8:2::1 with v6, MAC 02:00:c0:00:02:01), a controller
// running doc (router edge, external 192.0.2.10, no SNAT); each routes
// the other's IPv4 through the router.
func newUplinkLab(t *testing.T, doc *intent.Document, v6 bool) *overlayLab {
	t.Helper()
	web1 := overlayHost{"web1", "hv1", "02:00:0a:00:00:0b", "10.0.0.11/24", ""}
	uplink := overlayHost{"uplink", "hv1", "02:00:c0:00:02:01", "192.0.2.1/24", ""}
	if v6 {
		web1.ip6, uplink.ip6 = "fd00:10::11/64", "2001:db8:2::1/64"
	}
	l, _ := newOverlayLab(t, 1, []overlayHost{web1, uplink}, doc)
	run(t, l.hosts["uplink"], []string{"ip", "route", "add", "10.0.0.0/24", "via", "192.0.2.10"}) // no SNAT: routed as is
	run(t, l.hosts["web1"], []string{"ip", "route", "add", "default", "via", "10.0.0.1"})
	return l
}

// run runs each command in h, failing the test on the first error.
func run(t *testing.T, h *testbed.Host, cmds ...[]string) {
	t.Helper()
	for _, cmd := range cmds {
		if out, err := h.Exec(context.Background(), cmd...); err != nil {
			t.Fatalf("%s: %v: %v\n%s", h.Name(), cmd, err, out)
		}
	}
}

// TestOnLinkNeighbourOnOVS: a router that learns its next hop reaches a
// host beside it on the outside segment (192.0.2.50) at that host's own
// MAC, which the controller learns by ARP when the first packet to it
// comes up, instead of sending it to the gateway (192.0.2.1), which does
// not route it back onto the segment. Beyond the segment everything
// still goes through the gateway.
func TestOnLinkNeighbourOnOVS(t *testing.T) {
	doc, err := intent.Decode([]byte(`bridge: br-int
networks:
  - {name: tenant, cidr: 10.0.0.0/24, gateway: 10.0.0.1}
ports:
  - {name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11], security_groups: [open]}
security_groups:
  - name: open
    rules:
      - {direction: egress, protocol: any}
routers:
  - name: edge
    networks: [tenant]
    external: {port: uplink, mac: "02:00:c0:00:02:0a", ip: 192.0.2.10/24, gateway: 192.0.2.1}
`))
	if err != nil {
		t.Fatal(err)
	}
	l := newUplinkLab(t, doc, false)
	ctx := context.Background()
	gw := l.hosts["uplink"]
	// The outside segment: a Linux bridge in the gateway's namespace
	// joins its link to the router with a link to a peer host. The
	// gateway does not forward (a fresh namespace's default), and it has
	// an address beyond the segment, 198.51.100.7, reached through it.
	peer, err := l.tb.AddHost(ctx, "peer", testbed.HostOpts{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, gw,
		[]string{"ip", "link", "add", "seg", "type", "bridge"},
		[]string{"ip", "addr", "del", "192.0.2.1/24", "dev", "eth0"},
		[]string{"ip", "link", "set", "eth0", "master", "seg"},
		[]string{"ip", "link", "add", "p0", "type", "veth", "peer", "name", "eth0", "netns", peer.Netns()},
		[]string{"ethtool", "-K", "p0", "tx", "off"},
		[]string{"ip", "link", "set", "p0", "master", "seg", "up"},
		[]string{"ip", "link", "set", "seg", "address", "02:00:c0:00:02:01", "up"},
		[]string{"ip", "addr", "add", "192.0.2.1/24", "dev", "seg"},
		[]string{"ip", "addr", "add", "198.51.100.7/32", "dev", "lo"},
		[]string{"ip", "route", "replace", "10.0.0.0/24", "via", "192.0.2.10"}, // went with eth0's address
	)
	run(t, peer,
		[]string{"ethtool", "-K", "eth0", "tx", "off"},
		[]string{"ip", "link", "set", "eth0", "address", "02:00:c0:00:02:32", "up"},
		[]string{"ip", "addr", "add", "192.0.2.50/24", "dev", "eth0"},
		[]string{"ip", "route", "add", "10.0.0.0/24", "via", "192.0.2.10"},
	)
	if _, err := peer.ServeTCP(8080); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	l.waitReach("web1", netip.MustParseAddr("192.0.2.50"), 8080)
	t.Logf("web1 reached its on-link neighbour 192.0.2.50 %v after the first try", time.Since(start).Round(time.Millisecond))
	l.expect("web1", netip.MustParseAddr("192.0.2.50"), 8080, testbed.OK, netip.MustParseAddr("10.0.0.11"))
	l.expect("web1", netip.MustParseAddr("198.51.100.7"), 8080, testbed.OK, netip.MustParseAddr("10.0.0.11")) // beyond: through the gateway
	l.expect("web1", netip.MustParseAddr("192.0.2.1"), 8080, testbed.OK, netip.MustParseAddr("10.0.0.11"))
	c := l.ctrls["hv1"]
	if got := c.Status().NextHops; got["edge"] != "02:00:c0:00:02:01" || got["edge/192.0.2.50"] != "02:00:c0:00:02:32" {
		t.Errorf("next hops %v; want edge at the gateway's MAC and edge/192.0.2.50 at the peer's", got)
	}
	flows, err := l.nodes["hv1"].OVS().Ofctl(ctx, "-O", "OpenFlow13", "dump-flows", testbed.IntegrationBridge, "table=95", "--no-stats")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(flows, "reg6=0,nw_dst=192.0.2.50 actions=set_field:02:00:c0:00:02:32->eth_dst") {
		t.Errorf("table 95 does not resolve 192.0.2.50 to the peer's MAC:\n%s", flows)
	}

	// While a new on-link address is asked for, its packets go on to the
	// gateway as before: one that routes back onto the segment loses
	// nothing (the first SYN is answered), and the MAC is learned anyway.
	run(t, gw, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1"})
	run(t, peer, []string{"ip", "addr", "add", "192.0.2.51/24", "dev", "eth0"})
	start = time.Now()
	res, err := testbed.TCPConnect(ctx, l.hosts["web1"], netip.MustParseAddr("192.0.2.51"), 8080)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("web1 -> 192.0.2.51 (new, through the forwarding gateway meanwhile): %s in %v", res.Outcome, took)
	if res.Outcome != testbed.OK || took >= synRetransmit {
		t.Errorf("web1 -> 192.0.2.51: %s (%s) after %v; want the first SYN through the gateway (before %v)", res.Outcome, res.Detail, took, synRetransmit)
	}
	for start = time.Now(); c.Status().NextHops["edge/192.0.2.51"] != "02:00:c0:00:02:32"; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("next hops %v; want edge/192.0.2.51 learned", c.Status().NextHops)
		}
	}
}
