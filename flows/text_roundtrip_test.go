package flows

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

var (
	roundTripSeed  = flag.Int64("roundtrip.seed", 0, "seed for the generated-flow tests (0: time-based)")
	roundTripFlows = flag.Int("roundtrip.flows", 400, "flows per TestTextRoundTripOnOVS run")
)

// newTestBridge starts a private OVS with an OpenFlow 1.3 bridge br0 and
// groups and meters 1..genObjects for generated flows to reference.
func newTestBridge(t *testing.T) (*testbed.OVS, context.Context) {
	t.Helper()
	o := testbed.NewOVS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	if _, err := o.Vsctl(ctx, "add-br", "br0", "--", "set", "bridge", "br0",
		"datapath_type="+o.Datapath, "fail_mode=secure", "protocols=OpenFlow13"); err != nil {
		t.Fatalf("create br0: %v", err)
	}
	for i := 1; i <= genObjects; i++ {
		if _, err := o.Ofctl(ctx, "add-group", "br0", fmt.Sprintf("group_id=%d,type=all", i)); err != nil {
			t.Fatalf("add group %d: %v", i, err)
		}
		if _, err := o.Ofctl(ctx, "add-meter", "br0", fmt.Sprintf("meter=%d,kbps,band=type=drop,rate=1000", i)); err != nil {
			t.Fatalf("add meter %d: %v", i, err)
		}
	}
	return o, ctx
}

// TestTextRoundTripOnOVS is the acceptance property of the text form: every
// flow String renders is accepted by `ovs-ofctl add-flows` and dumps back
// byte-identical, and ParseFlow of the dumped line renders it again.
func TestTextRoundTripOnOVS(t *testing.T) {
	o, ctx := newTestBridge(t)
	g := flowGen{r: newTestRand(t)}

	var want []string
	keys := map[string]bool{}
	for len(want) < *roundTripFlows {
		f := g.flow()
		if keys[f.Key()] {
			continue // a second flow with the key would replace the first
		}
		keys[f.Key()] = true
		if err := f.Validate(); err != nil {
			t.Fatalf("generator built an invalid flow: %v", err)
		}
		want = append(want, f.String())
	}
	file := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(file, []byte(strings.Join(want, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := o.Ofctl(ctx, "add-flows", "br0", file); err != nil {
		t.Errorf("add-flows: %v", err)
		// Name every flow OVS refuses, not just the first.
		for _, line := range want {
			if _, err := o.Ofctl(ctx, "add-flow", "br0", line); err != nil {
				t.Errorf("refused: %s\n%v", line, err)
			}
		}
		t.FailNow()
	}
	out, err := o.Ofctl(ctx, "dump-flows", "br0", "--no-stats")
	if err != nil {
		t.Fatalf("dump-flows: %v", err)
	}
	t.Logf("installed and dumped %d flows in %v", len(want), time.Since(start))

	var got []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimPrefix(line, " "); line != "" {
			got = append(got, line)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	reportSetDiff(t, want, got)

	for _, line := range got {
		f, err := ParseFlow(line)
		if err != nil {
			t.Errorf("ParseFlow: %v", err)
			continue
		}
		if s := f.String(); s != line {
			t.Errorf("ParseFlow then String changed the flow\n dumped %s\nrendered %s", line, s)
		}
	}
}

// newTestRand seeds a generator from -roundtrip.seed or the clock and logs
// the seed so that a failure can be replayed.
func newTestRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *roundTripSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -roundtrip.seed=%d)", seed, seed)
	return newSeededRand(seed)
}

func newSeededRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// reportSetDiff fails with the lines only one side has.
func reportSetDiff(t *testing.T, want, got []string) {
	t.Helper()
	missing, extra := setMinus(want, got), setMinus(got, want)
	for i, s := range missing {
		if i == 20 {
			t.Errorf("... %d more", len(missing)-i)
			break
		}
		t.Errorf("rendered but not dumped: %s", s)
	}
	for i, s := range extra {
		if i == 20 {
			t.Errorf("... %d more", len(extra)-i)
			break
		}
		t.Errorf("dumped but not rendered: %s", s)
	}
}

func setMinus(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// TestGroupTextRoundTripOnOVS: groups added with `ovs-ofctl add-group` in
// their text form dump back byte-identical, and ParseGroup reads the
// dumped lines back to the same text. (Some of them Validate refuses: OVS
// accepts and prints a learn action in a bucket, and then drops it.)
func TestGroupTextRoundTripOnOVS(t *testing.T) {
	o, ctx := newTestBridge(t)
	v6 := briefGroup()
	v6.ID = 7
	v6.Buckets[1].Actions[0] = briefLearn(true)
	for i := range v6.Buckets {
		ct := v6.Buckets[i].Actions[len(v6.Buckets[i].Actions)-1].(CT)
		nat := *ct.NAT
		nat.AddrMin = addr("fd00::21")
		ct.NAT = &nat
		v6.Buckets[i].Actions[len(v6.Buckets[i].Actions)-1] = ct
	}
	groups := []GroupDesc{
		briefGroup(),
		affinityGroup(),
		v6,
		{ID: 8},
		{ID: 9, Buckets: []Bucket{{Weight: 100}, {Weight: 1, Actions: []Action{learnEveryForm, Resubmit{Table: 3}}}, {Weight: 65535, Actions: []Action{Group{ID: 1}}}}},
	}
	var want []string
	for _, g := range groups {
		if _, err := o.Ofctl(ctx, "add-group", "br0", g.String()); err != nil {
			t.Fatalf("add-group: %v", err)
		}
		want = append(want, g.String())
	}
	out, err := o.Ofctl(ctx, "dump-groups", "br0")
	if err != nil {
		t.Fatal(err)
	}
	// newTestBridge's groups 1..genObjects are of type all, which the IR
	// does not hold.
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimPrefix(line, " "); strings.HasPrefix(line, "group_id=") && !strings.Contains(line, ",type=all") {
			got = append(got, line)
		}
	}
	dumped, err := ParseGroupDump(strings.Join(got, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	reportSetDiff(t, want, got)
	for _, g := range dumped {
		if s := g.String(); !slices.Contains(want, s) {
			t.Errorf("ParseGroup then String changed a group: %s", s)
		}
	}
}
