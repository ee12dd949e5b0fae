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

// RuleCookies maps the cookie of every rule's flows to its rules
// (see CookieNamer.Rules). To name cookies as well, build a CookieNamer.
func RuleCookies(in *intent.Intent) map[uint64]RuleRef {
	return NewCookieNamer(in).Rules()
}
