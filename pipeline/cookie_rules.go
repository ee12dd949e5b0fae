package pipeline

import "github.com/flowgate/flowgate/intent"

// RuleRef names the security-group rules behind a rule cookie the way the
// intent does: security_groups[Group].rules[Index]. Rules the compiler
// merged into one class (rule_classes.go: e.g. every CIDR × every port
// range of a group) share one set of flows and so one cookie and one
// packet counter; Indices lists them all, ascending, and Index is the
// first of them.
type RuleRef struct {
	Group   string
	Index   int
	Indices []int
}

// RuleCookies maps the round-0 cookie of every rule's flows to its rules,
// so per-rule counters can be summed from a flow dump in one pass. Mask a
// dumped cookie with CookieObjectMask before the lookup. A counter of a
// class of several rules counts the packets any of them allowed: it is
// attributed to the first (Index) and names them all (Indices). Two rules
// of one group with identical content are one rule: the first in document
// order names them.
func RuleCookies(in *intent.Intent) map[uint64]RuleRef {
	ids := assignIDs(in)
	out := make(map[uint64]RuleRef)
	for _, g := range in.SecurityGroups {
		for _, c := range ids.classes[g.Name] {
			cookie := Cookie(KindRule, uint64(c.id))
			if _, seen := out[cookie]; !seen {
				out[cookie] = RuleRef{Group: g.Name, Index: c.rules[0], Indices: c.rules}
			}
		}
	}
	return out
}
