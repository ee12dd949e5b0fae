package intent

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
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

// TestPolicyWarnings: a rule that an earlier rule of its policy covers
// completely never matches; the document is accepted with a warning per
// such rule (path and reason, like an error), the rule marked Shadowed.
func TestPolicyWarnings(t *testing.T) {
	one := func(rules ...string) string {
		return policyDoc("{name: p, priority: 1, applies_to: {all: true}, rules: [" + strings.Join(rules, ", ") + "]}")
	}
	cases := []struct {
		name     string
		doc      string
		want     []string
		shadowed []int // indices of policies[0].rules marked Shadowed
	}{
		{"none", one(
			"{action: deny, direction: ingress, protocol: tcp, ports: '22', remote_cidr: 10.0.0.0/8}",
			"{action: allow, direction: ingress, protocol: tcp, ports: '21-22', remote_cidr: 10.0.0.0/8}",
			"{action: allow, direction: ingress, protocol: tcp, remote_cidr: 10.0.0.0/8}", // wider, after
			"{action: allow, direction: egress, protocol: tcp, ports: '22', remote_cidr: 10.0.0.0/8}",
			"{action: allow, direction: ingress, protocol: udp, ports: '22', remote_cidr: 10.0.0.0/8}",
			"{action: allow, direction: ingress, protocol: tcp, ports: '22', remote_cidr: 'fd00::/8'}",
			"{action: allow, direction: ingress, protocol: tcp, ports: '22', remote_cidr: 10.0.0.0/7}"), nil, nil},
		{"narrower cidr and ports", one(
			"{action: deny, direction: ingress, protocol: tcp, remote_cidr: 10.0.0.0/8}",
			"{action: allow, direction: ingress, protocol: tcp, ports: '22-23', remote_cidr: 10.1.0.0/16}",
			"{action: allow, direction: ingress, protocol: udp, remote_cidr: 10.1.0.0/16}",
			"{action: pass, direction: ingress, protocol: tcp, ports: '22', remote_cidr: 10.1.2.3}"),
			[]string{`policies[p].rules[1]: never matches: rules[0] (deny) matches everything it does`,
				`policies[p].rules[3]: never matches: rules[0] (deny) matches everything it does`}, []int{1, 3}},
		{"identical", one(
			"{action: deny, direction: egress, remote_cidr: 169.254.169.254}",
			"{action: deny, direction: egress, remote_cidr: 169.254.169.254, log: true}"),
			[]string{`policies[p].rules[1]: never matches: rules[0] (deny) matches everything it does`}, []int{1}},
		{"any protocol covers icmp", one(
			"{action: allow, direction: ingress, remote_group: g}",
			"{action: deny, direction: ingress, protocol: icmp, icmp_type: 8, remote_group: g}"),
			[]string{`policies[p].rules[1]: never matches: rules[0] (allow) matches everything it does`}, []int{1}},
		{"any remote covers a group", one(
			"{action: reject, direction: ingress, protocol: tcp, ports: '80'}",
			"{action: allow, direction: ingress, protocol: tcp, ports: '80', remote_group: g}"),
			[]string{`policies[p].rules[1]: never matches: rules[0] (reject) matches everything it does`}, []int{1}},
		{"first covering rule named", one(
			"{action: deny, direction: ingress, protocol: udp}",
			"{action: allow, direction: ingress, protocol: udp, ports: '53'}",
			"{action: pass, direction: ingress, protocol: udp, ports: '53', remote_cidr: 10.0.0.0/24}"),
			[]string{`policies[p].rules[1]: never matches: rules[0] (deny) matches everything it does`,
				`policies[p].rules[2]: never matches: rules[0] (deny) matches everything it does`}, []int{1, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := mustParse(t, tc.doc)
			var got []string
			for _, w := range in.Warnings {
				got = append(got, w.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("warnings:\n got  %q\n want %q", got, tc.want)
			}
			var shadowed []int
			for i, r := range in.Policies[0].Rules {
				if r.Shadowed {
					shadowed = append(shadowed, i)
				}
			}
			if !slices.Equal(shadowed, tc.shadowed) {
				t.Errorf("shadowed rules %v, want %v", shadowed, tc.shadowed)
			}
		})
	}
}

// TestPolicyWarningsBounded: warnings are bounded like errors, the last
// entry counting the rest; errors still refuse a document with warnings.
func TestPolicyWarningsBounded(t *testing.T) {
	var items []string
	for p := range 3 {
		items = append(items, fmt.Sprintf("{name: p%d, priority: %d, applies_to: {all: true}, rules: [%s]}", p, p, sameRules(50)))
	}
	in := mustParse(t, policyDoc(items...))
	if len(in.Warnings) != 101 || in.Warnings[100].Error() != "and 47 more warnings" ||
		in.Warnings[0].Error() != "policies[p0].rules[1]: never matches: rules[0] (deny) matches everything it does" {
		t.Errorf("%d warnings, first %v, last %v", len(in.Warnings), in.Warnings[0], in.Warnings[len(in.Warnings)-1])
	}
	bad := policyDoc("{name: p, priority: 1, applies_to: {all: true}, rules: [" + sameRules(2) + ", {action: drop, direction: egress}]}")
	if got := problems(t, bad); !slices.Equal(got, []string{`policies[p].rules[2].action: "drop" is not allow, deny, reject or pass`}) {
		t.Errorf("errors %q", got)
	}
}

func sameRules(n int) string {
	return strings.TrimSuffix(strings.Repeat("{action: deny, direction: ingress, protocol: tcp, ports: '22'}, ", n), ", ")
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
