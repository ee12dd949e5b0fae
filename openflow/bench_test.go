package openflow

import (
	"context"
	"github.com/flowgate/flowgate/flows"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// benchBridge starts a private OVS with an empty secure bridge br0 and a
// session on its management socket.
func benchBridge(b *testing.B) (*testbed.OVS, *Session) {
	b.Helper()
	o := testbed.NewOVS(b)
	ctx := context.Background()
	if _, err := o.Vsctl(ctx, "add-br", "br0", "--", "set", "bridge", "br0",
		"datapath_type="+o.Datapath, "fail_mode=secure", "protocols=OpenFlow13,OpenFlow14"); err != nil {
		b.Fatal(err)
	}
	s, err := NewSession(SessionConfig{Bridge: "br0", Dial: "unix:" + o.MgmtSocket("br0")})
	if err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(sctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return o, s
}

// Installing 10,000 flows into an empty table: flowgate's one bundle over
// its own OpenFlow session, side by side with what an operator would do by
// hand, `ovs-ofctl --bundle replace-flows` of the same flows. Reports both
// times and their ratio, measured in the same iterations.
func BenchmarkInstall10kVsOvsOfctlOnOVS(b *testing.B) {
	o, s := benchBridge(b)
	ctx := context.Background()
	want := manyFlows(10000)
	var text strings.Builder
	for _, f := range want {
		text.WriteString(f.String())
		text.WriteByte('\n')
	}
	path := filepath.Join(b.TempDir(), "flows.txt")
	if err := os.WriteFile(path, []byte(text.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	clear := func() {
		if _, err := o.Ofctl(ctx, "del-flows", "br0"); err != nil {
			b.Fatal(err)
		}
	}
	var ours, theirs time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		clear()
		b.StartTimer()
		start := time.Now()
		if err := s.Apply(ctx, flows.ChangeSet{Add: want}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		b.StopTimer()
		clear()
		start = time.Now()
		if out, err := o.Ofctl(ctx, "-O", "OpenFlow14", "--bundle", "replace-flows", "br0", path); err != nil {
			b.Fatalf("ovs-ofctl replace-flows: %v\n%s", err, out)
		}
		theirs += time.Since(start)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Milliseconds())/n, "flowgate-ms/op")
	b.ReportMetric(float64(theirs.Milliseconds())/n, "ovs-ofctl-ms/op")
	b.ReportMetric(float64(theirs)/float64(ours), "ofctl/flowgate")
}

// What a resync of an unchanged table costs (a controller restart): read
// 10,000 flows back and diff them against the desired set. No flow-mods.
func BenchmarkResyncUnchanged10kOnOVS(b *testing.B) {
	_, s := benchBridge(b)
	ctx := context.Background()
	want := manyFlows(10000)
	if err := s.Apply(ctx, flows.ChangeSet{Add: want}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		got, _, err := s.DumpFlows(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if cs := flows.Diff(want, got); !cs.Empty() {
			b.Fatalf("unchanged table differs: %d/%d/%d", len(cs.Add), len(cs.Modify), len(cs.Delete))
		}
	}
}

// Diff alone: the CPU cost of finding no change in 10,000 flows.
func BenchmarkDiffUnchanged10k(b *testing.B) {
	want := manyFlows(10000)
	got := append([]flows.Flow(nil), want...)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if cs := flows.Diff(want, got); !cs.Empty() {
			b.Fatal("differs")
		}
	}
}
