package demo

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/flowgate/flowgate/testbed"
)

const bridge = "br-int"

// demoTopology is the worked example's namespaces, as a testbed topology
// (the format of `flowgate testbed up`).
var demoTopology = testbed.Topology{
	Switches: []testbed.TopologySwitch{{Name: bridge, Secure: true}},
	Hosts: []testbed.TopologyHost{
		tenantHost("web1", "02:00:0a:00:00:0b", "10.0.0.11", "fd00:10::11", 1),
		tenantHost("web2", "02:00:0a:00:00:0c", "10.0.0.12", "fd00:10::12", 2),
		tenantHost("db1", "02:00:0a:00:00:15", "10.0.0.21", "fd00:10::21", 3),
		{Name: "uplink", Switch: bridge, MAC: "02:00:c0:00:02:01", IP: netip.MustParsePrefix("192.0.2.1/24"), OFPort: 10},
	},
}

func tenantHost(name, mac, ip4, ip6 string, ofport uint32) testbed.TopologyHost {
	return testbed.TopologyHost{Name: name, Switch: bridge, MAC: mac, OFPort: ofport,
		IP: netip.MustParsePrefix(ip4 + "/24"), IP6: netip.MustParsePrefix(ip6 + "/64"),
		Gateway: netip.MustParseAddr("10.0.0.1")}
}

// buildTopology creates the namespaces of the worked example on a secure
// bridge (no flows, no traffic: the controller programs it): the tenant
// ports behind the router's gateway 10.0.0.1, and "uplink", the outside
// world on the router's uplink port: the upstream router 192.0.2.1 (MAC
// 02:00:c0:00:02:01, the intent's gateway_mac) with the internet server
// and the admin workstation as addresses on its loopback.
func buildTopology(ctx context.Context, tb *testbed.Testbed) (map[string]*testbed.Host, error) {
	if err := tb.Build(ctx, &demoTopology); err != nil {
		return nil, err
	}
	hosts := map[string]*testbed.Host{}
	for _, h := range demoTopology.Hosts {
		hosts[h.Name] = tb.Host(h.Name)
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
