package flows

import (
	"slices"
	"strings"
	"testing"
)

func flowsText(fs []Flow) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.String()
	}
	return out
}

func TestDiff(t *testing.T) {
	ip := Match{EthType: EthTypeIPv4}
	arp := Match{EthType: EthTypeARP}
	out1 := []Action{Output{Port: 1}}
	out2 := []Action{Output{Port: 2}}
	tests := []struct {
		name                 string
		desired, installed   []Flow
		add, modify, delete_ []string
	}{
		{name: "both empty"},
		{
			name:      "identical sets change nothing",
			desired:   []Flow{{Priority: 1, Match: ip, Actions: out1, Cookie: 7}},
			installed: []Flow{{Priority: 1, Match: ip, Actions: out1, Cookie: 7}},
		},
		{
			name:    "new flow is added",
			desired: []Flow{{Priority: 1, Match: ip, Actions: out1}},
			add:     []string{"priority=1,ip actions=output:1"},
		},
		{
			name:      "unwanted flow is deleted",
			installed: []Flow{{Table: 3, Priority: 1, Match: arp}},
			delete_:   []string{"table=3, priority=1,arp actions=drop"},
		},
		{
			name:      "new actions, same cookie: modify",
			desired:   []Flow{{Priority: 1, Match: ip, Actions: out2, Cookie: 7}},
			installed: []Flow{{Priority: 1, Match: ip, Actions: out1, Cookie: 7}},
			modify:    []string{"cookie=0x7, priority=1,ip actions=output:2"},
		},
		{
			name:      "new cookie: delete and add, as modify keeps the old cookie",
			desired:   []Flow{{Priority: 1, Match: ip, Actions: out1, Cookie: 8}},
			installed: []Flow{{Priority: 1, Match: ip, Actions: out1, Cookie: 7}},
			add:       []string{"cookie=0x8, priority=1,ip actions=output:1"},
			delete_:   []string{"cookie=0x7, priority=1,ip actions=output:1"},
		},
		{
			name:      "equivalent action encodings are not a change",
			desired:   []Flow{{Priority: 1, Match: ip, Actions: []Action{Drop{}}}},
			installed: []Flow{{Priority: 1, Match: ip}},
		},
		{
			name:      "priority is part of the key",
			desired:   []Flow{{Priority: 2, Match: ip}},
			installed: []Flow{{Priority: 1, Match: ip}},
			add:       []string{"priority=2,ip actions=drop"},
			delete_:   []string{"priority=1,ip actions=drop"},
		},
		{
			name: "lists come out sorted by table, priority high to low, text",
			desired: []Flow{
				{Table: 2, Priority: 5, Match: arp}, {Table: 1, Priority: 5, Match: ip},
				{Table: 1, Priority: 9, Match: arp}, {Table: 1, Priority: 5, Match: arp},
			},
			add: []string{
				"table=1, priority=9,arp actions=drop", "table=1, priority=5,arp actions=drop",
				"table=1, priority=5,ip actions=drop", "table=2, priority=5,arp actions=drop",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Diff(tc.desired, tc.installed)
			for _, l := range []struct {
				what      string
				got, want []string
			}{{"Add", flowsText(c.Add), tc.add}, {"Modify", flowsText(c.Modify), tc.modify}, {"Delete", flowsText(c.Delete), tc.delete_}} {
				if !slices.Equal(l.got, l.want) && len(l.got)+len(l.want) > 0 {
					t.Errorf("%s\n got %q\nwant %q", l.what, l.got, l.want)
				}
			}
			if empty := len(tc.add)+len(tc.modify)+len(tc.delete_) == 0; c.Empty() != empty {
				t.Errorf("Empty() = %v, want %v", c.Empty(), empty)
			}
		})
	}
}

