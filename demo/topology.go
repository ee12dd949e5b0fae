package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/flowgate/flowgate/testbed"
)

const bridge = "br-int"

// buildTopology creates the namespaces of the worked example on a secure
// bridge (no flows, no traffic: the controller programs it): the tenant
// ports behind the router's gateway 10.0.0.1, and "uplink", the outside
// world on the router's uplink port: the upstream router 192.0.2.1 (MAC
// 02:00:c0:00:02:01, the intent's gateway_mac) with the internet server
// and the admin workstation as addresses on its loopback.
func buildTopology(ctx context.Context, tb *testbed.Testbed) (map[string]*testbed.Host, error) {
	sw, err := tb.AddSwitch(ctx, bridge, testbed.SwitchOpts{Secure: true})
	if err != nil {
		return nil, err
	}
	specs := []struct {
		name, mac, ip4, ip6, gw string
		ofport                  uint32
	}{
		{"web1", "02:00:0a:00:00:0b", "10.0.0.11/24", "fd00:10::11/64", "10.0.0.1", 1},
		{"web2", "02:00:0a:00:00:0c", "10.0.0.12/24", "fd00:10::12/64", "10.0.0.1", 2},
		{"db1", "02:00:0a:00:00:15", "10.0.0.21/24", "fd00:10::21/64", "10.0.0.1", 3},
		{"uplink", "02:00:c0:00:02:01", "192.0.2.1/24", "", "", 10},
	}
	hosts := map[string]*testbed.Host{}
	for _, s := range specs {
		mac, err := net.ParseMAC(s.mac)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", s.name, err)
		}
		opts := testbed.HostOpts{MAC: mac, OFPort: s.ofport, IPv4: netip.MustParsePrefix(s.ip4)}
		if s.ip6 != "" {
			opts.IPv6 = netip.MustParsePrefix(s.ip6)
		}
		if s.gw != "" {
			opts.Gateway4 = netip.MustParseAddr(s.gw)
		}
		h, err := tb.AddHost(ctx, s.name, opts)
		if err != nil {
			return nil, err
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			return nil, err
		}
		hosts[s.name] = h
	}
	up := hosts["uplink"]
	for _, args := range [][]string{
		{"ip", "addr", "add", internetServer.String() + "/32", "dev", "lo"},
		{"ip", "addr", "add", adminWorkstation.String() + "/32", "dev", "lo"},
		// The upstream routes the tenant prefix to the router, so that
		// security groups, not a missing route, decide what gets in.
		{"ip", "route", "add", "10.0.0.0/24", "via", masquerade.String()},
	} {
		if _, err := up.Exec(ctx, args...); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"web1", "web2", "db1", "uplink"} {
		for _, p := range servedPorts {
			if _, err := hosts[name].ServeTCP(p); err != nil {
				return nil, err
			}
		}
	}
	return hosts, nil
}

func printLegend(w io.Writer) {
	fmt.Fprint(w, `the intent (examples/intent.yaml):
  web1 10.0.0.11, web2 10.0.0.12   group web: tcp/8080 from anywhere, tcp/22 from 203.0.113.0/24
  db1  10.0.0.21                   group db:  tcp/3306 from members of web, tcp/22 from 203.0.113.0/24
  router edge: masquerade 10.0.0.0/24 -> 192.0.2.10, floating IP 192.0.2.11 <-> web1,
               port forward 192.0.2.10:2222 -> db1:22
  outside, behind the upstream router 192.0.2.1:
               internet = a server at 198.51.100.10, admin = a workstation at 203.0.113.5
`)
}
