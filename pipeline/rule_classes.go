package pipeline

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/intent"
)

// A rule has one remote and one port range, so a group that allows 100
// CIDRs on 50 port ranges is written as 5,000 rules. Compiled one by one,
// each would be its own conjunction repeating its CIDR and port-range
// flows. Instead the rules of a group are factored into classes before
// they are compiled: among the rules with the same service (direction,
// EtherType, protocol, ICMP type and code), port ranges allowed from the
// same set of remotes form one class, the rectangle remotes × ranges,
// which compiles to ONE conjunction with a remote clause and a port-range
// clause. The full cross product is one class; rules that share nothing
// are classes of one rule and compile exactly as single rules do.
//
// A class is what a rule id names: its id is allocated from its canonical
// text (key), so it is stable while the class keeps its members.
// For a class of one rule that text is the rule's own (describeRule), so
// such a class has the rule's id.

// ruleClass is a rectangle of rules of one group: every remote with every
// port range, all of one service.
type ruleClass struct {
	group string
	id    uint32 // allocated by assignIDs from key()
	// service carries the direction, EtherType, protocol and ICMP type
	// and code shared by every member; its ports and remote are unset.
	service intent.Rule
	ranges  []portRange // sorted, distinct
	remotes []remote    // sorted, distinct
	// rules are the indices in the group of the members (the first of
	// identical rules), ascending: len(rules) = len(ranges)×len(remotes).
	rules []int
	// keyText caches key() once the class is complete.
	keyText string
}

// portRange is a rule's destination port range as written. All ports
// (0-0 or 0-65535) is allPorts.
type portRange struct{ min, max uint16 }

var allPorts = portRange{0, 0xffff}

func rangeOf(r intent.Rule) portRange {
	if !hasPortRange(r) {
		return allPorts
	}
	return portRange{r.PortMin, r.PortMax}
}

// remote is a rule's remote end: a group, a CIDR, or (both unset) any.
type remote struct {
	group string
	cidr  netip.Prefix
}

func remoteOf(r intent.Rule) remote { return remote{group: r.RemoteGroup, cidr: r.RemoteCIDR} }

func (r remote) isAny() bool { return r.group == "" && !r.cidr.IsValid() }

// compareRemotes orders any first, then CIDRs by address and length,
// then groups by name.
func compareRemotes(a, b remote) int {
	rank := func(r remote) int {
		switch {
		case r.isAny():
			return 0
		case r.group == "":
			return 1
		}
		return 2
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), a.cidr.Addr().Compare(b.cidr.Addr()),
		cmp.Compare(a.cidr.Bits(), b.cidr.Bits()), cmp.Compare(a.group, b.group))
}

func compareRanges(a, b portRange) int {
	return cmp.Or(cmp.Compare(a.min, b.min), cmp.Compare(a.max, b.max))
}

// serviceKeyOf is what rules of one class share: the rule's identity
// (intent.RuleKey) without its port range and remote. A field added to
// rules is part of it unless it is one of those, so rules that differ in
// it never share a class.
func serviceKeyOf(r intent.Rule) intent.RuleKey {
	k := r.Key()
	k.PortMin, k.PortMax = 0, 0
	k.RemoteCIDR, k.RemoteGroup = netip.Prefix{}, ""
	return k
}

// serviceOf is r without its port range and remote.
func serviceOf(r intent.Rule) intent.Rule {
	r.PortMin, r.PortMax = 0, 0
	r.RemoteCIDR, r.RemoteGroup = netip.Prefix{}, ""
	return r
}

// minClassRules is the smallest rectangle compiled as one class. Smaller
// ones stay a class per rule: their flows cost little, and every rule keeps
// a connection label of its own, so adding or removing a rule never ends
// connections that other rules allowed. From this size on the flow count
// wins (100 CIDRs × 50 ranges: 727 flows instead of 15,724), and a change
// to the class ends the connections it allowed (docs/pipeline.md).
var minClassRules = 16

