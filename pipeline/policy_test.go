package pipeline

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/golden"
)

// policyExample is the worked example with admin policies: the metadata
// address is closed to everyone (and every attempt logged), db1 is quarantined from the admin
// network except for ssh, which goes to the groups, the monitoring
// network always reaches every web port, and web ports may not open
// connections to 192.0.2.0/24.
func policyExample() *intent.Intent {
	in := workedExample()
	pfx := netip.MustParsePrefix
	in.Policies = []intent.Policy{
		{Name: "monitoring", Priority: 5, AppliesTo: intent.PolicyTarget{Groups: []string{"web"}}, Rules: []intent.PolicyRule{
			{Action: intent.ActionAllow, Match: intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP,
				PortMin: 9100, PortMax: 9100, RemoteCIDR: pfx("198.51.100.0/24")}},
			{Action: intent.ActionReject, Match: intent.Rule{Direction: intent.Egress, EtherType: intent.IPv4, Protocol: intent.ProtocolAny,
				RemoteCIDR: pfx("192.0.2.0/24")}},
		}},
		{Name: "metadata", Priority: 0, AppliesTo: intent.PolicyTarget{All: true}, Rules: []intent.PolicyRule{
			{Action: intent.ActionDeny, Log: true, Match: intent.Rule{Direction: intent.Egress, EtherType: intent.IPv4, Protocol: intent.ProtocolAny,
				RemoteCIDR: pfx("169.254.169.254/32")}},
		}},
		{Name: "quarantine", Priority: 10, AppliesTo: intent.PolicyTarget{Ports: []string{"db1"}}, Rules: []intent.PolicyRule{
			{Action: intent.ActionPass, Match: intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP,
				PortMin: 22, PortMax: 22, RemoteCIDR: pfx("203.0.113.0/24")}},
			{Action: intent.ActionDeny, Match: intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtocolAny,
				RemoteCIDR: pfx("203.0.113.0/24")}},
		}},
	}
	return in
}

func TestPolicyGolden(t *testing.T) {
	fs, err := Compile(policyExample(), workedBindings())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			t.Errorf("invalid flow %s: %v", f, err)
		}
	}
	golden.Check(t, filepath.Join("testdata", "policy_worked_example.golden"), []byte(flowsText(fs)))
}

// TestPoliciesAddOnly checks that policies only add flows: every flow of
// the pipeline without them is still there, unchanged.
func TestPoliciesAddOnly(t *testing.T) {
	without, err := Compile(workedExample(), workedBindings())
	if err != nil {
		t.Fatal(err)
	}
	with, err := Compile(policyExample(), workedBindings())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range with {
		have[f.String()] = true
	}
	for _, f := range without {
		if !have[f.String()] {
			t.Errorf("flow gone or changed with policies: %s", f)
		}
	}
}

// TestPolicyPriorities checks the order of rules in the policy tables:
// by policy priority, then rule index, each rule above every later one
// including its plain flows.
func TestPolicyPriorities(t *testing.T) {
	in := policyExample()
	top := func(name string, i int) uint16 {
		for k := range in.Policies {
			if in.Policies[k].Name == name {
				return policyRulePriority(&in.Policies[k], i)
			}
		}
		t.Fatalf("no policy %s", name)
		return 0
	}
	order := []uint16{top("metadata", 0), top("monitoring", 0), top("monitoring", 1), top("quarantine", 0), top("quarantine", 1)}
	for i := 1; i < len(order); i++ {
		if order[i-1] <= order[i]+1 {
			t.Errorf("rule %d at %d is not above rule %d at %d with room for plain flows", i-1, order[i-1], i, order[i])
		}
	}
	last := intent.Policy{Priority: intent.MaxPolicyPriority}
	if p := policyRulePriority(&last, intent.MaxPolicyRules-1); p <= prioACLInfra {
		t.Errorf("the lowest policy rule priority %d is not clear of the table's miss flow", p)
	}
}

func TestPolicyCookieNames(t *testing.T) {
	in := policyExample()
	fs, err := Compile(in, workedBindings())
	if err != nil {
		t.Fatal(err)
	}
	n := NewCookieNamer(in)
	names := map[string]bool{}
	for _, f := range fs {
		if cookieKind(f.Cookie) == KindPolicyRule {
			names[n.Describe(f.Cookie)] = true
		}
	}
	for _, want := range []string{
		"policies[metadata].rules[0] (deny egress any to 169.254.169.254/32)",
		"policies[monitoring].rules[0] (allow ingress tcp/9100 from 198.51.100.0/24)",
		"policies[quarantine].rules[1] (deny ingress any from 203.0.113.0/24)",
	} {
		if !names[want] {
			t.Errorf("no flow named %q; names: %v", want, names)
		}
	}
	for name := range names {
		if strings.Contains(name, "no such object") {
			t.Errorf("unnamed policy flow: %s", name)
		}
	}
	_ = flows.Flow{}
}
