package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/labinstall"
	"github.com/flowgate/flowgate/testbed"
)

// tunnelOFPort is the Geneve port's OpenFlow number on every node.
const tunnelOFPort = 100

// overlayLab is the worked example over two nodes (hypervisors, each a
// private OVS with userspace tunnelling): web1 and web2 on hv1, db1 on
// hv2, each node's br-int programmed with CompileOverlay for its own
// ports and a Geneve port for the others.
type overlayLab struct {
	t     *testing.T
	tb    *testbed.Testbed
	nodes map[string]*testbed.Node
	hosts map[string]*testbed.Host
	where map[string]string // port -> node
}

func newOverlayLab(t *testing.T, in *intent.Intent, where map[string]string, underlay string) *overlayLab {
	ctx := context.Background()
	l := &overlayLab{t: t, tb: testbed.New(t, testbed.Options{}), nodes: map[string]*testbed.Node{},
		hosts: map[string]*testbed.Host{}, where: where}
	for i, name := range []string{"hv1", "hv2"} {
		n, err := l.tb.AddNode(ctx, name, testbed.NodeOpts{Underlay: netip.MustParsePrefix(fmt.Sprintf(underlay, 11+i))})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := n.OVS().Vsctl(ctx, "add-port", testbed.IntegrationBridge, "tun0", "--", "set", "Interface", "tun0",
			"type=geneve", "options:remote_ip=flow", "options:key=flow", fmt.Sprintf("ofport_request=%d", tunnelOFPort)); err != nil {
			t.Fatalf("geneve port on %s: %v\n%s", name, err, out)
		}
		l.nodes[name] = n
	}
	for i, p := range in.Ports {
		node, ok := where[p.Name]
		if !ok {
			continue
		}
		opts := testbed.HostOpts{MAC: net.HardwareAddr(p.MAC[:]), OFPort: uint32(i + 1)}
		for _, ip := range p.IPs {
			if ip.Is4() {
				opts.IPv4 = netip.PrefixFrom(ip, 24)
			} else {
				opts.IPv6 = netip.PrefixFrom(ip, 64)
			}
		}
		h, err := l.tb.AddHost(ctx, p.Name, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.tb.Link(ctx, h, l.nodes[node].IntegrationBridge()); err != nil {
			t.Fatal(err)
		}
		l.hosts[p.Name] = h
	}
	l.install(in)
	return l
}

// install compiles in for every node (its own ports bound, the others
// remote at their node's underlay address) and installs it.
func (l *overlayLab) install(in *intent.Intent) {
	l.t.Helper()
	for name, n := range l.nodes {
		b, ov := Bindings{}, Overlay{TunnelPort: tunnelOFPort, Remote: map[string]netip.Addr{}}
		for port, node := range l.where {
			if node == name {
				b[port] = l.hosts[port].OFPort()
			} else {
				ov.Remote[port] = l.nodes[node].Underlay()
			}
		}
		fs, err := CompileOverlay(in, b, nil, ov)
		if err != nil {
			l.t.Fatal(err)
		}
		if err := labinstall.Apply(context.Background(), n.OVS().Ofctl, testbed.IntegrationBridge, fs, nil, ServiceGroupsOn(in, b, ov)); err != nil {
			l.t.Fatalf("node %s: %v", name, err)
		}
		if err := n.OVS().SettleDatapath(context.Background()); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *overlayLab) check(probes []sgProbe) { checkProbes(l.t, l.hosts, l.where, probes) }

// TestOverlayOnOVS: the worked example's groups across two nodes over
// Geneve, IPv4 and IPv6: the sender's egress rules on its node, the
// receiver's ingress rules (remote group web included) on the other,
// ARP and neighbour discovery flooded through the tunnel; a port that
// leaves group web loses db1 on the other node at the next install.
func TestOverlayOnOVS(t *testing.T) {
	t.Run("IPv4 underlay", func(t *testing.T) { overlayOnOVS(t, "192.168.100.%d/24") })
	t.Run("IPv6 underlay", func(t *testing.T) { overlayOnOVS(t, "fd00:100::%d/64") })
}

func overlayOnOVS(t *testing.T, underlay string) {
	in := workedExample()
	// A service whose backend is on the other node from its clients.
	in.Services = []intent.Service{{Name: "db", VIP: netip.MustParseAddr("10.0.0.100"), Protocol: intent.ProtoTCP, Port: 3306,
		Backends: []intent.Backend{{Port: "db1", TargetPort: 3306, Weight: 1}}}}
	l := newOverlayLab(t, in, map[string]string{"web1": "hv1", "web2": "hv1", "db1": "hv2"}, underlay)
	for _, port := range []uint16{22, 3306} {
		if _, err := l.hosts["db1"].ServeTCP(port); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"web1", "web2"} {
		if _, err := l.hosts[h].ServeTCP(8080); err != nil {
			t.Fatal(err)
		}
	}
	l.check([]sgProbe{
		{"web1", "db1", false, 3306, testbed.OK}, // across the tunnel, remote group web
		{"web2", "db1", true, 3306, testbed.OK},  // IPv6: neighbour discovery through the tunnel
		{"db1", "web1", false, 8080, testbed.OK}, // the other way
		{"db1", "web2", true, 8080, testbed.OK},
		{"web1", "web2", false, 8080, testbed.OK}, // on one node
		{"web1", "db1", false, 22, testbed.TimedOut},
		{"db1", "web1", false, 3306, testbed.TimedOut},
	})
	// web1 (hv1) -> the service -> db1 on hv2, through the tunnel; the
	// backend's host judges the translated connection.
	if res, err := testbed.TCPConnect(context.Background(), l.hosts["web1"], netip.MustParseAddr("10.0.0.100"), 3306); err != nil ||
		res.Outcome != testbed.OK || res.Seen.Addr() != l.hosts["web1"].IP4() {
		t.Errorf("web1 -> the db service (backend on the other node): %v %s (%s), seen %v", err, res.Outcome, res.Detail, res.Seen)
	}
	if res, err := testbed.Ping(context.Background(), l.hosts["web1"], l.hosts["db1"].IP4()); err != nil || res.Outcome != testbed.TimedOut {
		t.Errorf("ping web1 -> db1 across the tunnel: %v %s, want dropped (no group allows ICMP in)", err, res.Outcome)
	}
	out, err := l.nodes["hv1"].OVS().Appctl(context.Background(), "dpctl/dump-flows")
	if err != nil || !strings.Contains(out, "tnl_push") || !strings.Contains(out, "tnl_pop") {
		t.Errorf("hv1's datapath has no tnl_push/tnl_pop:\n%s", out)
	}

	// Tunnel packets are taken only from a port's own host: hv1 takes
	// db1's frames from hv2, not from another underlay address, and not
	// web1's (bound on hv1 itself) from hv2.
	zone := newCompiler(in, nil, nil).ids.zone["tenant"]
	hv1, hv2 := l.nodes["hv1"].Underlay(), l.nodes["hv2"].Underlay()
	stranger := netip.MustParsePrefix(fmt.Sprintf(underlay, 99)).Addr() // on the underlay, not a node
	tun := "tun_src=%s,tun_dst=%s"
	if hv1.Is6() {
		tun = "tun_ipv6_src=%s,tun_ipv6_dst=%s"
	}
	for _, c := range []struct {
		src   netip.Addr
		mac   string
		taken bool
	}{
		{hv2, "02:00:0a:00:00:15", true},
		{stranger, "02:00:0a:00:00:15", false},
		{hv2, "02:00:0a:00:00:0b", false},
	} {
		flow := fmt.Sprintf("in_port=%d,tun_id=%#x,"+tun+",dl_src=%s,dl_dst=02:00:0a:00:00:0b,tcp,nw_src=10.0.0.21,nw_dst=10.0.0.11,tp_dst=8080",
			tunnelOFPort, zone, c.src, hv1, c.mac)
		trace, err := l.nodes["hv1"].OVS().Appctl(context.Background(), "ofproto/trace", testbed.IntegrationBridge, flow)
		if err != nil {
			t.Fatalf("trace %s: %v", flow, err)
		}
		// Taken: classify sends it on to conntrack (table 20); else
		// classify's table miss drops it.
		if taken := strings.Contains(trace, "goto_table:20"); taken != c.taken {
			t.Errorf("tunnel packet from %s as %s: taken %v, want %v\n%s", c.src, c.mac, taken, c.taken, trace)
		}
	}

	// web2 moves from group web to db (which may send anything out):
	// db1's node no longer lets it in on 3306.
	web2 := &in.Ports[1]
	if web2.Name != "web2" {
		t.Fatalf("port 1 is %s", web2.Name)
	}
	web2.SecurityGroups = []string{"db"}
	l.install(in)
	l.check([]sgProbe{
		{"web2", "db1", false, 3306, testbed.TimedOut},
		{"web1", "db1", false, 3306, testbed.OK},
	})
}
