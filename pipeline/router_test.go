package pipeline

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

var updateRouterGolden = flag.Bool("update-router", false, "rewrite testdata/router_*.golden")

func compileExampleRouters(t *testing.T, in *intent.Intent, b map[string]uint32) []flows.Flow {
	t.Helper()
	fs, err := compileRouters(in, b)
	if err != nil {
		t.Fatalf("compileRouters: %v", err)
	}
	flows.Sort(fs)
	return fs
}

func flowsText(fs []flows.Flow) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestRouterGolden pins the router stage of the worked example; the flows
// are the compiled form of nat_prototype_test.go's hand-written set.
func TestRouterGolden(t *testing.T) {
	got := flowsText(compileExampleRouters(t, routerExample(), routerExampleBindings()))
	path := filepath.Join("testdata", "router_worked_example.golden")
	if *updateRouterGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-router to create it)", err)
	}
	if got != string(want) {
		t.Errorf("router flows differ from %s (run with -update-router if intended):\n%s", path, got)
	}
}

func TestRouterFlowsValidAndDeterministic(t *testing.T) {
	first := compileExampleRouters(t, routerExample(), routerExampleBindings())
	for _, f := range first {
		if err := f.Validate(); err != nil {
			t.Errorf("invalid flow %s: %v", f, err)
		}
	}
	if _, err := flows.Dedupe(append([]flows.Flow(nil), first...)); err != nil {
		t.Errorf("two router flows share (table, priority, match): %v", err)
	}
	second := compileExampleRouters(t, routerExample(), routerExampleBindings())
	if flowsText(first) != flowsText(second) {
		t.Error("compiling the same intent twice gave different flows")
	}
}