// ruleClasses factors the rules of g into classes, ordered by their first
// rule. Every distinct rule is in exactly one class.
func ruleClasses(g *intent.SecurityGroup) []ruleClass {
	var out []ruleClass
	for _, c := range rectangles(g) {
		if len(c.rules) >= minClassRules || len(c.rules) == 1 {
			out = append(out, c)
			continue
		}
		for _, i := range c.rules {
			r := g.Rules[i]
			out = append(out, ruleClass{group: g.Name, service: c.service,
				ranges: []portRange{rangeOf(r)}, remotes: []remote{remoteOf(r)}, rules: []int{i}})
		}
	}
	slices.SortFunc(out, func(a, b ruleClass) int { return cmp.Compare(a.rules[0], b.rules[0]) })
	return out
}

// rectangles factors the rules of g into the largest classes they form.
func rectangles(g *intent.SecurityGroup) []ruleClass {
	// One service's rules: which remotes each port range is allowed
	// from, and which rule says so.
	type serviceRules struct {
		service intent.Rule
		ranges  []portRange // in order of first appearance
		remotes map[portRange][]remote
		index   map[portRange]map[remote]int
	}
	var services []*serviceRules
	byService := map[intent.RuleKey]*serviceRules{}
	for i, r := range g.Rules {
		key := serviceKeyOf(r)
		s := byService[key]
		if s == nil {
			s = &serviceRules{service: serviceOf(r), remotes: map[portRange][]remote{}, index: map[portRange]map[remote]int{}}
			byService[key] = s
			services = append(services, s)
		}
		pr, rm := rangeOf(r), remoteOf(r)
		if s.index[pr] == nil {
			s.index[pr] = map[remote]int{}
			s.ranges = append(s.ranges, pr)
		}
		if _, dup := s.index[pr][rm]; dup {
			continue // an identical rule earlier in the group
		}
		s.index[pr][rm] = i
		s.remotes[pr] = append(s.remotes[pr], rm)
	}
	var out []ruleClass
	for _, s := range services {
		byRemotes := map[string]int{} // remote set -> its class in out
		for _, pr := range s.ranges {
			rms := s.remotes[pr]
			slices.SortFunc(rms, compareRemotes)
			key := remotesText(rms)
			ci, seen := byRemotes[key]
			if !seen {
				ci = len(out)
				byRemotes[key] = ci
				out = append(out, ruleClass{group: g.Name, service: s.service, remotes: rms})
			}
			c := &out[ci]
			c.ranges = append(c.ranges, pr)
			for _, rm := range rms {
				c.rules = append(c.rules, s.index[pr][rm])
			}
		}
	}
	for i := range out {
		slices.SortFunc(out[i].ranges, compareRanges)
		slices.Sort(out[i].rules)
	}
	slices.SortFunc(out, func(a, b ruleClass) int { return cmp.Compare(a.rules[0], b.rules[0]) })
	return out
}

// key is the class's identity for id allocation: its group and canonical
// text. For a class of one rule it is the rule's ruleKey.
func (c ruleClass) key() string {
	if c.keyText != "" {
		return c.keyText
	}
	return c.group + "\x00" + c.text()
}

// text is the canonical form of the class, in the syntax of describeRule
// with comma-separated lists: "ingress tcp/22,80 from 10.0.0.0/8,group web".
func (c ruleClass) text() string {
	return ruleText(c.service, portsText(c.ranges), remotesText(c.remotes))
}

// portsText writes port ranges the way a rule's text has them: "/22",
// "/22,8000-8099"; nothing when the only range is all ports.
func portsText(ranges []portRange) string {
	if len(ranges) == 1 && ranges[0] == allPorts {
		return ""
	}
	texts := make([]string, len(ranges))
	for i, pr := range ranges {
		texts[i] = pr.String()
	}
	return "/" + strings.Join(texts, ",")
}

func (pr portRange) String() string {
	if pr.min == pr.max {
		return strconv.Itoa(int(pr.min))
	}
	return strconv.Itoa(int(pr.min)) + "-" + strconv.Itoa(int(pr.max))
}

func (r remote) String() string {
	switch {
	case r.group != "":
		return "group " + r.group
	case r.cidr.IsValid():
		return r.cidr.String()
	}
	return "any"
}

func remotesText(rms []remote) string {
	texts := make([]string, len(rms))
	for i, rm := range rms {
		texts[i] = rm.String()
	}
	return strings.Join(texts, ",")
}

func (c ruleClass) hasRemoteGroup() bool {
	return slices.ContainsFunc(c.remotes, func(r remote) bool { return r.group != "" })
}
