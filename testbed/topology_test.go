package testbed

import (
	"os"
	"strings"
	"testing"
)

func TestExampleTopologyParses(t *testing.T) {
	data, err := os.ReadFile("../examples/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := ParseTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Switches) != 2 || len(topo.Hosts) != 4 || len(topo.Links) != 1 {
		t.Fatalf("example: %d switches, %d hosts, %d links; want 2, 4, 1", len(topo.Switches), len(topo.Hosts), len(topo.Links))
	}
	for _, h := range topo.Hosts {
		if !h.IP.Addr().Is4() || !h.IP6.Addr().Is6() {
			t.Errorf("host %s: ip %s, ip6 %s; want one of each family", h.Name, h.IP, h.IP6)
		}
	}
}

func TestNodesTopologyParses(t *testing.T) {
	data, err := os.ReadFile("testdata/nodes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := ParseTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Nodes) != 2 || len(topo.Hosts) != 2 || topo.Hosts[1].Node != "hv2" || topo.Nodes[0].Underlay.String() != "192.168.100.11/24" {
		t.Errorf("testdata/nodes.yaml: %+v", topo)
	}
}

func TestParseTopologyErrors(t *testing.T) {
	const sw = "switches: [{name: s1}]\n"
	for _, c := range []struct{ name, doc, want string }{
		{"unknown field", sw + "hostz: []", "field hostz not found"},
		{"bad datapath", "datapath: kernel\n" + sw, `datapath "kernel"`},
		{"duplicate switch", "switches: [{name: s1}, {name: s1}]", `switches[1]: name "s1" used twice`},
		{"link to nowhere", sw + "links: [[s1, s9]]", `links[0]: no switch "s9"`},
		{"host on no switch", sw + "hosts: [{name: h1, switch: s2}]", `hosts[0] (h1): switch: no switch "s2"`},
		{"bad prefix", sw + "hosts: [{name: h1, switch: s1, ip: 10.0.0.300/24}]", "10.0.0.300"},
		{"v6 as v4", sw + `hosts: [{name: h1, switch: s1, ip: "fd00::1/64"}]`, "hosts[0] (h1): ipv4 fd00::1/64: not an IPv4 prefix"},
		{"gateway outside", sw + "hosts: [{name: h1, switch: s1, ip: 10.0.0.1/24, gateway: 10.0.1.1}]", "gateway4 10.0.1.1: not in 10.0.0.1/24"},
		{"multicast mac", sw + `hosts: [{name: h1, switch: s1, mac: "01:00:5e:00:00:01"}]`, "want a 6-byte unicast address"},
		{"bad mac", sw + `hosts: [{name: h1, switch: s1, mac: "nope"}]`, "hosts[0] (h1): mac:"},
		{"duplicate node", "nodes: [{name: hv1, underlay: 10.1.0.1/24}, {name: hv1, underlay: 10.1.0.2/24}]", `nodes[1]: name "hv1" used twice`},
		{"node without underlay", "nodes: [{name: hv1}]", "nodes[0] (hv1): underlay: an address with prefix length is required"},
		{"host on no node", "nodes: [{name: hv1, underlay: 10.1.0.1/24}]\nhosts: [{name: h1, node: hv2}]", `hosts[0] (h1): node: no node "hv2"`},
		{"host on switch and node", sw + "nodes: [{name: hv1, underlay: 10.1.0.1/24}]\nhosts: [{name: h1, switch: s1, node: hv1}]", "a host is plugged into one or the other"},
	} {
		_, err := ParseTopology([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ParseTopology = %v, want an error containing %q", c.name, err, c.want)
		}
	}
}
