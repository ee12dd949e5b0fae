package bench

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/flowgate/flowgate/testbed"
)

// The two bridges share one ovs-vswitchd and so one datapath: only the
// OpenFlow tables differ.
const (
	// plainBridge forwards with OVS's default flow, priority=0
	// actions=NORMAL (fail_mode=standalone, no controller).
	plainBridge = "br-plain"
	// flowgateBridge is fail_mode=secure and carries the worked
	// example's compiled pipeline. Its name is the intent's bridge.
	flowgateBridge = "br-int"
)

// The measured pair on the flowgate bridge: web1 (group web, egress any)
// connects to web2 (group web, ingress tcp/8080 from anywhere). The plain
// bridge has the same pair, with the same addresses, as pweb1 and pweb2.
const (
	clientPort = "web1"
	serverPort = "web2"
	// allowedPort is the only port group web lets anyone reach.
	allowedPort = 8080
	// forbiddenPort is open on web only from the admin network
	// 203.0.113.0/24, so web1 -> web2 on it is dropped by the pipeline.
	forbiddenPort = 22
)

// datapathTopology is the worked example's ports (as demo/ builds them:
// same names, MACs, addresses and ofports, so every flow of the example
// compiles, router included) on the secure bridge, and a copy of the
// measured pair on the plain bridge.
var datapathTopology = testbed.Topology{
	Switches: []testbed.TopologySwitch{{Name: plainBridge}, {Name: flowgateBridge, Secure: true}},
	Hosts: []testbed.TopologyHost{
		tenantHost("pweb1", plainBridge, "02:00:0a:00:01:0b", "10.0.0.11", "fd00:10::11", 1),
		tenantHost("pweb2", plainBridge, "02:00:0a:00:01:0c", "10.0.0.12", "fd00:10::12", 2),
		tenantHost("web1", flowgateBridge, "02:00:0a:00:00:0b", "10.0.0.11", "fd00:10::11", 1),
		tenantHost("web2", flowgateBridge, "02:00:0a:00:00:0c", "10.0.0.12", "fd00:10::12", 2),
		tenantHost("db1", flowgateBridge, "02:00:0a:00:00:15", "10.0.0.21", "fd00:10::21", 3),
		{Name: "uplink", Switch: flowgateBridge, MAC: "02:00:c0:00:02:01", IP: netip.MustParsePrefix("192.0.2.1/24"), OFPort: 10},
	},
}

func tenantHost(name, sw, mac, ip4, ip6 string, ofport uint32) testbed.TopologyHost {
	return testbed.TopologyHost{Name: name, Switch: sw, MAC: mac, OFPort: ofport,
		IP: netip.MustParsePrefix(ip4 + "/24"), IP6: netip.MustParsePrefix(ip6 + "/64"),
		Gateway: netip.MustParseAddr("10.0.0.1")}
}

// pair is a client and a server host on one bridge.
type pair struct {
	label          string // "a" or "b"
	bridge         string
	client, server *testbed.Host
}

// buildPairs builds the topology and returns the measured pairs, plain
// first. Client namespaces get the whole ephemeral port range and reuse of
// TIME_WAIT ports, so that tens of thousands of short connections in a row
// never run out of source ports.
func buildPairs(ctx context.Context, tb *testbed.Testbed) (plain, fg pair, err error) {
	if err := tb.Build(ctx, &datapathTopology); err != nil {
		return pair{}, pair{}, err
	}
	plain = pair{label: "a", bridge: plainBridge, client: tb.Host("pweb1"), server: tb.Host("pweb2")}
	fg = pair{label: "b", bridge: flowgateBridge, client: tb.Host(clientPort), server: tb.Host(serverPort)}
	for _, p := range []pair{plain, fg} {
		if _, err := p.client.Exec(ctx, "sysctl", "-qw",
			"net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1"); err != nil {
			return pair{}, pair{}, fmt.Errorf("client %s: %w", p.client.Name(), err)
		}
	}
	return plain, fg, nil
}
