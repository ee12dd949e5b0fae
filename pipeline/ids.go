package pipeline

import (
	"cmp"
	"hash/fnv"
	"hash/maphash"
	"slices"

	"github.com/flowgate/flowgate/intent"
)

// Stable ids of intent objects. An id is a hash of what identifies the
// object (a port's or network's name; a group's name; a rule class's group
// and canonical text, which for a class of one rule is the rule's), so adding, removing or reordering other objects does
// not change it. That keeps cookies, conntrack zones and ct_label rule ids
// stable across compiles, and it is what lets a removed rule's connections
// be recognised: their ct_label holds an id no live rule has.
//
// Hash collisions are resolved deterministically by linear probing in
// order of (home slot, key): the key that sorts first keeps its slot. A
// collision can therefore move an id when a colliding object is added,
// which costs a rule's connections once; it never merges two objects.
type ids struct {
	port  map[string]uint32 // port name -> id (cookie object)
	zone  map[string]uint16 // network name -> ct zone = network id
	group map[string]uint32 // group name -> id (cookie object, conjunction ids)
	// classes are the rule classes of each group (rule_classes.go) with
	// their ids (ct_label, cookie, conjunction ids), ordered by first
	// rule; a class of one rule has the id of the rule's own ruleKey.
	classes map[string][]ruleClass
	// policyRule maps policyRuleKey to the id of an admin policy rule
	// (cookie object, conjunction id, ct_label of what it allowed). The
	// ids share the rule classes' space, so a label never names both.
	policyRule map[string]uint32
}

// Rule and group ids are 30 bits so that conjunction ids can carry a
// 2-bit kind above them (conjunction.go); 0 means "no rule".
const idBits = 30

// classCache keeps the rule classes of groups by group name, with the
// fingerprint of the group they were factored from: ruleClasses is a
// function of the group alone, and factoring 10,000 rules on every change
// would cost more than the change.
type classCache map[string]cachedClasses

type cachedClasses struct {
	fp      uint64
	classes []ruleClass
}

// classesOf returns the rule classes of g with their keys set, from the
// cache when g is unchanged. The caller owns the returned slice.
func (cache classCache) classesOf(g *intent.SecurityGroup) []ruleClass {
	if cache == nil {
		return withKeys(ruleClasses(g))
	}
	fp := groupFingerprint(g)
	if c, ok := cache[g.Name]; ok && c.fp == fp {
		return slices.Clone(c.classes)
	}
	cs := withKeys(ruleClasses(g))
	cache[g.Name] = cachedClasses{fp, slices.Clone(cs)}
	return cs
}

// groupFingerprint covers what ruleClasses reads of a group: its name and
// its rules (intent.RuleKey is every field of a rule).
func groupFingerprint(g *intent.SecurityGroup) uint64 {
	f := newFingerprint().str(g.Name).u64(uint64(len(g.Rules)))
	for i := range g.Rules {
		f.u64(maphash.Comparable(fpSeed, g.Rules[i].Key()))
	}
	return f.sum()
}

func withKeys(cs []ruleClass) []ruleClass {
	for i := range cs {
		cs[i].keyText = cs[i].key()
	}
	return cs
}

func assignIDs(in *intent.Intent, cache classCache) ids {
	var ports, nets, groups, classKeys []string
	for _, p := range in.Ports {
		ports = append(ports, p.Name)
	}
	for _, n := range in.Networks {
		nets = append(nets, n.Name)
	}
	classes := map[string][]ruleClass{}
	for i := range in.SecurityGroups {
		g := &in.SecurityGroups[i]
		groups = append(groups, g.Name)
		if _, dup := classes[g.Name]; dup {
			continue // validation refuses duplicate names
		}
		classes[g.Name] = cache.classesOf(g)
		for _, c := range classes[g.Name] {
			classKeys = append(classKeys, c.key())
		}
	}
	for name := range cache {
		if _, live := classes[name]; !live {
			delete(cache, name) // a group that is gone: keep the cache the intent's size
		}
	}
	for _, p := range in.Policies {
		for _, r := range p.Rules {
			classKeys = append(classKeys, policyRuleKey(p.Name, r))
		}
	}
	z := networkZones(in)
	classIDs := allocate(classKeys, 1, 1<<idBits-1)
	for _, cs := range classes {
		for i := range cs {
			cs[i].id = classIDs[cs[i].key()]
		}
	}
	policyRules := map[string]uint32{}
	for _, p := range in.Policies {
		for _, r := range p.Rules {
			k := policyRuleKey(p.Name, r)
			policyRules[k] = classIDs[k]
		}
	}
	return ids{
		port:    allocate(ports, 1, 1<<32-1),
		zone:    z,
		group:   allocate(groups, 1, 1<<idBits-1),
		classes: classes,

		policyRule: policyRules,
	}
}

// allocate gives every distinct key an id in [lo, hi]: its hash slot, or
// the next free one.
func allocate(keys []string, lo, hi uint32) map[string]uint32 {
	span := uint64(hi) - uint64(lo) + 1
	type slotted struct {
		key  string
		home uint32
	}
	ks := make([]slotted, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue // duplicates (identical rules of one group) share an id
		}
		seen[k] = true
		h := fnv.New32a()
		h.Write([]byte(k))
		ks = append(ks, slotted{k, lo + uint32(uint64(h.Sum32())%span)})
	}
	slices.SortFunc(ks, func(a, b slotted) int {
		return cmp.Or(cmp.Compare(a.home, b.home), cmp.Compare(a.key, b.key))
	})
	out := make(map[string]uint32, len(ks))
	used := make(map[uint32]bool, len(ks))
	for _, k := range ks {
		id := k.home
		for used[id] {
			if id == hi {
				id = lo
			} else {
				id++
			}
		}
		used[id] = true
		out[k.key] = id
	}
	return out
}
