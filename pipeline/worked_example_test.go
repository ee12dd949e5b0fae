package pipeline

import (
	"net/netip"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// workedExample is the security-group half of the worked example, dual
// stack: web1 and web2 in group web (tcp/8080 from anywhere, ssh from the
// admin network), db1 in group db (tcp/3306 from group web, ssh from the
// admin network), every group may send anything.
func workedExample() *intent.Intent {
	addr := netip.MustParseAddr
	pfx := netip.MustParsePrefix
	tcp := func(port uint16, et intent.EtherType, remote netip.Prefix, group string) intent.Rule {
		return intent.Rule{Direction: intent.Ingress, EtherType: et, Protocol: intent.ProtoTCP,
			PortMin: port, PortMax: port, RemoteCIDR: remote, RemoteGroup: group}
	}
	egressAny := func(et intent.EtherType) intent.Rule {
		return intent.Rule{Direction: intent.Egress, EtherType: et, Protocol: intent.ProtocolAny}
	}
	port := func(name, mac, v4, v6, group string) intent.Port {
		return intent.Port{Name: name, Network: "tenant", MAC: [6]byte(flows.MustMAC(mac)),
			IPs: []netip.Addr{addr(v4), addr(v6)}, SecurityGroups: []string{group}, PortSecurity: true}
	}
	admin, admin6 := pfx("203.0.113.0/24"), pfx("2001:db8:113::/48")
	return &intent.Intent{
		Bridge: "br-int", Datapath: "netdev",
		Networks: []intent.Network{{Name: "tenant", CIDR: pfx("10.0.0.0/24"), CIDR6: pfx("fd00:10::/64")}},
		Ports: []intent.Port{
			port("web1", "02:00:0a:00:00:0b", "10.0.0.11", "fd00:10::11", "web"),
			port("web2", "02:00:0a:00:00:0c", "10.0.0.12", "fd00:10::12", "web"),
			port("db1", "02:00:0a:00:00:15", "10.0.0.21", "fd00:10::21", "db"),
		},
		SecurityGroups: []intent.SecurityGroup{
			{Name: "web", Stateful: true, Rules: []intent.Rule{
				tcp(8080, intent.IPv4, pfx("0.0.0.0/0"), ""),
				tcp(8080, intent.IPv6, netip.Prefix{}, ""),
				tcp(22, intent.IPv4, admin, ""),
				tcp(22, intent.IPv6, admin6, ""),
				egressAny(intent.IPv4), egressAny(intent.IPv6),
			}},
			{Name: "db", Stateful: true, Rules: []intent.Rule{
				tcp(3306, intent.IPv4, netip.Prefix{}, "web"),
				tcp(3306, intent.IPv6, netip.Prefix{}, "web"),
				tcp(22, intent.IPv4, admin, ""),
				tcp(22, intent.IPv6, admin6, ""),
				egressAny(intent.IPv4), egressAny(intent.IPv6),
			}},
		},
	}
}

func workedBindings() Bindings { return Bindings{"web1": 1, "web2": 2, "db1": 3} }
