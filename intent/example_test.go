package intent

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestWorkedExample checks the classic example (examples/intent.yaml)
// field by field, defaults included: it is what the pipeline compiles in
// its golden tests and what the testbed proves with traffic.
func TestWorkedExample(t *testing.T) {
	got, err := Load("../examples/intent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr
	prefix := netip.MustParsePrefix
	tcp := func(dir Direction, et EtherType, port uint16) Rule {
		return Rule{Direction: dir, EtherType: et, Protocol: ProtoTCP, PortMin: port, PortMax: port}
	}
	from := func(r Rule, cidr string) Rule { r.RemoteCIDR = prefix(cidr); return r }
	group := func(r Rule, g string) Rule { r.RemoteGroup = g; return r }
	anyOut := func(et EtherType) Rule { return Rule{Direction: Egress, EtherType: et, Protocol: ProtocolAny} }
	port := func(name string, mac byte, ip, ip6, group string) Port {
		return Port{Name: name, Network: "tenant", MAC: [6]byte{2, 0, 10, 0, 0, mac},
			IPs: []netip.Addr{addr(ip), addr(ip6)}, SecurityGroups: []string{group}, PortSecurity: true}
	}
	want := &Intent{
		Bridge:   "br-int",
		Datapath: "auto",
		Networks: []Network{{Name: "tenant", CIDR: prefix("10.0.0.0/24"), CIDR6: prefix("fd00:10::/64"),
			Gateway: addr("10.0.0.1"), Gateway6: addr("fd00:10::1")}},
		Ports: []Port{
			port("web1", 0x0b, "10.0.0.11", "fd00:10::11", "web"),
			port("web2", 0x0c, "10.0.0.12", "fd00:10::12", "web"),
			withEgressLimit(port("db1", 0x15, "10.0.0.21", "fd00:10::21", "db"), 20000),
		},
		SecurityGroups: []SecurityGroup{
			{Name: "web", Stateful: true, Rules: []Rule{
				from(tcp(Ingress, IPv4, 8080), "0.0.0.0/0"),
				from(tcp(Ingress, IPv6, 8080), "::/0"),
				from(tcp(Ingress, IPv4, 22), "203.0.113.0/24"),
				anyOut(IPv4), anyOut(IPv6),
			}},
			{Name: "db", Stateful: true, Rules: []Rule{
				group(tcp(Ingress, IPv4, 3306), "web"),
				group(tcp(Ingress, IPv6, 3306), "web"),
				from(tcp(Ingress, IPv4, 22), "203.0.113.0/24"),
				anyOut(IPv4), anyOut(IPv6),
			}},
		},
		Routers: []Router{{
			Name:     "edge",
			Networks: []string{"tenant"},
			External: External{Port: "uplink", MAC: [6]byte{2, 0, 0xc0, 0, 2, 0x0a},
				IP: prefix("192.0.2.10/24"), Gateway: addr("192.0.2.1"), GatewayMAC: &[6]byte{2, 0, 0xc0, 0, 2, 1}},
			SNAT:         []SNAT{{Network: "tenant", To: addr("192.0.2.10"), PortMin: 1024, PortMax: 65535}},
			FloatingIPs:  []FloatingIP{{Port: "web1", IP: addr("192.0.2.11")}},
			PortForwards: []PortForward{{Protocol: ProtoTCP, IP: addr("192.0.2.10"), ExternalPort: 2222, Port: "db1", InternalPort: 22}},
		}},
		Services: []Service{{Name: "web", VIP: addr("10.0.0.100"), Protocol: ProtoTCP, Port: 80,
			Backends: []Backend{{Port: "web1", TargetPort: 8080, Weight: 1}, {Port: "web2", TargetPort: 8080, Weight: 2}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("examples/intent.yaml:\n got  %+v\n want %+v", got, want)
	}
}

// TestIntentMD parses testdata/intent-md.yaml, the every-key example of
// an earlier intent document kept as a fixture. It is
// illustrative, not valid: its first rule lists every key, icmp_type on a
// tcp rule included, and it names ports (db1, web2) it never declares. The
// test pins exactly those problems, so a change to either the document or
// the rules shows up here.
func TestIntentMD(t *testing.T) {
	_, err := Load("testdata/intent-md.yaml")
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("Load: %v, want Errors", err)
	}
	got := strings.Split(list.Error(), "\n")
	want := []string{
		`security_groups[web].rules[0].icmp_type: only icmp and icmpv6 have types and codes, not tcp`,
		`routers[edge].port_forwards[0].port: unknown port "db1"`,
		`services[web-vip].backends[1].port: unknown port "web2"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n got  %q\n want %q", got, want)
	}
}

// TestDefaults checks every default on a minimal document.
func TestDefaults(t *testing.T) {
	in := mustParse(t, edge("snat: [{network: tenant}]", "port_forwards: [{external_port: 2222, port: db1}]")+`security_groups:
- name: g
  rules:
  - {direction: ingress}
  - {direction: ingress, remote_cidr: 'fd00::/8'}
  - {direction: ingress, protocol: icmpv6}
  - {direction: egress, remote_cidr: 192.0.2.7}
services:
- {name: s, vip: 10.0.0.200, port: 80, backends: [{port: web1}]}
`)
	if in.Bridge != "br-int" || in.Datapath != "auto" {
		t.Errorf("bridge %q datapath %q, want br-int auto", in.Bridge, in.Datapath)
	}
	if p := in.Port("web1"); !p.PortSecurity || p.QoS != (QoS{}) {
		t.Errorf("port defaults: port_security %v qos %+v", p.PortSecurity, p.QoS)
	}
	g := in.SecurityGroup("g")
	if !g.Stateful {
		t.Error("security group is not stateful by default")
	}
	wantRules := []Rule{
		{Direction: Ingress, EtherType: IPv4, Protocol: ProtocolAny},
		{Direction: Ingress, EtherType: IPv6, Protocol: ProtocolAny, RemoteCIDR: netip.MustParsePrefix("fd00::/8")},
		{Direction: Ingress, EtherType: IPv6, Protocol: ProtoICMPv6},
		{Direction: Egress, EtherType: IPv4, Protocol: ProtocolAny, RemoteCIDR: netip.MustParsePrefix("192.0.2.7/32")},
	}
	if !reflect.DeepEqual(g.Rules, wantRules) {
		t.Errorf("rules:\n got  %+v\n want %+v", g.Rules, wantRules)
	}
	r := in.Routers[0]
	wantSNAT := SNAT{Network: "tenant", To: netip.MustParseAddr("192.0.2.10"), PortMin: 1024, PortMax: 65535}
	if r.SNAT[0] != wantSNAT {
		t.Errorf("snat %+v, want %+v", r.SNAT[0], wantSNAT)
	}
	wantPF := PortForward{Protocol: ProtoTCP, IP: netip.MustParseAddr("192.0.2.10"), ExternalPort: 2222, Port: "db1", InternalPort: 2222}
	if r.PortForwards[0] != wantPF {
		t.Errorf("port forward %+v, want %+v", r.PortForwards[0], wantPF)
	}
	s := in.Services[0]
	if s.Protocol != ProtoTCP || s.AffinitySeconds != 0 || s.Backends[0] != (Backend{Port: "web1", TargetPort: 80, Weight: 1}) {
		t.Errorf("service defaults: %+v", s)
	}
}

func TestEmptyIntent(t *testing.T) {
	for _, doc := range []string{"{}", "networks: []\nports: null\n"} {
		if got, want := mustParse(t, doc), (&Intent{Bridge: "br-int", Datapath: "auto"}); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", doc, got, want)
		}
	}
}

// TestManyProblemsAtOnce checks that problems in every part of a document
// are all reported in one go, and that no Intent comes back.
func TestManyProblemsAtOnce(t *testing.T) {
	doc := `bridge: br/int
datapath: kernel
networks:
- {name: tenant, cidr: 10.0.0.1/24, gateway: 10.0.1.1}
ports:
- {name: web1, network: tenant, mac: 'ff:ff:ff:ff:ff:ff', ips: [10.0.0.300], secruity_groups: [web]}
- {name: db1, network: tenat, mac: '02:00:00:00:00:02', security_groups: [dbb]}
security_groups:
- name: db
  rules:
  - {direction: ingress, protocol: tcp, ports: 90-80, remote_group: wbe}
routers:
- {name: edge, networks: [tenant], external: {port: uplink, mac: '02:00:c0:00:02:0a', ip: 192.0.2.10/24, gateway: 192.0.2.1}, floating_ips: [{port: db1, ip: 192.0.2.300}]}
services:
- {name: s, vip: 10.0.0.200, protocol: sctp, port: 80}
`
	in, err := Parse([]byte(doc))
	if in != nil {
		t.Error("Parse returned an Intent for an invalid document")
	}
	want := []string{
		`ports[web1].secruity_groups: unknown field; did you mean "security_groups"?`,
		`bridge: "br/int" contains '/'; a bridge name holds only letters, digits, '-', '_' and '.'`,
		`datapath: "kernel" is not auto, system or netdev`,
		`networks[tenant].cidr: 10.0.0.1/24 has host bits set; the network is 10.0.0.0/24`,
		`security_groups[db].rules[0].remote_group: unknown group "wbe"`,
		`security_groups[db].rules[0].ports: range 90-80 is reversed`,
		`ports[web1].mac: ff:ff:ff:ff:ff:ff is the broadcast address; a port needs a unicast MAC`,
		`ports[web1].ips[0]: "10.0.0.300" is not an IP address`,
		`ports[db1].network: unknown network "tenat"`,
		`ports[db1].security_groups[0]: unknown group "dbb"`,
		`routers[edge].floating_ips[0].ip: "192.0.2.300" is not an IP address`,
		`services[s].protocol: "sctp" is not tcp or udp`,
	}
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("Parse: %v, want Errors", err)
	}
	got := strings.Split(list.Error(), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n got  %q\n want %q", got, want)
	}
	// The API serves the list as JSON objects with path and reason.
	if list[0].Path != "ports[web1].secruity_groups" || list[0].Reason != `unknown field; did you mean "security_groups"?` {
		t.Errorf("first error %+v does not split into path and reason", list[0])
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want ErrNotExist", err)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("bridge: br/int\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var list Errors
	if !errors.As(err, &list) || len(list) != 1 || !strings.HasPrefix(err.Error(), "intent "+path+": bridge: ") {
		t.Errorf("Load of an invalid file: %v", err)
	}
}

func withEgressLimit(p Port, kbps uint32) Port {
	p.QoS.EgressKbps = kbps
	return p
}
