package pipeline

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/labinstall"
	"github.com/flowgate/flowgate/testbed"
)

// sgLab is the worked example on a private OVS: web1, web2, db1 and an
// admin workstation (203.0.113.5, group admin: egress only) on one
// segment, every host a namespace, the bridge fail_mode=secure and
// programmed with nothing but the compiler's output.
type sgLab struct {
	t     *testing.T
	tb    *testbed.Testbed
	hosts map[string]*testbed.Host
	b     Bindings
}

func sgLabIntent() *intent.Intent {
	in := workedExample()
	in.Ports = append(in.Ports, intent.Port{Name: "admin", Network: "tenant", MAC: [6]byte{2, 0, 0xcb, 0, 0x71, 5},
		IPs:            []netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("2001:db8:113::5")},
		SecurityGroups: []string{"admin"}, PortSecurity: true})
	in.SecurityGroups = append(in.SecurityGroups, intent.SecurityGroup{Name: "admin", Stateful: true, Rules: []intent.Rule{
		{Direction: intent.Egress, EtherType: intent.IPv4, Protocol: intent.ProtocolAny},
		{Direction: intent.Egress, EtherType: intent.IPv6, Protocol: intent.ProtocolAny},
	}})
	return in
}

func newSGLab(t *testing.T, in *intent.Intent) *sgLab {
	tb := testbed.New(t, testbed.Options{})
	ctx := context.Background()
	sw, err := tb.AddSwitch(ctx, "br-sg", testbed.SwitchOpts{Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	l := &sgLab{t: t, tb: tb, hosts: map[string]*testbed.Host{}, b: Bindings{}}
	for i, p := range in.Ports {
		opts := testbed.HostOpts{MAC: net.HardwareAddr(p.MAC[:]), OFPort: uint32(i + 1)}
		for _, ip := range p.IPs {
			if ip.Is4() {
				opts.IPv4 = netip.PrefixFrom(ip, 24)
			} else {
				opts.IPv6 = netip.PrefixFrom(ip, 64)
			}
		}
		h, err := tb.AddHost(ctx, p.Name, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			t.Fatal(err)
		}
		l.hosts[p.Name] = h
		l.b[p.Name] = h.OFPort()
	}
	// The admin network shares the segment: on-link routes both ways.
	for name, h := range l.hosts {
		routes := [][]string{{"203.0.113.0/24"}, {"-6", "2001:db8:113::/64"}}
		if name == "admin" {
			routes = [][]string{{"10.0.0.0/24"}, {"-6", "fd00:10::/64"}}
		}
		for _, r := range routes {
			args := append([]string{"ip"}, r[:len(r)-1]...)
			args = append(args, "route", "add", r[len(r)-1], "dev", "eth0")
			if _, err := h.Exec(ctx, args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.install(in)
	return l
}

// install compiles in and replaces the bridge's flows with the result in
// one bundle, the way the controller will.
func (l *sgLab) install(in *intent.Intent) {
	l.t.Helper()
	fs, err := Compile(in, l.b)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := labinstall.Apply(context.Background(), l.tb.OVS().Ofctl, "br-sg", fs, nil, ServiceGroups(in, l.b)); err != nil {
		l.t.Fatal(err)
	}
	if err := l.tb.OVS().SettleDatapath(context.Background()); err != nil {
		l.t.Fatal(err)
	}
}

func (l *sgLab) serve(host string, ports ...uint16) {
	for _, p := range ports {
		if _, err := l.hosts[host].ServeTCP(p); err != nil {
			l.t.Fatal(err)
		}
	}
}

type sgProbe struct {
	from, to string
	v6       bool
	port     uint16
	want     testbed.Outcome
}

func (l *sgLab) check(probes []sgProbe) { checkProbes(l.t, l.hosts, nil, probes) }

// checkProbes makes each probe between hosts; where, if not nil, names
// each host's node for the messages.
func checkProbes(t *testing.T, hosts map[string]*testbed.Host, where map[string]string, probes []sgProbe) {
	t.Helper()
	for _, p := range probes {
		dst := hosts[p.to].IP4()
		if p.v6 {
			dst = hosts[p.to].IP6()
		}
		res, err := testbed.TCPConnect(context.Background(), hosts[p.from], dst, p.port)
		if err != nil {
			t.Fatalf("%s -> %s:%d: %v", p.from, dst, p.port, err)
		}
		if res.Outcome != p.want {
			t.Errorf("%s%s -> %s%s %s:%d: %s (%s), want %s", p.from, nodeOf(where, p.from), p.to, nodeOf(where, p.to), dst, p.port,
				res.Outcome, res.Detail, p.want)
		}
	}
}

func nodeOf(where map[string]string, host string) string {
	if n, ok := where[host]; ok {
		return " (" + n + ")"
	}
	return ""
}

func (l *sgLab) session(from, to string, port uint16) *testbed.Session {
	l.t.Helper()
	s, err := testbed.OpenSession(context.Background(), l.hosts[from], l.hosts[to].IP4(), port)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { s.Close() })
	return s
}

func TestSecurityGroupsOnOVS(t *testing.T) {
	in := sgLabIntent()
	l := newSGLab(t, in)
	l.serve("db1", 3306, 22)
	l.serve("web1", 8080, 22)
	l.serve("web2", 8080)
	l.check([]sgProbe{
		{"web1", "db1", false, 3306, testbed.OK},
		{"web2", "db1", false, 3306, testbed.OK},
		{"web1", "db1", true, 3306, testbed.OK},
		{"admin", "db1", false, 22, testbed.OK},
		{"admin", "db1", true, 22, testbed.OK},
		{"admin", "web1", false, 8080, testbed.OK},
		{"db1", "web1", false, 8080, testbed.OK},
		{"admin", "db1", false, 3306, testbed.TimedOut}, // not in group web
		{"admin", "db1", true, 3306, testbed.TimedOut},
		{"web1", "db1", false, 22, testbed.TimedOut}, // not from the admin network
		{"db1", "web1", false, 22, testbed.TimedOut},
	})

	// Removing a rule ends the connections it allowed, and only those.
	dbSSH := l.session("admin", "db1", 22)
	webSSH := l.session("admin", "web1", 22)
	db := in.SecurityGroup("db")
	db.Rules = slices.DeleteFunc(db.Rules, func(r intent.Rule) bool {
		return r.PortMin == 22 && r.EtherType == intent.IPv4
	})
	l.install(in)
	if dbSSH.Alive() {
		t.Error("admin -> db1:22 survived the removal of db's ssh rule")
	}
	if !webSSH.Alive() {
		t.Error("admin -> web1:22 died although web's ssh rule stayed")
	}

	// A port leaving a remote group loses what that membership allowed.
	web1DB := l.session("web1", "db1", 3306)
	web2DB := l.session("web2", "db1", 3306)
	in.SecurityGroups = append(in.SecurityGroups, intent.SecurityGroup{Name: "other", Stateful: true,
		Rules: in.SecurityGroup("admin").Rules})
	in.Port("web1").SecurityGroups = []string{"other"}
	l.install(in)
	if web1DB.Alive() {
		t.Error("web1 -> db1:3306 survived web1 leaving group web")
	}
	if !web2DB.Alive() {
		t.Error("web2 -> db1:3306 died although web2 is still in group web")
	}
	l.check([]sgProbe{{"web1", "db1", false, 3306, testbed.TimedOut}})

	// Anti-spoofing: web2 sending from an address it does not own gets
	// nowhere, although db1 would accept web2's real address.
	ctx := context.Background()
	if _, err := l.hosts["web2"].Exec(ctx, "sh", "-c",
		"ip addr flush dev eth0 scope global && ip addr add 10.0.0.99/24 dev eth0 && ip route add 203.0.113.0/24 dev eth0"); err != nil {
		t.Fatal(err)
	}
	l.check([]sgProbe{{"web2", "web1", false, 8080, testbed.TimedOut}})
}
