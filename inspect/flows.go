package inspect

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
)

// The registers that hold a packet's source and destination port, as the
// pipeline's field registry declares them.
const (
	regSrcPort = pipeline.RegSrcPort
	regDstPort = pipeline.RegDstPort
)

// FlowFilter selects installed flows; zero values select everything.
type FlowFilter struct {
	Group string // the flows of the group's rules and of the group itself
	// Port selects the port's own flows (its cookie) and every flow that
	// matches its OpenFlow port as in_port, source (reg0) or destination
	// (reg1): the rules' clauses for it, for example.
	Port  string
	Table string // a table number or name, e.g. 60 or ingress_acl
	// Policy selects the flows of an admin policy's rules.
	Policy string
}

// InstalledFlow is an installed flow with its counters and the object
// behind its cookie.
type InstalledFlow struct {
	flows.Flow
	Stats  flows.FlowStats
	Object string
}

// Flows returns the installed flows that pass f, in the order an
// operator reads a pipeline (table, then priority from highest).
func (s *Snapshot) Flows(f FlowFilter) ([]InstalledFlow, error) {
	table := -1
	if f.Table != "" {
		var err error
		if table, err = parseTable(f.Table); err != nil {
			return nil, err
		}
	}
	if f.Group != "" && s.Intent.SecurityGroup(f.Group) == nil {
		return nil, fmt.Errorf("no security group %q in the intent", f.Group)
	}
	if f.Policy != "" && !slices.ContainsFunc(s.Intent.Policies, func(p intent.Policy) bool { return p.Name == f.Policy }) {
		return nil, fmt.Errorf("no policy %q in the intent", f.Policy)
	}
	ofport := uint32(0)
	if f.Port != "" {
		var ok bool
		if ofport, ok = s.Bindings[f.Port]; !ok && s.Intent.Port(f.Port) == nil {
			return nil, fmt.Errorf("no port %q in the intent", f.Port)
		}
	}
	var out []InstalledFlow
	for i, fl := range s.Installed {
		obj := describe(s.namer, fl.Cookie)
		switch {
		case table >= 0 && int(fl.Table) != table:
			continue
		case f.Group != "" && !strings.HasPrefix(obj, "security_groups["+f.Group+"]"):
			continue
		case f.Policy != "" && !strings.HasPrefix(obj, "policies["+f.Policy+"]"):
			continue
		case f.Port != "" && obj != "ports["+f.Port+"]" && (ofport == 0 || !matchesPort(fl.Match, ofport)):
			continue
		}
		out = append(out, InstalledFlow{Flow: fl, Stats: s.Stats[i], Object: obj})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		return a.Priority > b.Priority
	})
	return out, nil
}

// parseTable reads a table number or a pipeline table name.
func parseTable(s string) (int, error) {
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return int(n), nil
	}
	for t := 0; t < 256; t++ {
		if pipeline.Table(t).Name() == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("no table %q: give a number (0-255) or a pipeline table name (classify, port_security, ... see docs/pipeline.md)", s)
}

// matchesPort reports whether m selects packets of an OpenFlow port:
// from it (in_port, reg0) or to it (reg1).
func matchesPort(m flows.Match, ofport uint32) bool {
	if m.InPort == ofport {
		return true
	}
	for _, r := range m.Regs {
		exact := r.Mask == 0 || r.Mask == ^uint32(0)
		if (r.Index == regSrcPort || r.Index == regDstPort) && exact && r.Value == ofport {
			return true
		}
	}
	return false
}

// WriteFlows lists the installed flows that pass f, table by table, each
// with the object behind it and its counters, then the per-rule counters
// of the groups concerned.
func (s *Snapshot) WriteFlows(w io.Writer, f FlowFilter) error {
	fs, err := s.Flows(f)
	if err != nil {
		return err
	}
	last := -1
	for _, fl := range fs {
		if int(fl.Table) != last {
			last = int(fl.Table)
			fmt.Fprintf(w, "table %d (%s)\n", last, pipeline.Table(last).Name())
		}
		fmt.Fprintf(w, "  %s  n_packets=%d n_bytes=%d\n      %s\n", fl.Object, fl.Stats.Packets, fl.Stats.Bytes, fl.Flow.String())
	}
	fmt.Fprintf(w, "%d flows\n", len(fs))
	groups := s.groupsOf(f)
	fmt.Fprintf(w, "\nper-rule counters (packets and bytes summed over each rule's flows)\n")
	if f.Policy == "" {
		for _, c := range s.RuleCounters() {
			if groups == nil || groups[c.Group] {
				fmt.Fprintf(w, "  %s  flows=%d packets=%d bytes=%d\n", c.Rule, c.Flows, c.Packets, c.Bytes)
			}
		}
	}
	if f.Group == "" {
		for _, c := range s.PolicyCounters() {
			if f.Policy == "" || c.Policy == f.Policy {
				fmt.Fprintf(w, "  %s  flows=%d packets=%d bytes=%d\n", c.Rule, c.Flows, c.Packets, c.Bytes)
			}
		}
	}
	if f.Group == "" && f.Policy == "" {
		if svc := s.namer.ServiceTraffic(s.Installed, s.Stats); len(svc) > 0 {
			fmt.Fprintf(w, "\nper-service counters (a backend: what clients sent it; a service: all its backends and the replies)\n")
			for _, c := range svc {
				fmt.Fprintf(w, "  %s  packets=%d bytes=%d\n", c.Name, c.Packets, c.Bytes)
			}
		}
	}
	return nil
}

