package pipeline

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/golden"
)

func mustCompile(t *testing.T, in *intent.Intent, b Bindings) []flows.Flow {
	t.Helper()
	fs, err := Compile(in, b)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return fs
}

// grep returns the flows whose text contains every one of parts.
func grep(fs []flows.Flow, parts ...string) []string {
	var out []string
	for _, f := range fs {
		s := f.String()
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(s, p) }) {
			out = append(out, s)
		}
	}
	return out
}

func TestCompileIsDeterministic(t *testing.T) {
	a := flowsText(mustCompile(t, workedExample(), workedBindings()))
	for range 5 {
		if b := flowsText(mustCompile(t, workedExample(), workedBindings())); a != b {
			t.Fatalf("two compiles differ:\n%s", golden.LineDiff(a, b))
		}
	}
}

// ruleIDs maps the ruleKey of every rule of in to the id it compiles
// under: its class's.
func ruleIDs(in *intent.Intent) map[string]uint32 {
	ids := assignIDs(in, nil)
	out := map[string]uint32{}
	for _, g := range in.SecurityGroups {
		for _, c := range ids.classes[g.Name] {
			for _, i := range c.rules {
				out[ruleKey(g.Name, g.Rules[i])] = c.id
			}
		}
	}
	return out
}

// Reordering rules, or removing one, leaves the other rules' ids (cookies,
// conjunction ids, ct_label values) alone.
func TestRuleIDsAreStable(t *testing.T) {
	in := workedExample()
	before := ruleIDs(in)
	db := in.SecurityGroup("db")
	slices.Reverse(db.Rules)
	removed := db.Rules[0]
	db.Rules = db.Rules[1:]
	after := ruleIDs(in)
	for key, id := range before {
		if key == ruleKey("db", removed) {
			if _, still := after[key]; still {
				t.Errorf("removed rule %q still has an id", key)
			}
			continue
		}
		if after[key] != id {
			t.Errorf("rule %q: id %#x became %#x", key, id, after[key])
		}
	}
}

func TestAllocateResolvesCollisions(t *testing.T) {
	// A span of 4 forces collisions among 4 keys; every key still gets a
	// distinct id, and the result does not depend on input order.
	keys := []string{"a", "b", "c", "d"}
	got := allocate(keys, 1, 4)
	seen := map[uint32]bool{}
	for _, k := range keys {
		id := got[k]
		if id < 1 || id > 4 || seen[id] {
			t.Fatalf("allocate: %v", got)
		}
		seen[id] = true
	}
	rev := slices.Clone(keys)
	slices.Reverse(rev)
	if again := allocate(rev, 1, 4); fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("order-dependent: %v vs %v", got, again)
	}
}

func TestUnboundPortsGetNoFlows(t *testing.T) {
	fs := mustCompile(t, workedExample(), Bindings{"web1": 1})
	for _, f := range fs {
		s := f.String()
		if strings.Contains(s, "reg1=0x3") || strings.Contains(s, "in_port=3") || strings.Contains(s, "02:00:0a:00:00:15") {
			t.Errorf("flow for unbound db1: %s", s)
		}
	}
	// web1's 3306 from group web is db's rule: without a bound db member it
	// compiles to nothing.
	if got := grep(fs, "tp_dst=3306"); len(got) != 0 {
		t.Errorf("rules of a group without bound members: %q", got)
	}
}

// Rules sharing ports share the port's clause flow, which carries one
// conjunction action per rule.
func TestConjunctionFlowsAreShared(t *testing.T) {
	fs := mustCompile(t, workedExample(), workedBindings())
	got := grep(fs, "table=60, priority=500,reg1=0x1 ")
	if len(got) != 1 {
		t.Fatalf("want one shared port clause flow for web1, got %q", got)
	}
	if n := strings.Count(got[0], "conjunction("); n != 4 {
		t.Errorf("web1's clause flow has %d conjunction actions, want 4 (8080 and 22, v4 and v6): %s", n, got[0])
	}
	// All flows of one conjunction id share one priority.
	prio := map[string]uint16{}
	for _, f := range fs {
		for _, a := range f.Actions {
			if c, ok := a.(flows.Conjunction); ok {
				k := fmt.Sprintf("%d/%d", f.Table, c.ID)
				if p, seen := prio[k]; seen && p != f.Priority {
					t.Errorf("conjunction %s at priorities %d and %d", k, p, f.Priority)
				}
				prio[k] = f.Priority
			}
		}
	}
}

