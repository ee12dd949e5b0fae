package pipeline

import (
	"net/netip"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// routerExample is the worked example with its router, on the topology of
// nat_lab_test.go: web1/web2 (group web), db1 (group db) on tenant,
// lab1 (group lab) on a second internal network, the outside behind the
// uplink, admin workstations (203.0.113.0/24) out there too.
func routerExample() *intent.Intent {
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	mac := func(s string) [6]byte { return [6]byte(flows.MustMAC(s)) }
	gwMAC := mac("02:00:c0:00:02:01")
	anyV4 := p("0.0.0.0/0")
	admin := p("203.0.113.0/24")
	tcp := func(dir intent.Direction, port uint16, remote netip.Prefix, group string) intent.Rule {
		return intent.Rule{Direction: dir, EtherType: intent.IPv4, Protocol: intent.ProtoTCP,
			PortMin: port, PortMax: port, RemoteCIDR: remote, RemoteGroup: group}
	}
	egressAny := intent.Rule{Direction: intent.Egress, EtherType: intent.IPv4, Protocol: intent.ProtocolAny}
	port := func(name, network, m string, ip string, groups ...string) intent.Port {
		return intent.Port{Name: name, Network: network, MAC: mac(m), IPs: []netip.Addr{a(ip)},
			SecurityGroups: groups, PortSecurity: true}
	}
	return &intent.Intent{
		Bridge: "br-int", Datapath: "netdev",
		Networks: []intent.Network{
			{Name: "tenant", CIDR: p("10.0.0.0/24"), Gateway: a("10.0.0.1")},
			{Name: "lab", CIDR: p("10.0.1.0/24"), Gateway: a("10.0.1.1")},
		},
		Ports: []intent.Port{
			port("web1", "tenant", "02:00:0a:00:00:0b", "10.0.0.11", "web"),
			port("web2", "tenant", "02:00:0a:00:00:0c", "10.0.0.12", "web"),
			port("db1", "tenant", "02:00:0a:00:00:15", "10.0.0.21", "db"),
			port("lab1", "lab", "02:00:0a:00:01:05", "10.0.1.5", "lab"),
		},
		SecurityGroups: []intent.SecurityGroup{
			{Name: "web", Stateful: true, Rules: []intent.Rule{
				tcp(intent.Ingress, 8080, anyV4, ""), tcp(intent.Ingress, 22, admin, ""), egressAny}},
			{Name: "db", Stateful: true, Rules: []intent.Rule{
				tcp(intent.Ingress, 3306, netip.Prefix{}, "web"), tcp(intent.Ingress, 22, admin, ""),
				{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoUDP, PortMin: 53, PortMax: 53},
				egressAny}},
			{Name: "lab", Stateful: true, Rules: []intent.Rule{
				tcp(intent.Ingress, 9000, p("10.0.0.0/24"), ""), egressAny}},
		},
		Routers: []intent.Router{{
			Name:     "edge",
			Networks: []string{"tenant", "lab"},
			External: intent.External{Port: "uplink", MAC: mac("02:00:c0:00:02:0a"),
				IP: p("192.0.2.10/24"), Gateway: a("192.0.2.1"), GatewayMAC: &gwMAC},
			SNAT: []intent.SNAT{
				{Network: "tenant", To: a("192.0.2.10"), PortMin: 1024, PortMax: 65535},
				{Network: "lab", To: a("192.0.2.10"), PortMin: 1024, PortMax: 65535},
			},
			FloatingIPs: []intent.FloatingIP{{Port: "web1", IP: a("192.0.2.11")}},
			PortForwards: []intent.PortForward{
				{Protocol: intent.ProtoTCP, IP: a("192.0.2.10"), ExternalPort: 2222, Port: "db1", InternalPort: 22},
				{Protocol: intent.ProtoUDP, IP: a("192.0.2.10"), ExternalPort: 5353, Port: "db1", InternalPort: 53},
				{Protocol: intent.ProtoTCP, IP: a("192.0.2.10"), ExternalPort: 8080, Port: "web2", InternalPort: 8080},
			},
		}},
	}
}

// routerExampleBindings are the OpenFlow ports of the example's topology.
func routerExampleBindings() map[string]uint32 {
	return map[string]uint32{"web1": 1, "web2": 2, "db1": 3, "lab1": 4, "uplink": 10}
}
