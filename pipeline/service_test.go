package pipeline

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/golden"
)

// servicesText is the service stage of a compile (its tables, and the
// flows of other tables with a service cookie) and the groups, as text.
func servicesText(t *testing.T, in *intent.Intent, b Bindings) string {
	t.Helper()
	fs, err := Compile(in, b)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, f := range fs {
		if f.Table >= uint8(TableServiceLB) && f.Table <= uint8(TableServiceHairpin) || KindOf(f.Cookie) == KindService ||
			f.Table == uint8(TableOutput) && f.Priority == prioOutputSelf {
			out.WriteString(f.String())
			out.WriteByte('\n')
		}
	}
	for _, g := range ServiceGroups(in, b) {
		out.WriteString(g.String())
		out.WriteByte('\n')
	}
	return out.String()
}

func TestServicesGolden(t *testing.T) {
	in := serviceLabIntent()
	b := Bindings{}
	for i, p := range in.Ports {
		b[p.Name] = uint32(i + 1)
	}
	golden.Check(t, filepath.Join("testdata", "services.golden"), []byte(servicesText(t, in, b)))
}

// A service is compiled once per network with its address family; a
// backend in another network counts only where a router connects the
// two, and takes the client network's gateway MAC.
func TestServiceViewsReachability(t *testing.T) {
	pfx, addr := netip.MustParsePrefix, netip.MustParseAddr
	in := &intent.Intent{
		Networks: []intent.Network{
			{Name: "a", CIDR: pfx("10.1.0.0/24"), Gateway: addr("10.1.0.1")},
			{Name: "b", CIDR: pfx("10.2.0.0/24"), Gateway: addr("10.2.0.1")},
			{Name: "c", CIDR: pfx("10.3.0.0/24")}, // not routed
			{Name: "v6only", CIDR6: pfx("fd00:4::/64")},
		},
		Ports: []intent.Port{
			{Name: "pa", Network: "a", MAC: [6]byte{2, 0, 0, 0, 0, 1}, IPs: []netip.Addr{addr("10.1.0.5")}, PortSecurity: true},
			{Name: "pb", Network: "b", MAC: [6]byte{2, 0, 0, 0, 0, 2}, IPs: []netip.Addr{addr("10.2.0.5")}, PortSecurity: true},
			{Name: "pc", Network: "c", MAC: [6]byte{2, 0, 0, 0, 0, 3}, IPs: []netip.Addr{addr("10.3.0.5")}, PortSecurity: true},
			{Name: "unbound", Network: "a", MAC: [6]byte{2, 0, 0, 0, 0, 4}, IPs: []netip.Addr{addr("10.1.0.6")}, PortSecurity: true},
		},
		Routers: []intent.Router{{Name: "r", Networks: []string{"a", "b"}}},
		Services: []intent.Service{{Name: "s", VIP: addr("10.9.0.1"), Protocol: intent.ProtoTCP, Port: 80, Backends: []intent.Backend{
			{Port: "pa", TargetPort: 80, Weight: 1}, {Port: "pb", TargetPort: 80, Weight: 1},
			{Port: "pc", TargetPort: 80, Weight: 1}, {Port: "unbound", TargetPort: 80, Weight: 1}}}},
	}
	b := Bindings{"pa": 1, "pb": 2, "pc": 3}
	views := serviceViews(in, b, nil, networkZones(in), assignServiceIDs(in))
	got := map[string][]string{}
	for _, v := range views {
		var bes []string
		for _, be := range v.backends {
			bes = append(bes, be.Port+"@"+be.mac.String())
		}
		got[v.net.Name] = bes
	}
	gwA, gwB := GatewayMAC(&in.Networks[0]).String(), GatewayMAC(&in.Networks[1]).String()
	want := map[string][]string{
		"a": {"pa@02:00:00:00:00:01", "pb@" + gwA},
		"b": {"pa@" + gwB, "pb@02:00:00:00:00:02"},
		"c": {"pc@02:00:00:00:00:03"},
	}
	for n, w := range want {
		if !slices.Equal(got[n], w) {
			t.Errorf("network %s: backends %v, want %v", n, got[n], w)
		}
	}
	if _, ok := got["v6only"]; ok {
		t.Errorf("an IPv4 service has a view in an IPv6-only network: %v", got)
	}
	groups := ServiceGroups(in, b)
	if len(groups) != 3 {
		t.Errorf("%d groups, want one per view with backends (3)", len(groups))
	}
}

// Service and backend cookies name their objects, and the traffic of a
// dump is summed per backend and per service.
func TestServiceCookiesAndTraffic(t *testing.T) {
	in := serviceLabIntent()
	b := Bindings{}
	for i, p := range in.Ports {
		b[p.Name] = uint32(i + 1)
	}
	fs, err := Compile(in, b)
	if err != nil {
		t.Fatal(err)
	}
	namer := NewCookieNamer(in)
	stats := make([]flows.FlowStats, len(fs))
	for i, f := range fs {
		if KindOf(f.Cookie) == KindService {
			stats[i] = flows.FlowStats{Packets: 1, Bytes: 100}
			if d := namer.Describe(f.Cookie); !strings.HasPrefix(d, "services[") {
				t.Errorf("cookie %#x of %s is described as %q", f.Cookie, f.String(), d)
			}
		}
	}
	traffic := namer.ServiceTraffic(fs, stats)
	byName := map[string]ServiceTraffic{}
	for _, s := range traffic {
		byName[s.Service+"/"+s.Backend] = s
	}
	web1 := byName["web/web1:8080"]
	if web1.Packets == 0 || !strings.Contains(web1.Name, "backend web1:8080") {
		t.Errorf("web1 as a backend of web: %+v", web1)
	}
	web := byName["web/"]
	var sum uint64
	for _, s := range traffic {
		if s.Service == "web" && s.Backend != "" {
			sum += s.Packets
		}
	}
	if web.Packets <= sum {
		t.Errorf("service web counts %d packets, its backends %d: want the backends plus the replies", web.Packets, sum)
	}
}
