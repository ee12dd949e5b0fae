package controller_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent"
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