// A rule whose every dimension has one value is a plain flow.
func TestSingleValuedRuleIsPlain(t *testing.T) {
	fs := mustCompile(t, workedExample(), workedBindings())
	got := grep(fs, "table=60, priority=501,tcp,reg1=0x3,nw_src=203.0.113.0/24,tp_dst=22 ", "set_field:")
	if len(got) != 1 {
		t.Errorf("db1's ssh rule: want one plain flow, got %q", got)
	}
}

func TestDescribeCookie(t *testing.T) {
	in := workedExample()
	fs := mustCompile(t, in, workedBindings())
	want := "security_groups[db].rules[0] (ingress tcp/3306 from group web)"
	found := false
	for _, f := range fs {
		d := DescribeCookie(in, f.Cookie)
		if strings.Contains(d, "no such object") || strings.Contains(d, "not known") {
			t.Errorf("%s: %s", f.String(), d)
		}
		found = found || d == want
	}
	if !found {
		t.Errorf("no flow described as %q", want)
	}
	for _, c := range []struct {
		cookie uint64
		want   string
	}{
		{infraCookie(TableEgressACL), "pipeline table 30 (egress_acl)"},
		{Cookie(KindPort, uint64(assignIDs(in, nil).port["db1"])), "ports[db1]"},
		{Cookie(KindRule, 12345), "no such object"},
	} {
		if got := DescribeCookie(in, c.cookie); !strings.Contains(got, c.want) {
			t.Errorf("DescribeCookie(%#x) = %q, want %q", c.cookie, got, c.want)
		}
	}
}

// Ports with port_security:false are neither anti-spoofed nor filtered,
// but a stateful port talking to them still commits its connections.
func TestUnfilteredPort(t *testing.T) {
	in := workedExample()
	in.Ports[0].PortSecurity = false // web1
	fs := mustCompile(t, in, workedBindings())
	if got := grep(fs, "table=10,", "in_port=1,"); len(got) != 0 {
		t.Errorf("anti-spoofing for an unfiltered port: %q", got)
	}
	for _, want := range []string{
		"priority=100,in_port=1 actions=set_field:0x1->reg0,load:0x4031->NXM_NX_REG2[0..15],goto_table:20",
		"table=30, priority=900,reg0=0x1 actions=goto_table:40",
		"table=60, priority=900,reg1=0x1 actions=goto_table:70",
		"table=70, priority=200,ct_state=+new+trk,ip,reg1=0x3 actions=ct(commit",
	} {
		if len(grep(fs, want)) != 1 {
			t.Errorf("missing %q", want)
		}
	}
	if got := grep(fs, "table=70,", "reg0=0x1"); len(got) != 0 {
		t.Errorf("commit for the unfiltered port itself: %q", got)
	}
}

// Stateless groups judge every packet by the rules: no invalid/stale
// drops, no commit, no established checks for their ports.
func TestStatelessGroup(t *testing.T) {
	in := workedExample()
	in.SecurityGroup("web").Stateful = false
	fs := mustCompile(t, in, workedBindings())
	for _, port := range []string{"reg0=0x1", "reg1=0x1", "reg0=0x2", "reg1=0x2"} {
		if got := grep(fs, "ct_state", port); len(got) != 0 {
			t.Errorf("stateless web port has ct_state flows: %q", got)
		}
	}
	if len(grep(fs, "table=60, priority=500,reg1=0x1 ", "conjunction(")) != 1 {
		t.Errorf("stateless port lost its rules")
	}
}

