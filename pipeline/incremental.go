package pipeline

import (
	"fmt"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Incremental compiles like Compile, at the cost of what changed. It keeps
// every unit's output (units.go) with the fingerprint of its inputs, and
// for every flow key the contributions of the units to it. A new intent or
// new bindings rebuild only the units whose fingerprint changed, and only
// the keys those units touched are resolved again; the result is the list
// of keys whose flow changed, ready for Syncer.Update. The flows it holds
// always equal Compile of the last committed input, byte for byte (tested
// with random edit sequences).
//
// Plan computes a change without touching the state; Commit makes it the
// state. A plan whose flows the switch refused is dropped, and the state
// stays that of the flows in force.
//
// Not safe for concurrent use; the controller's state goroutine owns it.
type Incremental struct {
	classes classCache
	units   map[unitID]*builtUnit
	slots   map[string]*slot
}

// builtUnit is a unit's output as kept between compiles.
type builtUnit struct {
	id    unitID
	fp    uint64
	out   built
	wkeys []string // keys of out.flows, by index
}

// slot is what the units contributed to one key, and the flow resolved
// from it (nil: none).
type slot struct {
	whole   []contribution
	clauses []contribution
	flow    *flows.Flow
}

// contribution is flow i (or clause i) of a unit's output.
type contribution struct {
	unit *builtUnit
	i    int
}

// NewIncremental returns an Incremental holding no flows.
func NewIncremental() *Incremental {
	return &Incremental{classes: classCache{}, units: map[unitID]*builtUnit{}, slots: map[string]*slot{}}
}

// Plan is a change computed by Incremental.Plan.
type Plan struct {
	// Updates are the keys whose flow changes, with the new flow (nil:
	// the key's flow is removed), and the keys whose flow was built again
	// unchanged (so the Syncer holds the new copy; no flow-mod follows).
	Updates []flows.Update
	// Changed counts the updates that change a flow.
	Changed int
	// Rebuilt and Removed count the units built again (changed or new)
	// and gone.
	Rebuilt, Removed int
	// Flows is the number of flows once committed.
	Flows int

	was map[string]*flows.Flow // the committed flow of each updated key

	units map[unitID]*builtUnit // rebuilt units; nil value: removed
	slots map[string]*slot      // replaced slots; nil: key gone
}

// Plan compiles in with b against the committed state and returns the
// change; the state is unchanged until Commit.
func (x *Incremental) Plan(in *intent.Intent, b Bindings) (*Plan, error) {
	return x.PlanWith(in, b, nil)
}

// PlanWith is Plan with the learned next hops (CompileWith).
func (x *Incremental) PlanWith(in *intent.Intent, b Bindings, hops NextHops) (*Plan, error) {
	return x.PlanOverlay(in, b, hops, Overlay{})
}

// PlanOverlay is PlanWith with the ports bound on other hosts
// (CompileOverlay).
func (x *Incremental) PlanOverlay(in *intent.Intent, b Bindings, hops NextHops, ov Overlay) (*Plan, error) {
	c := newCompiler(in, b, x.classes)
	c.hops = hops
	c.setOverlay(ov)
	us := c.units()
	p := &Plan{units: map[unitID]*builtUnit{}, slots: map[string]*slot{}, was: map[string]*flows.Flow{}, Flows: len(x.slots)}
	seen := make(map[unitID]bool, len(x.units))
	for _, u := range us {
		seen[u.id] = true
		if old := x.units[u.id]; old != nil && old.fp == u.fp {
			continue
		}
		out, err := u.build()
		if err != nil {
			return nil, err
		}
		bu := &builtUnit{id: u.id, fp: u.fp, out: out, wkeys: make([]string, len(out.flows))}
		for i := range out.flows {
			bu.wkeys[i] = out.flows[i].Key()
		}
		p.units[u.id] = bu
		p.Rebuilt++
	}
	for id := range x.units {
		if !seen[id] {
			p.units[id] = nil
			p.Removed++
		}
	}
	// The rebuilt units' contributions by key, and every key the rebuilt
	// and removed units touch, before and after.
	fresh := map[string]*slot{}
	freshSlot := func(k string) *slot {
		s := fresh[k]
		if s == nil {
			s = &slot{}
			fresh[k] = s
		}
		return s
	}
	for id, bu := range p.units {
		if old := x.units[id]; old != nil {
			for _, k := range old.wkeys {
				freshSlot(k)
			}
			for i := range old.out.clauses {
				freshSlot(old.out.clauses[i].key)
			}
		}
		if bu == nil {
			continue
		}
		for i, k := range bu.wkeys {
			s := freshSlot(k)
			s.whole = append(s.whole, contribution{bu, i})
		}
		for i := range bu.out.clauses {
			s := freshSlot(bu.out.clauses[i].key)
			s.clauses = append(s.clauses, contribution{bu, i})
		}
	}
	for k, add := range fresh {
		old := x.slots[k]
		s := &slot{}
		if old != nil {
			for _, c := range old.whole {
				if _, replaced := p.units[c.unit.id]; !replaced {
					s.whole = append(s.whole, c)
				}
			}
			for _, c := range old.clauses {
				if _, replaced := p.units[c.unit.id]; !replaced {
					s.clauses = append(s.clauses, c)
				}
			}
		}
		s.whole = append(s.whole, add.whole...)
		s.clauses = append(s.clauses, add.clauses...)
		if len(s.whole) == 0 && len(s.clauses) == 0 {
			if old != nil {
				p.slots[k] = nil
				p.Updates = append(p.Updates, flows.Update{Key: k})
				p.was[k] = old.flow
				p.Flows--
				p.Changed++
			}
			continue
		}
		f, err := s.resolve()
		if err != nil {
			return nil, err
		}
		s.flow = f
		p.slots[k] = s
		if old == nil {
			p.Flows++
		}
		if old != nil && old.flow != nil && old.flow.Cookie == f.Cookie &&
			flows.SameActions(old.flow.Actions, f.Actions) {
			// The same flow, built again: hand the new copy on anyway
			// (no flow-mod follows), so that nobody keeps the replaced
			// unit's flows alive.
			if old.flow != f {
				p.Updates = append(p.Updates, flows.Update{Key: k, Flow: f})
			}
			continue
		}
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("compiled flow %q is invalid: %w", f.String(), err)
		}
		p.Updates = append(p.Updates, flows.Update{Key: k, Flow: f})
		p.Changed++
		if old != nil {
			p.was[k] = old.flow
		}
	}
	flows.SortUpdates(p.Updates)
	return p, nil
}

