package inspect

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

func (l *lab) snapshot() *Snapshot {
	l.t.Helper()
	s, err := Take(context.Background(), l.src)
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

func (l *lab) ofctl(args ...string) {
	l.t.Helper()
	if out, err := l.tb.OVS().Ofctl(context.Background(), args...); err != nil {
		l.t.Fatalf("ovs-ofctl %v: %v\n%s", args, err, out)
	}
}

// Real traffic shows up in the counters of the rules that allowed it, and
// only there; the filters select by group, port and table.
func TestFlowsAndRuleCountersOnOVS(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	if _, err := l.tb.Host("db1").ServeTCP(3306); err != nil {
		t.Fatal(err)
	}
	res, err := testbed.TCPConnect(ctx, l.tb.Host("web1"), netip.MustParseAddr("10.0.0.21"), 3306)
	if err != nil || res.Outcome != testbed.OK {
		t.Fatalf("web1 -> db1:3306: %v %v", res, err)
	}
	s := l.snapshot()

	counters := map[string]RuleCounter{}
	for _, c := range s.RuleCounters() {
		counters[strings.SplitN(c.Rule, " ", 2)[0]] = c
	}
	for rule, hit := range map[string]bool{
		"security_groups[web].rules[3]": true, // web1's egress
		"security_groups[db].rules[0]":  true, // db1's ingress from web
		"security_groups[db].rules[2]":  false,
		"security_groups[web].rules[0]": false,
	} {
		c, ok := counters[rule]
		if !ok || c.Flows == 0 || (c.Packets > 0) != hit || (c.Bytes > 0) != hit {
			t.Errorf("%s: %+v, want traffic %v", rule, c, hit)
		}
	}

	var out bytes.Buffer
	if err := s.WriteFlows(&out, FlowFilter{Group: "db", Table: "ingress_acl"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("flows --group db --table ingress_acl:\n%s", out.String())
	for _, want := range []string{"table 60 (ingress_acl)\n", "  security_groups[db].rules[0] (ingress tcp/3306 from group web)  n_packets=",
		"per-rule counters", "cookie=0x5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("flows --group db lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "security_groups[web]") || strings.Contains(out.String(), "table 30") {
		t.Errorf("flows --group db --table ingress_acl shows another group or table")
	}

	byNumber, err := s.Flows(FlowFilter{Table: "60"})
	if err != nil {
		t.Fatal(err)
	}
	byName, _ := s.Flows(FlowFilter{Table: "ingress_acl"})
	if len(byNumber) == 0 || len(byNumber) != len(byName) {
		t.Errorf("--table 60 gives %d flows, --table ingress_acl %d", len(byNumber), len(byName))
	}
	if _, err := s.Flows(FlowFilter{Table: "no_such_table"}); err == nil {
		t.Error("--table no_such_table: no error")
	}
	if _, err := s.Flows(FlowFilter{Group: "nope"}); err == nil {
		t.Error("--group nope: no error")
	}

	// db1's flows: its own cookie, and rules' flows matching it as
	// destination (reg1=0x3).
	port, err := s.Flows(FlowFilter{Port: "db1"})
	if err != nil {
		t.Fatal(err)
	}
	var own, rules int
	for _, f := range port {
		switch {
		case f.Object == "ports[db1]":
			own++
		case strings.HasPrefix(f.Object, "security_groups[db].rules["):
			rules++
		default:
			if !matchesPort(f.Match, 3) {
				t.Errorf("--port db1 shows %s (%s)", f.Flow.String(), f.Object)
			}
		}
	}
	if own == 0 || rules == 0 {
		t.Errorf("--port db1: %d flows of ports[db1], %d of db's rules; want both", own, rules)
	}
}

// diff is quiet on a bridge holding what the intent compiles to, and
// shows a deleted, a changed and a stray flow with their objects.
func TestDiffFindsHandEditsOnOVS(t *testing.T) {
	l := newLab(t)
	var out bytes.Buffer
	if l.snapshot().WriteDiff(&out) || !strings.HasPrefix(out.String(), "in sync: ") {
		t.Fatalf("diff right after install:\n%s", out.String())
	}
	t.Logf("%s", out.String())

	l.ofctl("--strict", "del-flows", "br-int", "table=80,priority=100,reg1=0x3")
	l.ofctl("--strict", "mod-flows", "br-int", "table=80,priority=100,reg1=0x1,actions=drop")
	l.ofctl("add-flow", "br-int", "table=40,priority=5,ip,actions=drop")
	out.Reset()
	differs := l.snapshot().WriteDiff(&out)
	t.Logf("diff after three hand edits:\n%s", out.String())
	if !differs {
		t.Fatal("diff reports no difference")
	}
	for _, want := range []string{
		"\n+ cookie=0x20000144d2ef7, table=80, priority=100,reg1=0x3 actions=output:3\n    # ports[db1]\n",
		"\n~ cookie=0x2000093c3efe1, table=80, priority=100,reg1=0x1 actions=output:1\n    # ports[web1]\n    # installed: actions=drop\n",
		"\n- table=40, priority=5,ip actions=drop\n    # no cookie: not installed by flowgate",
		"differ: ", "1 to add, 1 to modify, 1 to delete\n",
	} {
		if !strings.Contains("\n"+out.String(), want) {
			t.Errorf("diff lacks %q", want)
		}
	}
}