func TestProtocolsAndICMP(t *testing.T) {
	in := workedExample()
	in.SecurityGroup("db").Rules = []intent.Rule{
		{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: 47},
		{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoICMP, ICMPType: flows.U8(8), ICMPCode: flows.U8(0)},
		{Direction: intent.Ingress, EtherType: intent.IPv6, Protocol: intent.ProtoICMPv6, ICMPType: flows.U8(128)},
		{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoUDP, PortMin: 1000, PortMax: 1999,
			RemoteCIDR: netip.MustParsePrefix("198.51.100.0/24")},
	}
	fs := mustCompile(t, in, workedBindings())
	for _, want := range []string{
		"priority=501,ip,reg1=0x3,nw_proto=47 ",
		"priority=501,icmp,reg1=0x3,icmp_type=8,icmp_code=0 ",
		"priority=501,icmp6,reg1=0x3,icmp_type=128 ",
		// The remote is a single value, the range several; db1, the one
		// member, is a clause of its own (a second member must not
		// renumber the others).
		"priority=500,reg1=0x3 actions=conjunction(",
		"priority=500,ip,nw_src=198.51.100.0/24 actions=conjunction(",
		"priority=500,udp,tp_dst=0x3e8/0xfff8 actions=conjunction(",
	} {
		if len(grep(fs, want)) != 1 {
			t.Errorf("missing %q", want)
		}
	}
	if n := len(grep(fs, "priority=500,udp,tp_dst=")); n != 7 {
		t.Errorf("udp/1000-1999: %d port flows, want 7", n)
	}
}

// A group with 100 remote CIDRs and 50 port ranges applied to 20 ports
// costs flows in proportion to M+N+P, not M×N×P.
func TestFlowCountScalesLinearly(t *testing.T) {
	in := &intent.Intent{Networks: []intent.Network{{Name: "n", CIDR: netip.MustParsePrefix("10.0.0.0/16")}}}
	b := Bindings{}
	g := intent.SecurityGroup{Name: "big", Stateful: true}
	for i := range 100 {
		g.Rules = append(g.Rules, intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP,
			PortMin: 22, PortMax: 22, RemoteCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24)})
	}
	for i := range 50 {
		lo := uint16(2000 + 300*i)
		g.Rules = append(g.Rules, intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP,
			PortMin: lo, PortMax: lo + 99})
	}
	in.SecurityGroups = []intent.SecurityGroup{g}
	for i := range 20 {
		name := fmt.Sprintf("p%d", i)
		in.Ports = append(in.Ports, intent.Port{Name: name, Network: "n", MAC: [6]byte{2, 0, 0, 0, 0, byte(i + 1)},
			IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})}, SecurityGroups: []string{"big"}, PortSecurity: true})
		b[name] = uint32(i + 1)
	}
	fs := mustCompile(t, in, b)
	acl := len(grep(fs, "table=60,"))
	t.Logf("100 CIDR rules + 50 port-range rules on 20 ports: %d flows in total, %d in ingress_acl", len(fs), acl)
	// Two classes (rule_classes.go): the 100 CIDRs on tcp/22, and the 50
	// ranges from anywhere; each one conjunction of its remote or
	// port-range flows; plus a handful per port.
	if acl > 500 {
		t.Errorf("ingress_acl has %d flows; a cross product would be thousands, want at most 500", acl)
	}
}

// A group's second member does not renumber the clauses of its rules:
// the remote group's address flows (shared by every rule that names the
// group, hundreds on a large host) stay as they were.
func TestSecondMemberKeepsClauseNumbers(t *testing.T) {
	in := workedExample()
	before := mustCompile(t, in, workedBindings())
	web2 := in.Port("web2")
	web2.SecurityGroups = append(web2.SecurityGroups, "db") // db: db1, now web2 too
	after := mustCompile(t, in, workedBindings())
	for _, addr := range []string{"nw_src=10.0.0.11 ", "nw_src=10.0.0.12 "} {
		b, a := grep(before, "table=60, priority=500,ip,"+addr), grep(after, "table=60, priority=500,ip,"+addr)
		if len(b) == 0 || !slices.Equal(b, a) {
			t.Errorf("group web's address flow %s changed when db got a second member:\n%q\n%q", addr, b, a)
		}
	}
}
