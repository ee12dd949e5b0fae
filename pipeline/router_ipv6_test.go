package pipeline_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/testbed"
)

// ipv6Lab is two routed networks and an outside host with IPv6 only where
// it matters: the router routes IPv6 between the networks and to the
// outside without translating it, and each side's security groups judge
// the routed traffic. The hosts know the gateways' MACs statically (no
// controller answers neighbour solicitation here; the controller's
// answers are tested in demo).
const ipv6Intent = `
bridge: br-int
datapath: netdev
networks:
  - {name: tenant, cidr: 10.0.0.0/24, gateway: 10.0.0.1, cidr6: "fd00:10::/64", gateway6: "fd00:10::1"}
  - {name: lab, cidr: 10.0.1.0/24, gateway: 10.0.1.1, cidr6: "fd00:11::/64", gateway6: "fd00:11::1"}
ports:
  - {name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11, "fd00:10::11"], security_groups: [web]}
  - {name: lab1, network: lab, mac: "02:00:0a:00:01:05", ips: [10.0.1.5, "fd00:11::5"], security_groups: [lab]}
security_groups:
  - name: web
    rules:
      - {direction: ingress, protocol: tcp, ports: "8080", ethertype: ipv6}
      - {direction: egress, protocol: any, ethertype: ipv6}
  - name: lab
    rules:
      - {direction: ingress, protocol: tcp, ports: "9000", ethertype: ipv6, remote_cidr: "fd00:10::/64"}
      - {direction: egress, protocol: any, ethertype: ipv6}
routers:
  - name: edge
    networks: [tenant, lab]
    external: {port: uplink, mac: "02:00:c0:00:02:0a", ip: 192.0.2.10/24, gateway: 192.0.2.1,
               gateway_mac: "02:00:c0:00:02:01", ip6: "2001:db8:2::10/64", gateway6: "2001:db8:2::1"}
`

// TestIPv6RoutingOnOVS: IPv6 between two networks and to an outside host,
// routed (the far side sees the real source), with an allowed and a denied
// connection on each path.
func TestIPv6RoutingOnOVS(t *testing.T) {
	tb := testbed.New(t, testbed.Options{})
	ctx := context.Background()
	in, err := intent.Parse([]byte(ipv6Intent))
	if err != nil {
		t.Fatal(err)
	}
	sw, err := tb.AddSwitch(ctx, "br-int", testbed.SwitchOpts{Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	add := func(name string, ofport uint32, mac, ip6, gw6 string) *testbed.Host {
		t.Helper()
		hw, _ := net.ParseMAC(mac)
		h, err := tb.AddHost(ctx, name, testbed.HostOpts{MAC: hw, OFPort: ofport,
			IPv6: netip.MustParsePrefix(ip6), Gateway6: netip.MustParseAddr(gw6)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			t.Fatal(err)
		}
		return h
	}
	web1 := add("web1", 1, "02:00:0a:00:00:0b", "fd00:10::11/64", "fd00:10::1")
	lab1 := add("lab1", 4, "02:00:0a:00:01:05", "fd00:11::5/64", "fd00:11::1")
	outs := add("uplink", 10, "02:00:c0:00:02:01", "2001:db8:2::1/64", "2001:db8:2::10")
	for h, neigh := range map[*testbed.Host][2]string{
		web1: {"fd00:10::1", pipeline.GatewayMAC(in.Network("tenant")).String()},
		lab1: {"fd00:11::1", pipeline.GatewayMAC(in.Network("lab")).String()},
		outs: {"2001:db8:2::10", "02:00:c0:00:02:0a"},
	} {
		if _, err := h.Exec(ctx, "ip", "-6", "neigh", "replace", neigh[0], "lladdr", neigh[1], "dev", "eth0", "nud", "permanent"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := web1.Exec(ctx, "ip", "-6", "neigh", "replace", "fe80::aff:fe00:1", "lladdr", pipeline.GatewayMAC(in.Network("tenant")).String(),
		"dev", "eth0", "nud", "permanent"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*testbed.Host{web1, lab1, outs} {
		for _, p := range []uint16{22, 8080, 9000, 80} {
			if _, err := h.ServeTCP(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	fs, err := pipeline.Compile(in, pipeline.Bindings{"web1": 1, "lab1": 4, "uplink": 10})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, f := range fs {
		text.WriteString(f.String() + "\n")
	}
	path := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := tb.OVS().Ofctl(ctx, "-O", "OpenFlow13", "--bundle", "replace-flows", "br-int", path); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	// The hosts' router and neighbour solicitations, dropped by the
	// empty table before, left datapath flows that would drop the first
	// connection.
	if err := tb.OVS().SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		from   *testbed.Host
		to     string
		port   uint16
		wantOK bool
	}{
		{lab1, "fd00:10::11", 8080, true}, // lab -> tenant: web allows 8080 from anywhere
		{lab1, "fd00:10::11", 22, false},  // web allows nothing else
		{web1, "fd00:11::5", 9000, true},  // tenant -> lab: lab allows 9000 from tenant
		{outs, "fd00:11::5", 9000, false}, // but not from outside
		{outs, "fd00:10::11", 8080, true}, // outside -> tenant, routed in
		{web1, "2001:db8:2::1", 80, true}, // tenant -> outside, routed out
	} {
		res, err := testbed.TCPConnect(ctx, c.from, netip.MustParseAddr(c.to), c.port)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case c.wantOK && res.Outcome != testbed.OK:
			t.Errorf("%s -> [%s]:%d: %s (%s), want connected", c.from.Name(), c.to, c.port, res.Outcome, res.Detail)
		case c.wantOK && res.Seen.Addr() != c.from.IP6():
			t.Errorf("%s -> [%s]:%d: the server saw %s, want the real source %s (IPv6 is not translated)",
				c.from.Name(), c.to, c.port, res.Seen.Addr(), c.from.IP6())
		case !c.wantOK && res.Outcome == testbed.OK:
			t.Errorf("%s -> [%s]:%d: connected, want it dropped by the security groups", c.from.Name(), c.to, c.port)
		}
	}

	// The router answers ping6 on its own addresses in the datapath, from
	// either side, as it answers ping: each gateway6, the external ip6
	// and its link-local address on the asker's network (fe80:: with the
	// EUI-64 of tenant's gateway MAC 02:00:0a:00:00:01). A port the
	// groups do not open to ICMPv6 is not answered for it.
	for _, c := range []struct {
		from *testbed.Host
		to   string
		want testbed.Outcome
	}{
		{web1, "fd00:10::1", testbed.OK},
		{web1, "fd00:11::1", testbed.OK},
		{web1, "2001:db8:2::10", testbed.OK},
		{web1, "fe80::aff:fe00:1%eth0", testbed.OK},
		{outs, "2001:db8:2::10", testbed.OK},
		{outs, "fd00:10::1", testbed.OK},
		{lab1, "fd00:10::11", testbed.TimedOut},
	} {
		res, err := testbed.Ping(ctx, c.from, netip.MustParseAddr(c.to))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != c.want {
			t.Errorf("ping6 %s -> %s: %s (%s), want %s", c.from.Name(), c.to, res.Outcome, res.Detail, c.want)
		}
	}
}
