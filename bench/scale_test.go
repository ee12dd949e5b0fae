package bench

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/intent/intentgen"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/testbed"
)

// TestCompileSmallScenario runs the compile measurement on a small
// scenario: every change is planned, and a rule change touches the flows
// it shares, not the table.
func TestCompileSmallScenario(t *testing.T) {
	r, err := Compile(intentgen.Params{Ports: 100, Groups: 10, Rules: 500}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.Print(&b)
	t.Log("\n" + b.String())
	if r.Flows == 0 || r.RuleAdd.Updates == 0 || r.RuleRemove.Updates == 0 || r.GroupJoin.Updates == 0 {
		t.Fatalf("a change planned nothing: %+v", r)
	}
	// A rule change rewrites the clause flows it shares (one per member
	// of its group and per address of its remote group), not the table.
	if max(r.RuleAdd.Updates, r.RuleRemove.Updates) > r.Flows/20 {
		t.Errorf("a one-rule change updates %d/%d of %d flows", r.RuleAdd.Updates, r.RuleRemove.Updates, r.Flows)
	}
}

// TestSwitchSmallScenarioOnOVS runs the end-to-end measurement on a small
// scenario on a private OVS: every change commits, the port bind is seen,
// and both installs succeed.
func TestSwitchSmallScenarioOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	r, err := Switch(context.Background(), intentgen.Params{Ports: 60, Groups: 6, Rules: 200}, 4)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.Print(&b)
	t.Log("\n" + b.String())
	if r.Flows == 0 || len(r.Changes) != 6 || r.InstallFlowgate == 0 || r.InstallOfctl == 0 {
		t.Fatalf("incomplete result: %+v", r)
	}
	for _, c := range r.Changes {
		if c.FlowMods == 0 && !strings.Contains(c.Name, "unbound") {
			t.Errorf("%s: no flow-mods", c.Name)
		}
	}
}

// TestIncrementalStateDoesNotGrow alternates adding and removing a rule
// 200 times through pipeline.Incremental: the live heap after the changes
// stays where it was after the first ones (what the compiled state keeps
// is the intent in force, not its history).
func TestIncrementalStateDoesNotGrow(t *testing.T) {
	p := intentgen.Params{Ports: 200, Groups: 20, Rules: 1000}
	doc := intentgen.Document(p)
	in, err := doc.Validate()
	if err != nil {
		t.Fatal(err)
	}
	withRule := doc.Clone()
	withRule.SecurityGroups[2].Rules = append(withRule.SecurityGroups[2].Rules,
		intent.RuleDoc{Direction: "ingress", Protocol: "tcp", Ports: "4", RemoteCIDR: "198.51.100.0/24"})
	in2, err := withRule.Validate()
	if err != nil {
		t.Fatal(err)
	}
	bind := pipeline.Bindings(intentgen.Bindings(p))
	x := pipeline.NewIncremental()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var early uint64
	for i := range 200 {
		next := in
		if i%2 == 1 {
			next = in2
		}
		plan, err := x.Plan(next, bind)
		if err != nil {
			t.Fatal(err)
		}
		x.Commit(plan)
		if i == 19 {
			early = heap()
		}
	}
	if late := heap(); late > early+early/10+1<<20 {
		t.Errorf("live heap grew from %d to %d bytes over 180 changes", early, late)
	}
}