// PolicyCounter is the traffic of one admin policy rule, summed over its
// installed flows (a packet its rule judged counts once on each flow of
// the conjunction it crossed: the decision flow's counter is the rule's).
type PolicyCounter struct {
	Policy string
	Index  int
	Rule   string // "policies[p].rules[0] (deny ingress tcp/22 from 10.0.0.0/8)"
	Flows  int
	Packets,
	Bytes uint64
}

// PolicyCounters returns a counter for every policy rule of the intent,
// in document order. Only the rule's decision flows (the conj_id flow, or
// its plain flows) are counted, so a packet counts once.
func (s *Snapshot) PolicyCounters() []PolicyCounter {
	var out []PolicyCounter
	pos := map[uint64]int{}
	for _, p := range s.Intent.Policies {
		for i := range p.Rules {
			out = append(out, PolicyCounter{Policy: p.Name, Index: i})
		}
	}
	index := func(policy string, i int) int {
		for k, c := range out {
			if c.Policy == policy && c.Index == i {
				return k
			}
		}
		return -1
	}
	for i, fl := range s.Installed {
		ref, ok := s.namer.PolicyRule(fl.Cookie)
		if !ok {
			continue
		}
		k, seen := pos[fl.Cookie]
		if !seen {
			k = index(ref.Policy, ref.Index)
			pos[fl.Cookie] = k
			out[k].Rule = describe(s.namer, fl.Cookie)
		}
		out[k].Flows++
		if fl.Match.ConjID != nil || !isClause(fl) {
			out[k].Packets += s.Stats[i].Packets
			out[k].Bytes += s.Stats[i].Bytes
		}
	}
	for k := range out {
		if out[k].Rule == "" {
			out[k].Rule = fmt.Sprintf("policies[%s].rules[%d]", out[k].Policy, out[k].Index)
		}
	}
	return out
}

// isClause reports whether f is a conjunction clause flow (its actions
// are all conjunction(...)).
func isClause(f flows.Flow) bool {
	if len(f.Actions) == 0 {
		return false
	}
	for _, a := range f.Actions {
		if _, ok := a.(flows.Conjunction); !ok {
			return false
		}
	}
	return true
}

// groupsOf is the set of groups whose counters f concerns; nil means all.
func (s *Snapshot) groupsOf(f FlowFilter) map[string]bool {
	switch {
	case f.Group != "":
		return map[string]bool{f.Group: true}
	case f.Port != "":
		set := map[string]bool{}
		if p := s.Intent.Port(f.Port); p != nil {
			for _, g := range p.SecurityGroups {
				set[g] = true
			}
		}
		return set
	}
	return nil
}

// RuleCounter is the traffic of one security-group rule: its packets and
// bytes summed over its installed flows. Rules the compiler merged into
// one class share their flows and so one counter (pipeline.RuleRef).
type RuleCounter struct {
	Group string
	Index int
	Rule  string // pipeline.DescribeCookie: "security_groups[db].rules[0] (ingress tcp/3306 from group web)"
	Flows int    // installed flows of the rule; 0 when none is (no member bound, say)
	Packets,
	Bytes uint64
}

// RuleCounters returns a counter for every rule (class) of the intent,
// in document order.
func (s *Snapshot) RuleCounters() []RuleCounter {
	traffic := s.namer.RuleTraffic(s.Installed, s.Stats)
	out := make([]RuleCounter, len(traffic))
	for i, r := range traffic {
		out[i] = RuleCounter{Group: r.Group, Index: r.Index, Rule: r.Name, Flows: r.Flows, Packets: r.Packets, Bytes: r.Bytes}
	}
	return out
}
