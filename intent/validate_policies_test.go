package intent

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

// policyDoc is tenant, web1 and db1 in group g (stateful), a stateless
// group "sl" and a port "open" without port security, plus the given
// policies (YAML list items).
func policyDoc(items ...string) string {
	doc := tenant + ports(
		"{name: web1, network: tenant, mac: '02:00:0a:00:00:0b', ips: [10.0.0.11], security_groups: [g]}",
		"{name: db1, network: tenant, mac: '02:00:0a:00:00:15', ips: [10.0.0.21], security_groups: [sl]}",
		"{name: open, network: tenant, mac: '02:00:0a:00:00:16', ips: [10.0.0.22], port_security: false}",
	) + "security_groups:\n- {name: g}\n- {name: sl, stateful: false}\n"
	if len(items) > 0 {
		doc += "policies:\n"
		for _, it := range items {
			doc += "- " + it + "\n"
		}
	}
	return doc
}

func TestValidatePolicies(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"valid", policyDoc(
			"{name: meta, priority: 0, applies_to: {all: true}, rules: [{action: deny, direction: egress, remote_cidr: 169.254.169.254}]}",
			"{name: q, priority: 1, applies_to: {ports: [web1], security_groups: [g]}, rules: [{action: pass, direction: ingress, protocol: tcp, ports: '22'}, {action: Reject, direction: ingress, log: true}]}"), nil},
		{"no priority", policyDoc("{name: p, applies_to: {all: true}}"),
			[]string{`policies[p].priority: required (0-249; lower wins)`}},
		{"priority range", policyDoc("{name: p, priority: 250, applies_to: {all: true}}"),
			[]string{`policies[p].priority: 250 is out of range 0-249`}},
		{"same priority", policyDoc("{name: p, priority: 3, applies_to: {all: true}}", "{name: q, priority: 3, applies_to: {all: true}}"),
			[]string{`policies[q].priority: 3 is also the priority of policies[p]; give every policy its own`}},
		{"no applies_to", policyDoc("{name: p, priority: 1}"),
			[]string{`policies[p].applies_to: required: all: true, or security_groups and/or ports`}},
		{"all and ports", policyDoc("{name: p, priority: 1, applies_to: {all: true, ports: [web1]}}"),
			[]string{`policies[p].applies_to: all: true applies to every port; give no security_groups or ports with it`}},
		{"unknown group and port", policyDoc("{name: p, priority: 1, applies_to: {security_groups: [gg], ports: [web9]}}"),
			[]string{`policies[p].applies_to.security_groups[0]: unknown group "gg"`, `policies[p].applies_to.ports[0]: unknown port "web9"`}},
		{"twice", policyDoc("{name: p, priority: 1, applies_to: {ports: [web1, web1]}}"),
			[]string{`policies[p].applies_to.ports[1]: port "web1" is listed twice`}},
		{"stateless group", policyDoc("{name: p, priority: 1, applies_to: {security_groups: [sl]}}"),
			[]string{`policies[p].applies_to.security_groups[0]: group "sl" is stateless; policies apply to stateful ports only`}},
		{"stateless port", policyDoc("{name: p, priority: 1, applies_to: {ports: [db1]}}"),
			[]string{`policies[p].applies_to.ports[0]: port "db1" is in stateless groups only; policies apply to stateful ports only`}},
		{"unfiltered port", policyDoc("{name: p, priority: 1, applies_to: {ports: [open]}}"),
			[]string{`policies[p].applies_to.ports[0]: port "open" has port_security: false; policies apply to filtered ports only`}},
		{"action", policyDoc("{name: p, priority: 1, applies_to: {all: true}, rules: [{direction: egress}, {action: drop, direction: egress, protocol: udp}]}"),
			[]string{`policies[p].rules[0].action: required (allow, deny, reject or pass)`, `policies[p].rules[1].action: "drop" is not allow, deny, reject or pass`}},
		{"rule keys as in groups", policyDoc("{name: p, priority: 1, applies_to: {all: true}, rules: [{action: deny, direction: up, ports: '80', remote_group: nope}]}"),
			[]string{`policies[p].rules[0].direction: "up" is not ingress or egress`, `policies[p].rules[0].remote_group: unknown group "nope"`, `policies[p].rules[0].ports: only tcp, udp and sctp have ports, not any`}},
		{"shadowed", policyDoc("{name: p, priority: 1, applies_to: {all: true}, rules: [" +
			"{action: deny, direction: ingress, protocol: tcp, remote_cidr: 10.0.0.0/8}, " +
			"{action: allow, direction: ingress, protocol: tcp, ports: '22-23', remote_cidr: 10.1.0.0/16}, " +
			"{action: allow, direction: ingress, protocol: udp, remote_cidr: 10.1.0.0/16}, " +
			"{action: pass, direction: ingress, protocol: tcp, ports: '22', remote_cidr: 10.1.2.3}]}"),
			[]string{`policies[p].rules[1]: never matches: rules[0] (deny) matches everything it does`, `policies[p].rules[3]: never matches: rules[0] (deny) matches everything it does`}},
		{"too many rules", policyDoc("{name: p, priority: 1, applies_to: {all: true}, rules: [" + manyRules(101) + "]}"),
			[]string{`policies[p].rules: 101 rules; at most 100`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.doc)
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n got  %q\n want %q\ndocument:\n%s", got, tc.want, tc.doc)
			}
		})
	}
}

func manyRules(n int) string {
	s := ""
	for i := range n {
		if i > 0 {
			s += ", "
		}
		s += "{action: deny, direction: ingress, protocol: tcp, ports: '" + itoa(i+1) + "'}"
	}
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestPolicyParsed(t *testing.T) {
	in := mustParse(t, policyDoc("{name: q, priority: 7, applies_to: {security_groups: [g]}, rules: [{action: ALLOW, direction: ingress, protocol: tcp, ports: 80-90, remote_cidr: 192.0.2.0/24, log: true}]}"))
	if len(in.Policies) != 1 {
		t.Fatalf("policies: %+v", in.Policies)
	}
	p := in.Policies[0]
	want := PolicyRule{Action: ActionAllow, Log: true, Match: Rule{Direction: Ingress, EtherType: IPv4, Protocol: ProtoTCP,
		PortMin: 80, PortMax: 90, RemoteCIDR: netip.MustParsePrefix("192.0.2.0/24")}}
	if p.Name != "q" || p.Priority != 7 || !slices.Equal(p.AppliesTo.Groups, []string{"g"}) || p.AppliesTo.All || len(p.Rules) != 1 || p.Rules[0].Match.Key() != want.Match.Key() || p.Rules[0].Action != want.Action || !p.Rules[0].Log {
		t.Errorf("policy: %+v", p)
	}
}
