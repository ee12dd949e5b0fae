package inspect

import (
	"net/netip"
	"testing"

	"github.com/flowgate/flowgate/intent"
)

// Traces name the admin policy rule that decided, as they name
// security-group rules.
func TestTracePolicies(t *testing.T) {
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
