package pipeline

import (
	"cmp"
	"slices"

	"github.com/flowgate/flowgate/flows"
)

// A conjunctive match (ovs-fields(7), "Conjunctive Match Fields") turns a
// rule whose dimensions have M, N and P alternatives into M+N+P+1 flows
// instead of M×N×P. The compiler builds every multi-valued decision
// (security-group rules, established checks) through conjunctive().
//
// Conjunction ids are unique per table and carry their kind in the top two
// bits, so the id spaces of rules, remote-group checks and group checks
// never collide; the low 30 bits are the rule or group id.
const (
	conjKindRule         uint32 = 0 << idBits // a rule's new-connection match
	conjKindRemoteCheck  uint32 = 1 << idBits // established check of a remote-group rule
	conjKindGroupCheck   uint32 = 2 << idBits // established check of a group's other rules
	conjPlainPriorityGap uint16 = 1
)

// alternative is one value of a dimension, as a partial match. Its cookie,
// when set, names the object the value stands for (a port); otherwise the
// flow takes the decision's cookie.
type alternative struct {
	match  flows.Match
	cookie uint64
}

// dimension is one clause of a decision: a packet satisfies it when it
// matches any one of the alternatives.
type dimension []alternative

// decision is "if every dimension matches, do actions".
type decision struct {
	table    Table
	priority uint16 // of the conjunctive flows; plain flows go one above
	conjID   uint32
	cookie   uint64
	dims     []dimension
	actions  []flows.Action
}

// conjunctive compiles a decision. Dimensions with a single alternative
// are merged into one clause; a decision whose every dimension is single
// is one plain flow, and one that ends up with a single clause is a plain
// flow per alternative. Otherwise each clause's alternatives become flows
// with conjunction(id,k/n) (merged with other decisions' identical flows
// by Compile) plus one conj_id flow with the actions.
//
// Plain flows sit one priority above the conjunctive ones because a plain
// flow and a clause flow of another decision can have the same match, and
// OpenFlow cannot hold both; every decision built here is an allow, so
// which of two matching ones wins does not change the verdict.
func conjunctive(d decision) ([]flows.Flow, error) {
	var single flows.Match
	singleCookie := d.cookie
	var clauses []dimension
	for _, dim := range d.dims {
		switch len(dim) {
		case 0:
			return nil, nil // a dimension nothing can satisfy: the decision never applies
		case 1:
			m, err := mergeMatch(single, dim[0].match)
			if err != nil {
				return nil, err
			}
			single = m
			if dim[0].cookie != 0 {
				singleCookie = dim[0].cookie
			}
		default:
			clauses = append(clauses, dim)
		}
	}
	if single.String() != "" {
		clauses = append(clauses, dimension{{match: single, cookie: singleCookie}})
	}
	if len(clauses) < 2 {
		return plainFlows(d, single, clauses)
	}
	n := uint8(len(clauses))
	var out []flows.Flow
	for k, clause := range clauses {
		for _, alt := range clause {
			out = append(out, flows.Flow{
				Table:    uint8(d.table),
				Priority: d.priority,
				Cookie:   cmp.Or(alt.cookie, d.cookie),
				Match:    alt.match,
				Actions:  []flows.Action{flows.Conjunction{ID: d.conjID, Clause: uint8(k) + 1, NClauses: n}},
			})
		}
	}
	out = append(out, flows.Flow{
		Table:    uint8(d.table),
		Priority: d.priority,
		Cookie:   d.cookie,
		Match:    flows.Match{ConjID: flows.U32(d.conjID)},
		Actions:  d.actions,
	})
	return out, nil
}

// plainFlows is the decision without conjunction: the single-valued match,
// once per alternative of the one multi-valued clause, if any.
func plainFlows(d decision, single flows.Match, clauses []dimension) ([]flows.Flow, error) {
	alts := dimension{{match: single}}
	if len(clauses) == 1 {
		alts = clauses[0]
	}
	var out []flows.Flow
	for _, alt := range alts {
		m, err := mergeMatch(single, alt.match)
		if err != nil {
			return nil, err
		}
		out = append(out, flows.Flow{
			Table:    uint8(d.table),
			Priority: d.priority + conjPlainPriorityGap,
			Cookie:   d.cookie,
			Match:    m,
			Actions:  d.actions,
		})
	}
	return out, nil
}

// mergeConjunctions combines flows that share table, priority and match
// and carry only conjunction actions into one flow with all of their
// actions: the shared port or address flow of several rules. The merged
// flow keeps the lowest cookie, so its cookie is stable while that owner
// lives. Other flows pass through unchanged.
func mergeConjunctions(in []flows.Flow) []flows.Flow {
	index := map[string]int{}
	var out []flows.Flow
	for _, f := range in {
		if !onlyConjunctions(f) {
			out = append(out, f)
			continue
		}
		k := f.Key()
		i, seen := index[k]
		if !seen {
			index[k] = len(out)
			f.Actions = slices.Clone(f.Actions)
			out = append(out, f)
			continue
		}
		g := &out[i]
		g.Cookie = min(g.Cookie, f.Cookie)
		for _, a := range f.Actions {
			if !slices.Contains(g.Actions, a) {
				g.Actions = append(g.Actions, a)
			}
		}
	}
	for i := range out {
		if onlyConjunctions(out[i]) {
			slices.SortFunc(out[i].Actions, func(a, b flows.Action) int {
				x, y := a.(flows.Conjunction), b.(flows.Conjunction)
				return cmp.Or(cmp.Compare(x.ID, y.ID), cmp.Compare(x.Clause, y.Clause))
			})
		}
	}
	return out
}

func onlyConjunctions(f flows.Flow) bool {
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
