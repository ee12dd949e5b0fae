package pipeline

import (
	"fmt"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// CookieNamer names the objects behind the cookies of flows compiled from
// one intent, e.g. "security_groups[db].rules[0] (ingress tcp/3306 from
// group web)", or for rules merged into one class (rule_classes.go) all of
// them, compactly: "security_groups[big].rules[0-4999] (ingress tcp 50
// port ranges from 100 CIDRs)". It computes the ids the compiler gives
// every object once, so naming every flow of a dump, or every rule on each
// metrics scrape, costs a map lookup each.
type CookieNamer struct {
	names     map[uint64]string  // cookie -> name
	rules     map[uint64]RuleRef // rule cookie -> its rules
	ruleOrder []uint64           // rule cookies in document order
	policies  map[uint64]PolicyRuleRef
	services  []ServiceRef // services and their backends, in document order
}

// ServiceRef names a service (Backend "") or one of its backends
// ("port:target_port") and the cookie of its flows.
type ServiceRef struct {
	Service, Backend string
	Cookie           uint64
}

// PolicyRuleRef names the admin policy rule behind a cookie.
type PolicyRuleRef struct {
	Policy string
	Index  int
	Action intent.PolicyAction
}

// NewCookieNamer indexes every object of in by its cookie. Where two
// objects would share a cookie, the first in document order names it.
func NewCookieNamer(in *intent.Intent) *CookieNamer {
	ids := assignIDs(in, nil)
	n := &CookieNamer{names: map[uint64]string{}, rules: map[uint64]RuleRef{}, policies: map[uint64]PolicyRuleRef{}}
	name := func(cookie uint64, format string, args ...any) {
		if _, seen := n.names[cookie]; !seen {
			n.names[cookie] = fmt.Sprintf(format, args...)
		}
	}
	for _, p := range in.Ports {
		name(Cookie(KindPort, uint64(ids.port[p.Name])), "ports[%s]", p.Name)
	}
	for _, net := range in.Networks {
		name(Cookie(KindNetwork, uint64(ids.zone[net.Name])), "networks[%s]", net.Name)
	}
	for _, g := range in.SecurityGroups {
		name(Cookie(KindSecurityGroup, uint64(ids.group[g.Name])), "security_groups[%s] (its established connections)", g.Name)
	}
	for _, g := range in.SecurityGroups {
		for _, c := range ids.classes[g.Name] {
			cookie := Cookie(KindRule, uint64(c.id))
			name(cookie, "%s", c.describe())
			if _, seen := n.rules[cookie]; !seen {
				n.rules[cookie] = RuleRef{Group: g.Name, Index: c.rules[0], Indices: c.rules}
				n.ruleOrder = append(n.ruleOrder, cookie)
			}
		}
	}
	for _, p := range in.Policies {
		for i, r := range p.Rules {
			cookie := Cookie(KindPolicyRule, uint64(ids.policyRule[policyRuleKey(p.Name, r)]))
			name(cookie, "%s", describePolicyRule(p.Name, i, r))
			if _, seen := n.policies[cookie]; !seen {
				n.policies[cookie] = PolicyRuleRef{Policy: p.Name, Index: i, Action: r.Action}
			}
		}
	}
	sids := assignServiceIDs(in)
	for _, s := range in.Services {
		sid := sids.service[s.Name]
		cookie := serviceCookie(sid, 0)
		name(cookie, "services[%s] (%s)", s.Name, describeService(&s))
		n.services = append(n.services, ServiceRef{Service: s.Name, Cookie: cookie})
		for _, b := range s.Backends {
			cookie := serviceCookie(sid, uint16(sids.backend[s.Name][backendKey(b)]))
			be := fmt.Sprintf("%s:%d", b.Port, b.TargetPort)
			name(cookie, "services[%s] backend %s (weight %d)", s.Name, be, b.Weight)
			n.services = append(n.services, ServiceRef{Service: s.Name, Backend: be, Cookie: cookie})
		}
	}
	for i := range in.Routers {
		r := &in.Routers[i]
		for _, o := range routerObjects(in, r) {
			name(o.cookie(r.Name), "%s (%s)", o.path, o.what)
		}
	}
	return n
}

// Describe names the object behind cookie. An
// unknown object is described as such rather than guessed.
func (n *CookieNamer) Describe(cookie uint64) string {
	if name, ok := n.lookup(cookie); ok {
		return name
	}
	obj := cookieObject(cookie)
	switch kind := cookieKind(cookie); kind {
	case KindInfra:
		return fmt.Sprintf("pipeline table %d (%s)", obj, Table(obj).Name())
	case KindPort, KindNetwork, KindSecurityGroup, KindRule, KindRouter, KindNAT, KindPolicyRule, KindService:
		return fmt.Sprintf("cookie %#x: no such object in the intent (kind %d, id %#x)", cookie, kind, obj)
	default:
		return fmt.Sprintf("cookie %#x: kind %d is not known to the compiler", cookie, kind)
	}
}

// lookup finds the object of an intent's own cookie.
func (n *CookieNamer) lookup(cookie uint64) (string, bool) {
	name, ok := n.names[cookie]
	return name, ok
}

// Rules maps the cookie of every rule's flows to its rules, so per-rule
// counters can be summed from a flow dump in one pass. A class of
// several rules counts the packets any of them allowed: it is attributed
// to the first (Index) and names them all (Indices). Two rules of one group
// with identical content are one rule: the first in document order names
// them. The map is the namer's own; do not modify it.
func (n *CookieNamer) Rules() map[uint64]RuleRef { return n.rules }

// PolicyRule returns the admin policy rule behind a dumped cookie, if it
// is a policy rule's.
func (n *CookieNamer) PolicyRule(cookie uint64) (PolicyRuleRef, bool) {
	ref, ok := n.policies[cookie]
	return ref, ok
}

// Rule returns the rules behind a dumped cookie, if it is a rule cookie.
func (n *CookieNamer) Rule(cookie uint64) (RuleRef, bool) {
	ref, ok := n.rules[cookie]
	return ref, ok
}

// RuleTraffic is the traffic of one rule (or class of merged rules),
// summed over its installed flows.
type RuleTraffic struct {
	RuleRef
	Cookie         uint64
	Name           string // as Describe names it
	Flows          int    // installed flows; 0 when none is (no member bound, say)
	Packets, Bytes uint64
}

// RuleTraffic sums a flow dump (stats[i] belongs to dumped[i]) per rule:
// one entry for every rule of the intent, in document order, also for
// rules without installed flows.
func (n *CookieNamer) RuleTraffic(dumped []flows.Flow, stats []flows.FlowStats) []RuleTraffic {
	out := make([]RuleTraffic, len(n.ruleOrder))
	pos := make(map[uint64]int, len(n.ruleOrder))
	for i, cookie := range n.ruleOrder {
		out[i] = RuleTraffic{RuleRef: n.rules[cookie], Cookie: cookie, Name: n.names[cookie]}
		pos[cookie] = i
	}
	for i, f := range dumped {
		if j, ok := pos[f.Cookie]; ok {
			out[j].Flows++
			out[j].Packets += stats[i].Packets
			out[j].Bytes += stats[i].Bytes
		}
	}
	return out
}

// ServiceTraffic is the traffic of a service or of one of its backends.
type ServiceTraffic struct {
	ServiceRef
	Name           string // as Describe names it
	Packets, Bytes uint64
}

// ServiceTraffic sums a flow dump (stats[i] belongs to dumped[i]) per
// service and backend, in document order. A backend counts what its
// clients sent it (service_backend's flows, every packet of the
// original direction); a service counts that for all its backends plus
// the replies its clients received.
func (n *CookieNamer) ServiceTraffic(dumped []flows.Flow, stats []flows.FlowStats) []ServiceTraffic {
	out := make([]ServiceTraffic, len(n.services))
	pos := make(map[uint64]int, len(n.services))
	service := map[string]int{}
	for i, ref := range n.services {
		out[i] = ServiceTraffic{ServiceRef: ref, Name: n.names[ref.Cookie]}
		if _, dup := pos[ref.Cookie]; !dup {
			pos[ref.Cookie] = i
		}
		if ref.Backend == "" {
			service[ref.Service] = i
		}
	}
	for i, f := range dumped {
		j, ok := pos[f.Cookie]
		if !ok {
			continue
		}
		counted := f.Table == uint8(TableServiceBackend) && out[j].Backend != "" ||
			f.Table == uint8(TableServiceLB) && f.Priority == prioServiceForward
		if !counted {
			continue
		}
		out[j].Packets += stats[i].Packets
		out[j].Bytes += stats[i].Bytes
		if out[j].Backend != "" {
			k := service[out[j].Service]
			out[k].Packets += stats[i].Packets
			out[k].Bytes += stats[i].Bytes
		}
	}
	return out
}
