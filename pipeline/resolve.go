package pipeline

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/flowgate/flowgate/flows"
)

// resolve settles what the units contributed under one key (table,
// priority and match) into the one flow the switch can hold there:
//
//   - conjunction clauses merge into one flow with all of their
//     conjunction actions, sorted, under the lowest cookie (so the flow's
//     cookie is stable while that owner lives);
//   - rule flows (two rules allowing exactly the same traffic on a port)
//     settle on the one whose text sorts first: both are allows, so the
//     verdict is the same, and the connection is labelled with the kept
//     rule;
//   - other flows must be identical.
//
// Anything else is two different flows on one key, which no switch can
// hold: a compiler bug, reported with both flows.
func resolve(whole []*flows.Flow, clauses []*clause) (*flows.Flow, error) {
	var merged *flows.Flow
	if len(clauses) > 0 {
		c0 := clauses[0]
		f := flows.Flow{Table: c0.table, Priority: c0.prio, Cookie: c0.cookie, Match: *c0.match}
		conj := make([]flows.Conjunction, 0, len(clauses))
		for _, c := range clauses {
			f.Cookie = min(f.Cookie, c.cookie)
			conj = append(conj, c.conj)
		}
		slices.SortFunc(conj, func(a, b flows.Conjunction) int {
			return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Clause, b.Clause), cmp.Compare(a.NClauses, b.NClauses))
		})
		conj = slices.Compact(conj)
		f.Actions = make([]flows.Action, len(conj))
		for i, c := range conj {
			f.Actions[i] = c
		}
		merged = &f
	}
	var rule, other *flows.Flow
	var ruleText string
	for _, f := range whole {
		if cookieKind(f.Cookie) == KindRule {
			if t := f.String(); rule == nil || t < ruleText {
				rule, ruleText = f, t
			}
			continue
		}
		if other != nil && !sameFlow(other, f) {
			return nil, conflict(other, f)
		}
		other = f
	}
	var out *flows.Flow
	for _, f := range []*flows.Flow{merged, rule, other} {
		if f == nil {
			continue
		}
		if out != nil && !sameFlow(out, f) {
			return nil, conflict(out, f)
		}
		out = f
	}
	return out, nil
}

func sameFlow(a, b *flows.Flow) bool {
	return a.Cookie == b.Cookie && flows.SameActions(a.Actions, b.Actions)
}

func conflict(a, b *flows.Flow) error {
	return fmt.Errorf("two flows share table, priority and match but differ: %q and %q", a.String(), b.String())
}

// contributions gathers units' output by key, for a full compile.
type contributions struct {
	whole   map[string][]*flows.Flow
	clauses map[string][]*clause
	order   []string
}

func newContributions() *contributions {
	return &contributions{whole: map[string][]*flows.Flow{}, clauses: map[string][]*clause{}}
}

func (cs *contributions) add(b built) {
	for i := range b.flows {
		f := &b.flows[i]
		k := f.Key()
		if _, seen := cs.whole[k]; !seen {
			if _, seen := cs.clauses[k]; !seen {
				cs.order = append(cs.order, k)
			}
		}
		cs.whole[k] = append(cs.whole[k], f)
	}
	for i := range b.clauses {
		c := &b.clauses[i]
		if _, seen := cs.clauses[c.key]; !seen {
			if _, seen := cs.whole[c.key]; !seen {
				cs.order = append(cs.order, c.key)
			}
		}
		cs.clauses[c.key] = append(cs.clauses[c.key], c)
	}
}

// finish resolves every key, validates every flow and returns them in
// flows.Sort order.
func (cs *contributions) finish() ([]flows.Flow, error) {
	keyed := make([]flows.Keyed, 0, len(cs.order))
	for _, k := range cs.order {
		f, err := resolve(cs.whole[k], cs.clauses[k])
		if err != nil {
			return nil, err
		}
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("compiled flow %q is invalid: %w", f.String(), err)
		}
		keyed = append(keyed, flows.Keyed{Key: k, Flow: f})
	}
	flows.SortKeyed(keyed)
	out := make([]flows.Flow, len(keyed))
	for i, k := range keyed {
		out[i] = *k.Flow
	}
	return out, nil
}
