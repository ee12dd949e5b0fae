package inspect

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/testbed"
)

// Traces name the admin policy rule that decided, as they name
// security-group rules.
func TestTracePoliciesOnOVS(t *testing.T) {
	l := newLab(t)
	host := func(s string) netip.Prefix { return netip.PrefixFrom(netip.MustParseAddr(s), 32) }
	tcpFrom := func(action intent.PolicyAction, port uint16, from string) intent.PolicyRule {
		return intent.PolicyRule{Action: action, Match: intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4,
			Protocol: intent.ProtoTCP, PortMin: port, PortMax: port, RemoteCIDR: host(from)}}
	}
	l.intent.Policies = []intent.Policy{{Name: "db-admin", Priority: 1, AppliesTo: intent.PolicyTarget{Ports: []string{"db1"}},
		Rules: []intent.PolicyRule{
			tcpFrom(intent.ActionPass, 3306, "10.0.0.12"),
			tcpFrom(intent.ActionDeny, 3306, "10.0.0.11"),
			tcpFrom(intent.ActionAllow, 5432, "10.0.0.12"),
			tcpFrom(intent.ActionReject, 5432, "10.0.0.11"),
		}}}
	l.install()
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		name    string
		req     TraceRequest
		allowed bool
		verdict string
	}{
		{"deny", TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 3306}, false,
			"denied by policies[db-admin].rules[1] (deny ingress tcp/3306 from 10.0.0.11/32)"},
		{"pass", TraceRequest{From: "web2", To: addr("10.0.0.21"), Proto: "tcp", DPort: 3306}, true,
			"allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)"},
		{"allow", TraceRequest{From: "web2", To: addr("10.0.0.21"), Proto: "tcp", DPort: 5432}, true,
			"allowed by security_groups[web].rules[3] (egress any to any) and policies[db-admin].rules[2] (allow ingress tcp/5432 from 10.0.0.12/32)"},
		{"reject", TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 5432}, false,
			"rejected (dropped: reject does not answer yet) by policies[db-admin].rules[3] (reject ingress tcp/5432 from 10.0.0.11/32)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := l.trace(tc.req)
			if res.Allowed != tc.allowed || res.Verdict != tc.verdict {
				t.Errorf("allowed %v, verdict\n  %q\nwant allowed %v,\n  %q\n%s", res.Allowed, res.Verdict, tc.allowed, tc.verdict, res)
			}
		})
	}
}

// flowgate flows names and counts the policy rules: --policy selects a
// policy's flows, and real traffic shows in the counter of the rule that
// decided it.
func TestFlowsPolicyCountersOnOVS(t *testing.T) {
	l := newLab(t)
	doc, err := os.ReadFile(workedExample)
	if err != nil {
		t.Fatal(err)
	}
	doc = append(doc, []byte(`
policies:
  - name: db-admin
    priority: 1
    applies_to: {ports: [db1]}
    rules:
      - {action: deny, direction: ingress, protocol: tcp, ports: "3306", remote_cidr: 10.0.0.11}
      - {action: allow, direction: ingress, protocol: tcp, ports: "5432", remote_cidr: 10.0.0.12}
`)...)
	path := filepath.Join(t.TempDir(), "intent.yaml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if l.intent, err = intent.Load(path); err != nil {
		t.Fatal(err)
	}
	l.src.IntentPath = path
	l.install()
	ctx := context.Background()
	for _, port := range []uint16{3306, 5432} {
		if _, err := l.tb.Host("db1").ServeTCP(port); err != nil {
			t.Fatal(err)
		}
	}
	db1 := netip.MustParseAddr("10.0.0.21")
	if res, err := testbed.TCPConnect(ctx, l.tb.Host("web1"), db1, 3306); err != nil || res.Outcome != testbed.TimedOut {
		t.Errorf("web1 -> db1:3306: %v %v, want timed out", res, err)
	}
	if res, err := testbed.TCPConnect(ctx, l.tb.Host("web2"), db1, 5432); err != nil || res.Outcome != testbed.OK {
		t.Errorf("web2 -> db1:5432: %v %v, want ok", res, err)
	}
	s := l.snapshot()
	for _, c := range s.PolicyCounters() {
		if c.Flows == 0 || c.Packets == 0 {
			t.Errorf("%s: %+v, want flows and traffic", c.Rule, c)
		}
	}
	var out bytes.Buffer
	if err := s.WriteFlows(&out, FlowFilter{Policy: "db-admin"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("flows --policy db-admin:\n%s", out.String())
	for _, want := range []string{"table 61 (ingress_policy)\n", "  policies[db-admin].rules[0] (deny ingress tcp/3306 from 10.0.0.11/32)  n_packets=",
		"  policies[db-admin].rules[1] (allow ingress tcp/5432 from 10.0.0.12/32)  flows="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("flows --policy db-admin lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "security_groups[") {
		t.Error("flows --policy shows security-group flows")
	}
}