// TestDiffConverges applies a change set to the installed list the way
// the switch would and checks the result is the desired set.
func TestDiffConverges(t *testing.T) {
	g := flowGen{r: newTestRand(t)}
	desired, installed := map[string]Flow{}, map[string]Flow{}
	for i := 0; i < 300; i++ {
		f := g.flow()
		switch i % 3 {
		case 0:
			desired[f.Key()] = f
		case 1:
			installed[f.Key()] = f
		default: // same key in both, sometimes with other actions or cookie
			desired[f.Key()] = f
			if i%2 == 0 {
				f.Cookie++
			} else {
				f.Actions = append(f.Actions[:len(f.Actions):len(f.Actions)], Output{Port: 1})
			}
			installed[f.Key()] = f
		}
	}
	d, in := mapValues(desired), mapValues(installed)
	c := Diff(d, in)
	sw := map[string]Flow{}
	for _, f := range in {
		sw[f.Key()] = f
	}
	for _, f := range c.Delete {
		delete(sw, f.Key())
	}
	for _, f := range c.Modify {
		old := sw[f.Key()]
		old.Actions = f.Actions // OpenFlow modify keeps the cookie
		sw[f.Key()] = old
	}
	for _, f := range c.Add {
		sw[f.Key()] = f
	}
	got, want := flowsText(mapValues(sw)), flowsText(d)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("applying the change set did not give the desired flows")
	}
	if again := Diff(d, mapValues(sw)); !again.Empty() {
		t.Errorf("second diff not empty: %d add, %d modify, %d delete", len(again.Add), len(again.Modify), len(again.Delete))
	}
}

func mapValues(m map[string]Flow) []Flow {
	var out []Flow
	for _, f := range m {
		out = append(out, f)
	}
	return out
}

func TestSortIsDeterministic(t *testing.T) {
	g := flowGen{r: newTestRand(t)}
	var fs []Flow
	for i := 0; i < 200; i++ {
		fs = append(fs, g.flow())
	}
	a := slices.Clone(fs)
	b := slices.Clone(fs)
	slices.Reverse(b)
	Sort(a)
	Sort(b)
	if !slices.Equal(flowsText(a), flowsText(b)) {
		t.Fatal("Sort depends on input order")
	}
	for i := 1; i < len(a); i++ {
		p, q := a[i-1], a[i]
		if p.Table > q.Table || (p.Table == q.Table && p.Priority < q.Priority) {
			t.Fatalf("out of order: %q before %q", p.String(), q.String())
		}
	}
}

func TestDedupe(t *testing.T) {
	ip := Match{EthType: EthTypeIPv4}
	a := Flow{Priority: 1, Match: ip, Cookie: 1, Actions: []Action{Conjunction{ID: 1, Clause: 1, NClauses: 2}}}
	b := Flow{Table: 1, Priority: 1, Match: ip}
	got, err := Dedupe([]Flow{b, a, a, b})
	if err != nil {
		t.Fatalf("Dedupe of exact repeats: %v", err)
	}
	if want := []string{a.String(), b.String()}; !slices.Equal(flowsText(got), want) {
		t.Errorf("Dedupe = %q, want %q", flowsText(got), want)
	}

	for _, clash := range []Flow{
		{Priority: 1, Match: ip, Cookie: 2, Actions: a.Actions},
		{Priority: 1, Match: ip, Cookie: 1, Actions: []Action{Conjunction{ID: 2, Clause: 1, NClauses: 2}}},
	} {
		_, err := Dedupe([]Flow{a, b, clash})
		if err == nil {
			t.Errorf("Dedupe accepted %q next to %q", clash.String(), a.String())
			continue
		}
		if !strings.Contains(err.Error(), a.String()) || !strings.Contains(err.Error(), clash.String()) {
			t.Errorf("error does not name both flows: %v", err)
		}
	}
}

// TestModifyKeepsCookieOnOVS pins the OVS behaviour Diff is built on: an
// OpenFlow 1.3 strict modify replaces the actions but keeps the installed
// cookie, even with a cookie mask, so a cookie change must be a delete and
// an add.
func TestModifyKeepsCookieOnOVS(t *testing.T) {
	o, ctx := newTestBridge(t)
	old := Flow{Cookie: 1, Priority: 5, Match: Match{EthType: EthTypeIPv4}, Actions: []Action{Output{Port: 1}}}
	if _, err := o.Ofctl(ctx, "add-flow", "br0", old.String()); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []string{
		"cookie=0x2, priority=5,ip actions=output:2",
		"cookie=0x1/-1,cookie=0x2,priority=5,ip actions=output:2",
	} {
		if _, err := o.Ofctl(ctx, "mod-flows", "--strict", "br0", mod); err != nil {
			t.Fatal(err)
		}
	}
	out, err := o.Ofctl(ctx, "dump-flows", "br0", "--no-stats")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(out), "cookie=0x1, priority=5,ip actions=output:2"; got != want {
		t.Errorf("after mod-flows\n got %s\nwant %s", got, want)
	}
}
