package pipeline

import "github.com/flowgate/flowgate/intent"

// RuleRef names one security-group rule the way the intent does:
// security_groups[Group].rules[Index].
type RuleRef struct {
	Group string
	Index int
}

// RuleCookies maps the round-0 cookie of every rule's flows to the rule,
// so per-rule counters can be summed from a flow dump in one pass. Mask a
// dumped cookie with CookieObjectMask before the lookup. Two rules of one
// group with identical content share their flows, and so their cookie: the
// first in document order names them.
func RuleCookies(in *intent.Intent) map[uint64]RuleRef {
	ids := assignIDs(in)
	out := make(map[uint64]RuleRef)
	for _, g := range in.SecurityGroups {
		for i, r := range g.Rules {
			c := Cookie(KindRule, uint64(ids.rule[ruleKey(g.Name, r)]))
			if _, seen := out[c]; !seen {
				out[c] = RuleRef{Group: g.Name, Index: i}
			}
		}
	}
	return out
}