// ChangeSet is the plan as flow-mods against the committed flows.
func (p *Plan) ChangeSet() flows.ChangeSet {
	keys := make([]string, len(p.Updates))
	now := make(map[string]*flows.Flow, len(p.Updates))
	for i, u := range p.Updates {
		keys[i] = u.Key
		now[u.Key] = u.Flow
	}
	return flows.DiffKeys(keys, func(k string) *flows.Flow { return now[k] }, func(k string) *flows.Flow { return p.was[k] })
}

// resolve settles the slot's contributions into its flow (resolve).
func (s *slot) resolve() (*flows.Flow, error) {
	whole := make([]*flows.Flow, len(s.whole))
	for i, c := range s.whole {
		whole[i] = &c.unit.out.flows[c.i]
	}
	clauses := make([]*clause, len(s.clauses))
	for i, c := range s.clauses {
		clauses[i] = &c.unit.out.clauses[c.i]
	}
	return resolve(whole, clauses)
}

// Flows returns every flow of the committed state, in Sort order.
func (x *Incremental) Flows() []flows.Flow {
	keyed := make([]flows.Keyed, 0, len(x.slots))
	for k, s := range x.slots {
		keyed = append(keyed, flows.Keyed{Key: k, Flow: s.flow})
	}
	flows.SortKeyed(keyed)
	out := make([]flows.Flow, len(keyed))
	for i, k := range keyed {
		out[i] = *k.Flow
	}
	return out
}

// Len is the number of flows of the committed state.
func (x *Incremental) Len() int { return len(x.slots) }

// Commit makes p the state. p must be the last plan made, with no commit
// since.
func (x *Incremental) Commit(p *Plan) {
	for id, bu := range p.units {
		if bu == nil {
			delete(x.units, id)
		} else {
			x.units[id] = bu
		}
	}
	for k, s := range p.slots {
		if s == nil {
			delete(x.slots, k)
		} else {
			x.slots[k] = s
		}
	}
}
