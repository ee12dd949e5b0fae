package pipeline

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

func tcpIn(lo, hi uint16, cidr string) intent.Rule {
	r := intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP, PortMin: lo, PortMax: hi}
	if cidr != "" {
		r.RemoteCIDR = netip.MustParsePrefix(cidr)
	}
	return r
}

func TestRuleClasses(t *testing.T) {
	mergeSmallClasses(t)
	fromGroup := func(r intent.Rule, g string) intent.Rule { r.RemoteCIDR, r.RemoteGroup = netip.Prefix{}, g; return r }
	v6 := func(r intent.Rule) intent.Rule { r.EtherType = intent.IPv6; return r }
	udp := func(r intent.Rule) intent.Rule { r.Protocol = intent.ProtoUDP; return r }
	const a, b = "198.51.100.0/24", "203.0.113.0/24"
	for _, c := range []struct {
		name  string
		rules []intent.Rule
		want  []string // "indices: text"
	}{
		{"single rules stay themselves",
			[]intent.Rule{tcpIn(22, 22, a), tcpIn(80, 80, b)},
			[]string{"0: ingress tcp/22 from 198.51.100.0/24", "1: ingress tcp/80 from 203.0.113.0/24"}},
		{"full cross product is one class",
			[]intent.Rule{tcpIn(80, 80, b), tcpIn(22, 22, a), tcpIn(22, 22, b), tcpIn(80, 80, a)},
			[]string{"0-3: ingress tcp/22,80 from 198.51.100.0/24,203.0.113.0/24"}},
		{"same remote set merges port ranges",
			[]intent.Rule{tcpIn(22, 22, a), tcpIn(1000, 1999, a), tcpIn(0, 0, a)},
			[]string{"0-2: ingress tcp/0-65535,22,1000-1999 from 198.51.100.0/24"}},
		{"a range with a different remote set is its own class",
			[]intent.Rule{tcpIn(22, 22, a), tcpIn(22, 22, b), tcpIn(80, 80, a)},
			[]string{"0-1: ingress tcp/22 from 198.51.100.0/24,203.0.113.0/24", "2: ingress tcp/80 from 198.51.100.0/24"}},
		{"remote groups and any are remotes like CIDRs",
			[]intent.Rule{fromGroup(tcpIn(3306, 3306, ""), "web"), tcpIn(3306, 3306, a), tcpIn(3306, 3306, "")},
			[]string{"0-2: ingress tcp/3306 from any,198.51.100.0/24,group web"}},
		{"services never merge",
			[]intent.Rule{tcpIn(22, 22, a), udp(tcpIn(22, 22, a)), v6(tcpIn(22, 22, "2001:db8::/32")),
				{Direction: intent.Egress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP, PortMin: 22, PortMax: 22, RemoteCIDR: netip.MustParsePrefix(a)}},
			[]string{"0: ingress tcp/22 from 198.51.100.0/24", "1: ingress udp/22 from 198.51.100.0/24",
				"2: ingress ipv6 tcp/22 from 2001:db8::/32", "3: egress tcp/22 to 198.51.100.0/24"}},
		{"identical rules are one rule, named by the first",
			[]intent.Rule{tcpIn(22, 22, a), tcpIn(22, 22, a), tcpIn(22, 22, b)},
			[]string{"0,2: ingress tcp/22 from 198.51.100.0/24,203.0.113.0/24"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, cl := range ruleClasses(&intent.SecurityGroup{Name: "g", Rules: c.rules}) {
				got = append(got, compactIndices(cl.rules)+": "+cl.text())
				if len(cl.rules) == 1 && cl.text() != describeRule(c.rules[cl.rules[0]]) {
					t.Errorf("class of one rule reads %q, the rule %q", cl.text(), describeRule(c.rules[cl.rules[0]]))
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("classes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

func TestCompactIndices(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{0, 2, 5, 6, 7}, "0,2,5-7"},
		{[]int{0, 2, 4, 6, 8, 10, 12, 14, 15}, "0,2,4,6,8,10,…+3"},
	} {
		if got := compactIndices(c.in); got != c.want {
			t.Errorf("compactIndices(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPortRangesMasksJoinOverlaps(t *testing.T) {
	got := portRangesMasks([]portRange{{1008, 1015}, {1000, 1007}, {1004, 1010}})
	if want := []flows.PortMatch{{Port: 1000, Mask: 0xfff8}, {Port: 1008, Mask: 0xfff8}}; !slices.Equal(got, want) {
		t.Errorf("1000-1007 ∪ 1008-1015 ∪ 1004-1010: %v, want %v", got, want)
	}
	if got := portRangesMasks([]portRange{{22, 22}, allPorts}); got != nil {
		t.Errorf("a union with every port: %v, want no match", got)
	}
}

// crossProduct is the flow-count acceptance input of issue 4: a group
// allowing each of 100 CIDRs on each of 50 port ranges (5,000 rules)
// applied to 20 ports.
func crossProduct() (*intent.Intent, Bindings) {
	in := &intent.Intent{Networks: []intent.Network{{Name: "n", CIDR: netip.MustParsePrefix("10.0.0.0/16")}}}
	b := Bindings{}
	g := intent.SecurityGroup{Name: "big", Stateful: true}
	for i := range 100 {
		for j := range 50 {
			lo := uint16(2000 + 300*j)
			g.Rules = append(g.Rules, intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP,
				PortMin: lo, PortMax: lo + 99, RemoteCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24)})
		}
	}
	in.SecurityGroups = []intent.SecurityGroup{g}
	for i := range 20 {
		name := fmt.Sprintf("p%d", i)
		in.Ports = append(in.Ports, intent.Port{Name: name, Network: "n", MAC: [6]byte{2, 0, 0, 0, 0, byte(i + 1)},
			IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})}, SecurityGroups: []string{"big"}, PortSecurity: true})
		b[name] = uint32(i + 1)
	}
	return in, b
}

// 100 CIDRs × 50 port ranges on 20 ports is one conjunction: 100 CIDR
// flows, the port ranges' masks and one flow per port, not 5,000 rules'
// worth (unfactored it was 15,724 flows, 10,418 in ingress_acl).
func TestCrossProductFlowCount(t *testing.T) {
	in, b := crossProduct()
	fs := mustCompile(t, in, b)
	acl := grep(fs, "table=60,")
	rules := grep(fs, "table=60, priority=500,")
	masks := len(portRangesMasks(ruleClasses(&in.SecurityGroups[0])[0].ranges))
	t.Logf("5,000 rules (100 CIDRs × 50 port ranges) on 20 ports: %d flows in total, %d in ingress_acl, %d of them the rules' conjunction (%d port-range masks)",
		len(fs), len(acl), len(rules), masks)
	if want := 100 + masks + 20 + 1; len(rules) != want {
		t.Errorf("the rules compile to %d conjunctive flows, want %d: 100 CIDRs + %d masks + 20 ports + 1 conj_id", len(rules), want, masks)
	}
	conj := grep(fs, "table=60, priority=500,conj_id=")
	if len(conj) != 1 {
		t.Fatalf("want one conjunction for the cross product, got %d: %q", len(conj), conj)
	}
	// A few hundred for the rules, plus a handful per port (its clause
	// flow, invalid/stale drops, established check) and the table's infra.
	const perPort = 5
	if bound := 400 + perPort*len(b); len(acl) > bound {
		t.Errorf("ingress_acl has %d flows, want at most %d", len(acl), bound)
	}
	if bound := 400 + 20*len(b); len(fs) > bound {
		t.Errorf("%d flows in total, want at most %d", len(fs), bound)
	}
	want := "security_groups[big].rules[0-4999] (ingress tcp 50 port ranges from 100 CIDRs)"
	cookie := fs[slices.IndexFunc(fs, func(f flows.Flow) bool { return f.String() == conj[0] })].Cookie
	if got := DescribeCookie(in, cookie); got != want {
		t.Errorf("DescribeCookie of the class: %q, want %q", got, want)
	}
	refs := RuleCookies(in)
	if len(refs) != 1 {
		t.Fatalf("RuleCookies: %d cookies, want the class's one", len(refs))
	}
	for _, ref := range refs {
		if ref.Group != "big" || ref.Index != 0 || len(ref.Indices) != 5000 || ref.Indices[4999] != 4999 {
			t.Errorf("RuleCookies: %s[%d], %d indices; want big[0] naming rules 0-4999", ref.Group, ref.Index, len(ref.Indices))
		}
	}
}

func BenchmarkCompileCrossProduct(b *testing.B) {
	in, bind := crossProduct()
	for b.Loop() {
		if _, err := Compile(in, bind); err != nil {
			b.Fatal(err)
		}
	}
}

// rulePacket is what the rule flows of ingress_acl look at in a new TCP
// connection.
type rulePacket struct {
	dstPort uint32 // reg1
	src     netip.Addr
	tpDst   uint16
}

// allowingIDs evaluates the rule flows of ingress_acl (plain and
// conjunctive, the way ovs-fields(7) defines conjunctive matches) for p
// and returns the rule ids they load: empty means no rule allows p.
func allowingIDs(t *testing.T, fs []flows.Flow, p rulePacket) []uint64 {
	t.Helper()
	var ids []uint64
	clauses := map[uint32]map[uint8]bool{}
	nClauses := map[uint32]uint8{}
	for _, f := range fs {
		if Table(f.Table) != TableIngressACL || f.Priority/10 != prioACLRule/10 || f.Match.ConjID != nil || !matchesRulePacket(t, f.Match, p) {
			continue
		}
		for _, a := range f.Actions {
			switch a := a.(type) {
			case flows.Conjunction:
				if clauses[a.ID] == nil {
					clauses[a.ID] = map[uint8]bool{}
				}
				clauses[a.ID][a.Clause] = true
				nClauses[a.ID] = a.NClauses
			case flows.Load:
				ids = append(ids, a.Value)
			}
		}
	}
	for _, f := range fs {
		if Table(f.Table) == TableIngressACL && f.Match.ConjID != nil && f.Priority == prioACLRule {
			id := *f.Match.ConjID
			if n := nClauses[id]; n > 0 && len(clauses[id]) == int(n) {
				ids = append(ids, f.Actions[0].(flows.Load).Value)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// matchesRulePacket decides m for p. It knows the fields rule flows use
// and fails the test on any other, so it cannot pass by ignoring one.
func matchesRulePacket(t *testing.T, m flows.Match, p rulePacket) bool {
	t.Helper()
	rest := m
	rest.Regs, rest.EthType, rest.IPProto, rest.IPSrc, rest.TPDst = nil, 0, nil, netip.Prefix{}, nil
	if s := rest.String(); s != "" {
		t.Fatalf("rule flow matches on %q, which the evaluator does not know", s)
	}
	for _, r := range m.Regs {
		mask := r.Mask
		if mask == 0 {
			mask = ^uint32(0)
		}
		if r.Index != regDstPort || p.dstPort&mask != r.Value&mask {
			return false
		}
	}
	if (m.EthType != 0 && m.EthType != flows.EthTypeIPv4) || (m.IPProto != nil && *m.IPProto != flows.ProtoTCP) {
		return false
	}
	if m.IPSrc.IsValid() && !m.IPSrc.Contains(p.src) {
		return false
	}
	if m.TPDst != nil {
		mask := m.TPDst.Mask
		if mask == 0 {
			mask = 0xffff
		}
		return p.tpDst&mask == m.TPDst.Port&mask
	}
	return true
}

// A merged class allows exactly its cross product: every remote on every
// port range, for its members only; a rule outside the product keeps its
// own id and allows only itself.
func TestMergedClassAllowsExactlyTheCrossProduct(t *testing.T) {
	mergeSmallClasses(t)
	const a, b, c = "198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/25"
	g := intent.SecurityGroup{Name: "g", Stateful: true}
	for _, cidr := range []string{a, b, c} {
		g.Rules = append(g.Rules, tcpIn(80, 80, cidr), tcpIn(8000, 8099, cidr))
	}
	extra := tcpIn(22, 22, a)
	g.Rules = append(g.Rules, extra)
	in := &intent.Intent{
		Networks:       []intent.Network{{Name: "n", CIDR: netip.MustParsePrefix("10.0.0.0/24")}},
		SecurityGroups: []intent.SecurityGroup{g},
		Ports: []intent.Port{
			{Name: "member", Network: "n", MAC: [6]byte{2, 0, 0, 0, 0, 1}, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")},
				SecurityGroups: []string{"g"}, PortSecurity: true},
			{Name: "other", Network: "n", MAC: [6]byte{2, 0, 0, 0, 0, 2}, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")},
				PortSecurity: true},
		},
	}
	fs := mustCompile(t, in, Bindings{"member": 1, "other": 2})
	if conj := grep(fs, "table=60, priority=500,conj_id="); len(conj) != 1 {
		t.Fatalf("want the 3×2 product as one conjunction, got %q", conj)
	}
	ids := ruleIDs(in)
	product, single := uint64(ids[ruleKey("g", g.Rules[0])]), uint64(ids[ruleKey("g", extra)])
	alone := ruleIDs(&intent.Intent{SecurityGroups: []intent.SecurityGroup{{Name: "g", Rules: []intent.Rule{extra}}}})
	if uint64(alone[ruleKey("g", extra)]) != single {
		t.Errorf("the rule outside the product has id %#x, alone it has %#x", single, alone[ruleKey("g", extra)])
	}
	cidrs := []netip.Prefix{netip.MustParsePrefix(a), netip.MustParsePrefix(b), netip.MustParsePrefix(c)}
	allowed := 0
	for _, dst := range []uint32{1, 2} {
		for _, src := range []string{"198.51.100.7", "203.0.113.7", "192.0.2.7", "192.0.2.200", "10.9.9.9"} {
			for _, port := range []uint16{21, 22, 23, 79, 80, 81, 7999, 8000, 8050, 8099, 8100} {
				p := rulePacket{dstPort: dst, src: netip.MustParseAddr(src), tpDst: port}
				var want []uint64
				if dst == 1 && slices.ContainsFunc(cidrs, func(q netip.Prefix) bool { return q.Contains(p.src) }) &&
					(port == 80 || port >= 8000 && port <= 8099) {
					want = append(want, product)
				}
				if dst == 1 && cidrs[0].Contains(p.src) && port == 22 {
					want = append(want, single)
				}
				got := allowingIDs(t, fs, p)
				if !slices.Equal(got, want) {
					t.Errorf("port %d from %s to tcp/%d: allowed by %#x, want %#x", dst, src, port, got, want)
				}
				if len(got) > 0 {
					allowed++
				}
			}
		}
	}
	t.Logf("%d of 110 probes allowed", allowed)
}

// mergeSmallClasses lets a test build classes from a few rules, which the
// compiler otherwise keeps one per rule (minClassRules). Pipeline tests do
// not run in parallel, so the override is safe.
func mergeSmallClasses(t *testing.T) {
	old := minClassRules
	minClassRules = 2
	t.Cleanup(func() { minClassRules = old })
}

// Below minClassRules a rectangle stays one class per rule, so adding a
// rule that would complete a small rectangle leaves the ids (and thus the
// connection labels) of the rules already there untouched.
func TestSmallRectanglesKeepRuleIDs(t *testing.T) {
	web := netip.MustParsePrefix("203.0.113.0/24")
	rule := func(port uint16, cidr netip.Prefix) intent.Rule {
		return intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP,
			PortMin: port, PortMax: port, RemoteCIDR: cidr}
	}
	before := &intent.SecurityGroup{Name: "db", Stateful: true, Rules: []intent.Rule{rule(3306, web)}}
	after := &intent.SecurityGroup{Name: "db", Stateful: true, Rules: []intent.Rule{rule(3306, web), rule(5432, web)}}
	cb, ca := ruleClasses(before), ruleClasses(after)
	if len(ca) != 2 {
		t.Fatalf("two rules of a small rectangle: %d classes, want one per rule", len(ca))
	}
	if cb[0].key() != ca[0].key() {
		t.Errorf("adding a rule changed the class of the existing one: %q -> %q", cb[0].text(), ca[0].text())
	}
}
