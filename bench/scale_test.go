package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent/intentgen"
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
