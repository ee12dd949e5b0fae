package flows

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
)

// ChangeSet is what turns the installed flows into the desired ones. Apply
// it in one bundle, in the order Delete, Modify, Add: a flow whose cookie
// changes appears in both Delete (old cookie) and Add (new cookie), and the
// delete must not remove the new flow.
type ChangeSet struct {
	Add    []Flow // flows to add (OFPFC_ADD)
	Modify []Flow // same key and cookie, new actions (OFPFC_MODIFY_STRICT)
	Delete []Flow // flows to remove (OFPFC_DELETE_STRICT, as installed)
}

// Empty reports whether nothing needs to change.
func (c ChangeSet) Empty() bool {
	return len(c.Add) == 0 && len(c.Modify) == 0 && len(c.Delete) == 0
}

// Diff compares desired with installed flows by Key and returns the
// minimal change set, each list in Sort order. desired must not hold two
// flows with the same Key (run Dedupe first); installed cannot, as the
// switch keeps one flow per key.
//
// A changed cookie cannot be a Modify: in OpenFlow 1.1 and later a modify
// flow-mod keeps the installed flow's cookie (OVS ignores the cookie
// unless it is used as a filter, and `ovs-ofctl -O OpenFlow13 mod-flows
// --strict` leaves it unchanged, see TestModifyKeepsCookieOnOVS). So the old
// flow is deleted and the new one added; inside a bundle the switch never
// sees the gap.
func Diff(desired, installed []Flow) ChangeSet {
	have := make(map[string]Flow, len(installed))
	for _, f := range installed {
		have[f.Key()] = f
	}
	var c ChangeSet
	wanted := make(map[string]bool, len(desired))
	for _, f := range desired {
		k := f.Key()
		wanted[k] = true
		old, ok := have[k]
		switch {
		case !ok:
			c.Add = append(c.Add, f)
		case old.Cookie != f.Cookie:
			c.Delete = append(c.Delete, old)
			c.Add = append(c.Add, f)
		case !SameActions(old.Actions, f.Actions):
			c.Modify = append(c.Modify, f)
		}
	}
	for _, f := range installed {
		if !wanted[f.Key()] {
			c.Delete = append(c.Delete, f)
		}
	}
	Sort(c.Add)
	Sort(c.Modify)
	Sort(c.Delete)
	return c
}

// SameActions reports whether two action lists are the same, as their
// text would say. Conjunctions (the long lists of shared clause flows)
// compare as values; anything else compares as text.
func SameActions(a, b []Action) bool {
	if len(a) != len(b) {
		return ActionsString(a) == ActionsString(b) // e.g. no actions and drop
	}
	for i := range a {
		x, okx := a[i].(Conjunction)
		y, oky := b[i].(Conjunction)
		if !okx || !oky {
			return ActionsString(a[i:]) == ActionsString(b[i:])
		}
		if x != y {
			return false
		}
	}
	return true
}

// Sort orders flows the way an operator reads a pipeline: by table, then
// by priority from highest (evaluated first) to lowest, then by text.
func Sort(flows []Flow) {
	ks := make([]Keyed, len(flows))
	for i := range flows {
		f := flows[i]
		ks[i] = Keyed{Key: f.Key(), Flow: &f}
	}
	SortKeyed(ks)
	for i := range ks {
		flows[i] = *ks[i].Flow
	}
}

// Keyed is a flow with its Key, computed once.
type Keyed struct {
	Key  string
	Flow *Flow
}

// SortKeyed orders flows as Sort does, using their keys instead of
// rendering each flow's text: within one table and priority, text order
// is cookie text order, then match text order (the keys share their
// "table=T,priority=P" prefix, so comparing keys compares matches), and
// no two flows of one set share a key.
func SortKeyed(ks []Keyed) {
	slices.SortFunc(ks, func(a, b Keyed) int {
		x, y := a.Flow, b.Flow
		if c := cmp.Compare(x.Table, y.Table); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Priority, x.Priority); c != 0 {
			return c
		}
		if x.Cookie != y.Cookie {
			if x.Cookie == 0 || y.Cookie == 0 {
				return cmp.Compare(x.String(), y.String())
			}
			return compareCookieText(x.Cookie, y.Cookie)
		}
		if c := cmp.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(ActionsString(x.Actions), ActionsString(y.Actions))
	})
}

// compareCookieText compares two non-zero cookies the way their text
// ("cookie=0x1f, ") compares, without printing them: hex digits sort like
// their values, so the digit strings compare like the values aligned to
// the left, and when one string is a prefix of the other, the shorter
// sorts first (the ',' after it sorts before every digit).
func compareCookieText(x, y uint64) int {
	lx, ly := hexDigits(x), hexDigits(y)
	return cmp.Or(cmp.Compare(x<<(4*(16-lx)), y<<(4*(16-ly))), cmp.Compare(lx, ly))
}

func hexDigits(v uint64) int { return max(1, (bits.Len64(v)+3)/4) }

// Dedupe drops exact repeats (same key, cookie and actions, as happens
// when two rules produce the same shared flow) and returns the rest in
// Sort order. Two flows with the same key but different cookie or actions
// cannot both be installed, so that is an error naming both.
func Dedupe(flows []Flow) ([]Flow, error) {
	byKey := make(map[string]Flow, len(flows))
	out := make([]Flow, 0, len(flows))
	for _, f := range flows {
		k := f.Key()
		prev, dup := byKey[k]
		if !dup {
			byKey[k] = f
			out = append(out, f)
			continue
		}
		if prev.Cookie != f.Cookie || !SameActions(prev.Actions, f.Actions) {
			return nil, fmt.Errorf("two flows share table, priority and match but differ: %q and %q", prev.String(), f.String())
		}
	}
	Sort(out)
	return out, nil
}

// Update is one key's new desired flow: Flow nil removes the key's flow.
// Key must be Flow.Key() of a non-nil Flow.
type Update struct {
	Key  string
	Flow *Flow
}

// SortUpdates orders updates by key, for a deterministic bundle.
func SortUpdates(us []Update) {
	slices.SortFunc(us, func(a, b Update) int { return cmp.Compare(a.Key, b.Key) })
}

// DiffKeys is the change set that turns installed into desired for the
// given keys only (nil: no flow at that key), in Sort order.
func DiffKeys(keys []string, desired, installed func(key string) *Flow) ChangeSet {
	var cs KeyedChanges
	for _, k := range keys {
		cs.Note(k, desired(k), installed(k))
	}
	cs.SortAll()
	return cs.ChangeSet
}

// KeyedChanges is a ChangeSet with the keys it touches, built one key at
// a time with Note.
type KeyedChanges struct {
	ChangeSet
	Keys []string
}

// Note records what turns have (nil: nothing installed) into want (nil:
// nothing desired) at key k; see Diff for why a new cookie is a delete
// and an add.
func (cs *KeyedChanges) Note(k string, want, have *Flow) {
	switch {
	case want == nil && have == nil:
		return
	case want == nil:
		cs.Delete = append(cs.Delete, *have)
	case have == nil:
		cs.Add = append(cs.Add, *want)
	case want.Cookie != have.Cookie:
		cs.Delete = append(cs.Delete, *have)
		cs.Add = append(cs.Add, *want)
	case !SameActions(want.Actions, have.Actions):
		cs.Modify = append(cs.Modify, *want)
	default:
		return
	}
	cs.Keys = append(cs.Keys, k)
}

// SortAll puts each list in Sort order.
func (cs *KeyedChanges) SortAll() {
	Sort(cs.Add)
	Sort(cs.Modify)
	Sort(cs.Delete)
}
