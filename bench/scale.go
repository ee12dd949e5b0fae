package bench

import (
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/intent/intentgen"
	"github.com/flowgate/flowgate/pipeline"
)

// CompileResult is what the compiler costs on a generated scale scenario:
// the full compile (at start and after every reconnect) and one change of
// each kind through pipeline.Incremental (what the controller does per
// event). Times are the best of Rounds; allocations are per compile.
type CompileResult struct {
	Params              intentgen.Params
	Rounds              int
	Full                time.Duration
	FullAllocs          uint64
	FullBytes           uint64
	Flows, ACLFlows     int
	Rules               int
	HeapAfter           uint64 // live heap with the Incremental state held
	RuleAdd, RuleRemove Change
	PortBind, GroupJoin Change
}

// Change is one incremental compile: time to the plan and its size.
type Change struct {
	Duration time.Duration
	Updates  int // flows added, changed or removed
	Rebuilt  int // units compiled again
}

// Compile measures the compiler on p's scenario.
func Compile(p intentgen.Params, rounds int) (CompileResult, error) {
	r := CompileResult{Params: p, Rounds: max(rounds, 1)}
	doc := intentgen.Document(p)
	in, err := doc.Validate()
	if err != nil {
		return r, err
	}
	bind := pipeline.Bindings(intentgen.Bindings(p))
	for _, g := range in.SecurityGroups {
		r.Rules += len(g.Rules)
	}
	for i := 0; i < r.Rounds; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		fs, err := pipeline.Compile(in, bind)
		d := time.Since(start)
		runtime.ReadMemStats(&after)
		if err != nil {
			return r, err
		}
		if i == 0 || d < r.Full {
			r.Full = d
		}
		r.FullAllocs, r.FullBytes = after.Mallocs-before.Mallocs, after.TotalAlloc-before.TotalAlloc
		r.Flows, r.ACLFlows = len(fs), 0
		for _, f := range fs {
			if f.Table == uint8(pipeline.TableEgressACL) || f.Table == uint8(pipeline.TableIngressACL) {
				r.ACLFlows++
			}
		}
	}

	x := pipeline.NewIncremental()
	plan, err := x.Plan(in, bind)
	if err != nil {
		return r, err
	}
	x.Commit(plan)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.HeapAfter = ms.HeapAlloc

	// Each change is planned against the same committed state, rounds
	// times, and the best kept; the last plan is committed back and forth
	// so the state stays that of the scenario.
	change := func(edit func(d *intent.Document, b pipeline.Bindings)) (Change, error) {
		var best Change
		for i := 0; i < r.Rounds; i++ {
			d := doc.Clone()
			b := maps.Clone(bind)
			edit(d, b)
			start := time.Now()
			nin, err := d.Validate()
			if err != nil {
				return best, err
			}
			plan, err := x.Plan(nin, b)
			el := time.Since(start)
			if err != nil {
				return best, err
			}
			if i == 0 || el < best.Duration {
				best = Change{Duration: el, Updates: plan.Changed, Rebuilt: plan.Rebuilt}
			}
		}
		return best, nil
	}
	g := 0
	if r.RuleAdd, err = change(func(d *intent.Document, _ pipeline.Bindings) {
		d.SecurityGroups[g].Rules = append(d.SecurityGroups[g].Rules, intent.RuleDoc{
			Direction: "ingress", Protocol: "tcp", Ports: "4", RemoteCIDR: "198.51.100.0/24"})
	}); err != nil {
		return r, fmt.Errorf("rule add: %w", err)
	}
	if r.RuleRemove, err = change(func(d *intent.Document, _ pipeline.Bindings) {
		d.SecurityGroups[g].Rules = d.SecurityGroups[g].Rules[1:]
	}); err != nil {
		return r, fmt.Errorf("rule remove: %w", err)
	}
	if r.PortBind, err = change(func(d *intent.Document, b pipeline.Bindings) {
		delete(b, intentgen.PortName(0))
	}); err != nil {
		return r, fmt.Errorf("port bind: %w", err)
	}
	// A port joins a group that other groups' rules name as their remote.
	target := remoteGroupTarget(in)
	if r.GroupJoin, err = change(func(d *intent.Document, _ pipeline.Bindings) {
		for i := range d.Ports {
			if !slices.Contains(d.Ports[i].SecurityGroups, target) {
				d.Ports[i].SecurityGroups = append(d.Ports[i].SecurityGroups, target)
				return
			}
		}
	}); err != nil {
		return r, fmt.Errorf("group join: %w", err)
	}
	return r, nil
}

// remoteGroupTarget is the group most named as a remote group.
func remoteGroupTarget(in *intent.Intent) string {
	n := map[string]int{}
	best := in.SecurityGroups[0].Name
	for _, g := range in.SecurityGroups {
		for _, r := range g.Rules {
			if r.RemoteGroup != "" {
				n[r.RemoteGroup]++
				if n[r.RemoteGroup] > n[best] {
					best = r.RemoteGroup
				}
			}
		}
	}
	return best
}

// Print writes the result as a table.
func (r CompileResult) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\t%d ports, %d groups, %d rules (best of %d)\n", r.Params.Ports, r.Params.Groups, r.Rules, r.Rounds)
	fmt.Fprintf(tw, "full compile\t%v, %d allocs, %.0f MB allocated\n", r.Full.Round(time.Millisecond), r.FullAllocs, float64(r.FullBytes)/1e6)
	fmt.Fprintf(tw, "flows\t%d in total, %d ACL (tables 30+60): %.2f ACL flows per rule\n", r.Flows, r.ACLFlows, float64(r.ACLFlows)/float64(r.Rules))
	fmt.Fprintf(tw, "live heap, compiled state held\t%.0f MB\n", float64(r.HeapAfter)/1e6)
	for _, c := range []struct {
		name string
		c    Change
	}{{"one rule added", r.RuleAdd}, {"one rule removed", r.RuleRemove}, {"one port unbound", r.PortBind}, {"one port joins a remote group", r.GroupJoin}} {
		fmt.Fprintf(tw, "%s\t%v to plan, %d flow updates, %d units rebuilt\n", c.name, c.c.Duration.Round(10*time.Microsecond), c.c.Updates, c.c.Rebuilt)
	}
	tw.Flush()
}
