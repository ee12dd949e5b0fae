package demo

import (
	"net/netip"

	"github.com/flowgate/flowgate/testbed"
)

// The rows of a matrix: the three tenant ports, and two machines of the
// outside world, both played by the "uplink" namespace behind the router
// (see buildTopology).
var (
	tenantRows = []row{
		{label: "web1", host: "web1"},
		{label: "web2", host: "web2"},
		{label: "db1", host: "db1"},
	}
	outsideRows = []row{
		{label: "internet", host: "uplink", src: internetServer},
		{label: "admin", host: "uplink", src: adminWorkstation},
	}
	rows = append(append([]row{}, tenantRows...), outsideRows...)
)

var (
	internetServer   = netip.MustParseAddr("198.51.100.10")
	adminWorkstation = netip.MustParseAddr("203.0.113.5")
	masquerade       = netip.MustParseAddr("192.0.2.10") // the router's external address
	floatingWeb1     = netip.MustParseAddr("192.0.2.11")
	serviceWeb       = netip.MustParseAddr("10.0.0.100") // the service web
)

// Columns shared by the matrices: the tenant ports at their own
// addresses and the internet server, followed by more.
func tenantAndInternet(more ...testbed.Column) []testbed.Column {
	return append([]testbed.Column{
		{Label: "web1", Addr: netip.MustParseAddr("10.0.0.11")},
		{Label: "web2", Addr: netip.MustParseAddr("10.0.0.12")},
		{Label: "db1", Addr: netip.MustParseAddr("10.0.0.21")},
		{Label: "internet", Addr: internetServer},
	}, more...)
}

// floatingColumn is web1's floating IP.
var floatingColumn = testbed.Column{Label: "192.0.2.11", Addr: floatingWeb1}

// servedPorts are the TCP ports every tenant port and the internet server
// listen on, so that a connection the intent should drop but the switch
// let through shows up as "ok", not as a refusal.
var servedPorts = []uint16{22, 8080, 3306}

// workedExample is what examples/intent.yaml says about each connection.
// The outside reaches the tenant addresses directly too (its route to
// 10.0.0.0/24 leads through the router), so that security groups, not the
// lack of a route, decide what gets in.
//
// Hairpin: a tenant port reaching a floating IP or forward of the same
// network is SNATed to the router's external address (docs/router.md), so
// the target's groups judge it as coming from 192.0.2.10.
var workedExample = []matrix{
	{
		title: "ICMP echo (no group allows ICMP in; everyone may send out)",
		probe: testbed.PingProbe(testbed.IPv4),
		cols:  tenantAndInternet(floatingColumn),
		want: `
		          web1  web2  db1  internet  192.0.2.11
		web1      .     --    --   ok        --
		web2      --    .     --   ok        --
		db1       --    --    .    ok        --
		internet  --    --    --   .         --
		admin     --    --    --   .         --
		`,
	},
	{
		title: "tcp/22 (ssh only from the admin network 203.0.113.0/24; 192.0.2.10:2222 forwards to db1:22)",
		probe: testbed.TCPProbe(testbed.IPv4, 22),
		cols: tenantAndInternet(floatingColumn,
			testbed.Column{Label: "192.0.2.10:2222", Addr: masquerade, Port: 2222}),
		want: `
		          web1  web2  db1  internet    192.0.2.11  192.0.2.10:2222
		web1      .     --    --   192.0.2.11  --          --
		web2      --    .     --   192.0.2.10  --          --
		db1       --    --    .    192.0.2.10  --          --
		internet  --    --    --   .           --          --
		admin     ok    ok    ok   .           ok          ok
		`,
	},
	{
		title: "tcp/8080 (web: from anywhere; 192.0.2.11 is web1's floating IP)",
		probe: testbed.TCPProbe(testbed.IPv4, 8080),
		cols:  tenantAndInternet(floatingColumn),
		note: `web1 -> its own floating IP is not probed: the router would send the packet
back out of web1's own port, and the pipeline's output:N, like every OpenFlow
output, never sends a packet back to its in_port (a limit of the router stage)`,
		want: `
		          web1  web2  db1  internet    192.0.2.11
		web1      .     ok    --   192.0.2.11  .
		web2      ok    .     --   192.0.2.10  192.0.2.10
		db1       ok    ok    .    192.0.2.10  192.0.2.10
		internet  ok    ok    --   .           ok
		admin     ok    ok    --   .           ok
		`,
	},
	{
		title: "tcp/3306 (db: only from members of web)",
		probe: testbed.TCPProbe(testbed.IPv4, 3306),
		cols:  tenantAndInternet(),
		want: `
		          web1  web2  db1  internet
		web1      .     --    ok   192.0.2.11
		web2      --    .     ok   192.0.2.10
		db1       --    --    .    192.0.2.10
		internet  --    --    --   .
		admin     --    --    --   .
		`,
	},
	{
		title: "tcp/80 to the service web (10.0.0.100:80 -> web1:8080 weight 1, web2:8080 weight 2)",
		probe: testbed.TCPProbe(testbed.IPv4, 80),
		cols:  []testbed.Column{{Label: "10.0.0.100:80", Addr: serviceWeb, Port: 80}},
		note: `web1 and web2 are the service's backends: a backend's connection to its own
service may land on itself (it then sees the service address as its source),
so their cells would vary from run to run; make test covers them
(TestServicesOnOVS). The outside reaches the service through the router.`,
		want: `
		          10.0.0.100:80
		web1      .
		web2      .
		db1       ok
		internet  ok
		admin     ok
		`,
	},
	{
		// The same groups over IPv6; the router does not route IPv6 yet
		// (docs/router.md), so the outside has no IPv6 to probe from.
		title: "tcp/3306 over IPv6 (the same groups; a remote group matches members' IPv6 addresses too)",
		probe: testbed.TCPProbe(testbed.IPv6, 3306),
		cols: []testbed.Column{
			{Label: "web1", Addr: netip.MustParseAddr("fd00:10::11")},
			{Label: "web2", Addr: netip.MustParseAddr("fd00:10::12")},
			{Label: "db1", Addr: netip.MustParseAddr("fd00:10::21")},
		},
		rows: tenantRows,
		want: `
		          web1  web2  db1
		web1      .     --    ok
		web2      --    .     ok
		db1       --    --    .
		`,
	},
}
