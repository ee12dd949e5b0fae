package pipeline

import (
	"cmp"
	"reflect"
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
	conjKindPolicy       uint32 = 3 << idBits // a policy rule (policy.go)
	conjPlainPriorityGap uint16 = 1
)

// alternative is one value of a dimension, as a partial match. Its cookie,
// when set, names the object the value stands for (a port); otherwise the
// flow takes the decision's cookie. key caches the key of the clause flow
// it becomes: the compiler shares dimensions (the members of a group, the
// addresses of a remote group) between the decisions of one table and
// priority, and keys each shared value once.
type alternative struct {
	match  flows.Match
	cookie uint64
	key    string
	keyOf  struct {
		table uint8
		prio  uint16
	}
}

// keyFor returns the key of the alternative's flow in table at prio.
func (a *alternative) keyFor(table uint8, prio uint16) string {
	if a.key == "" || a.keyOf.table != table || a.keyOf.prio != prio {
		a.key = flows.Flow{Table: table, Priority: prio, Match: a.match}.Key()
		a.keyOf.table, a.keyOf.prio = table, prio
	}
	return a.key
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
	// varying marks the dimensions whose alternatives follow group
	// membership (bit i: dims[i]), the member ports and remote-group
	// addresses; see conjunctive.
	varying uint64
	actions []flows.Action
}

// clause is one alternative of a conjunction as the flow it becomes:
// table, priority and match with one conjunction action. Decisions that
// share a match share the flow, which carries all of their conjunction
// actions (merged by resolve); so a clause is kept apart from whole flows
// until then, and its match is the shared alternative's, not a copy.
type clause struct {
	key    string
	match  *flows.Match
	table  uint8
	prio   uint16
	cookie uint64
	conj   flows.Conjunction
}

// built is what a unit produces: whole flows and conjunction clauses.
type built struct {
	flows   []flows.Flow
	clauses []clause
}

func (b *built) add(o built) {
	b.flows = append(b.flows, o.flows...)
	b.clauses = append(b.clauses, o.clauses...)
}

// conjunctive compiles a decision. Dimensions with a single alternative
// are merged into one clause; a decision whose every dimension is single
// is one plain flow, and one that ends up with a single clause is a plain
// flow per alternative. Otherwise each clause's alternatives become
// clauses with conjunction(id,k/n) (merged with other decisions'
// identical ones by resolve) plus one conj_id flow with the actions.
//
// A varying dimension with a single alternative (a group's one member
// here) is kept as a clause of its own when another dimension has
// several: merged, it would come and go from the clause list as members
// come and go, renumbering the clauses — and every clause flow carries
// its k/n, so a member joining would rewrite every flow of the decision's
// remote addresses, hundreds of them on a host of an overlay, where most
// groups have one member or none. Kept, membership changes touch only
// the flows of the members and addresses that change.
//
// Plain flows sit one priority above the conjunctive ones because a plain
// flow and a clause flow of another decision can have the same match, and
// OpenFlow cannot hold both; every decision built here is an allow, so
// which of two matching ones wins does not change the verdict.
func conjunctive(d decision) (built, error) {
	var single flows.Match
	singleCookie := d.cookie
	var clauses []dimension
	multi := slices.ContainsFunc(d.dims, func(dim dimension) bool { return len(dim) > 1 })
	for i, dim := range d.dims {
		switch {
		case len(dim) == 0:
			return built{}, nil // a dimension nothing can satisfy: the decision never applies
		case len(dim) == 1 && !(multi && d.varying&(1<<i) != 0):
			m, err := mergeMatch(single, dim[0].match)
			if err != nil {
				return built{}, err
			}
			single = m
			if dim[0].cookie != 0 {
				singleCookie = dim[0].cookie
			}
		default:
			clauses = append(clauses, dim)
		}
	}
	if !reflect.ValueOf(&single).Elem().IsZero() {
		clauses = append(clauses, dimension{{match: single, cookie: singleCookie}})
	}
	if len(clauses) < 2 {
		fs, err := plainFlows(d, single, clauses)
		return built{flows: fs}, err
	}
	n := uint8(len(clauses))
	table := uint8(d.table)
	var out built
	for k, dim := range clauses {
		for i := range dim {
			alt := &dim[i]
			out.clauses = append(out.clauses, clause{
				key:    alt.keyFor(table, d.priority),
				match:  &alt.match,
				table:  table,
				prio:   d.priority,
				cookie: cmp.Or(alt.cookie, d.cookie),
				conj:   flows.Conjunction{ID: d.conjID, Clause: uint8(k) + 1, NClauses: n},
			})
		}
	}
	out.flows = append(out.flows, flows.Flow{
		Table:    table,
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
