package openflow

import (
	"context"
	"github.com/flowgate/flowgate/flows"
	"slices"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

func startSyncer(t *testing.T, s *Session) (*Syncer, func()) {
	y := NewSyncer(s, t.Logf)
	return y, runInBackground(t, "syncer", y.Run)
}

// TestSyncerRestartIssuesNoFlowModsOnOVS: a second controller (new session, new
// syncer) with the same desired set finds everything installed and sends
// nothing; a one-flow change then costs exactly one flow-mod.
func TestSyncerRestartIssuesNoFlowModsOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	desired := manyFlows(3000)

	s1, stopSession1 := startSession(t, SessionConfig{Dial: "unix:" + o.MgmtSocket("br0")})
	y1, stopSyncer1 := startSyncer(t, s1)
	if _, err := y1.SetDesired(ctx, desired); err != nil {
		t.Fatal(err)
	}
	if got := s1.Stats().FlowMods; got != uint64(len(desired)) {
		t.Errorf("first controller sent %d flow-mods, want %d", got, len(desired))
	}
	stopSyncer1()
	stopSession1()

	s2, _ := startSession(t, SessionConfig{Dial: "unix:" + o.MgmtSocket("br0")})
	y2, _ := startSyncer(t, s2)
	if _, err := y2.SetDesired(ctx, desired); err != nil {
		t.Fatal(err)
	}
	if st := s2.Stats(); st.FlowMods != 0 || st.Applies != 0 {
		t.Errorf("restarted controller: %d flow-mods in %d bundles, want none", st.FlowMods, st.Applies)
	}

	changed := slices.Clone(desired)
	changed[2].Actions = []flows.Action{flows.Goto{Table: 21}} // same key and cookie: a modify
	changed = changed[:len(changed)-1]                         // and one delete
	if _, err := y2.SetDesired(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if st := s2.Stats(); st.FlowMods != 2 || st.Applies != 1 {
		t.Errorf("one modify and one delete: %d flow-mods in %d bundles, want 2 in 1", st.FlowMods, st.Applies)
	}
	diffLines(t, "after the change", sortedStrings(changed), sortedLines(ofctlDump(t, o)))
}

// TestSyncerRefusedSetKeepsViewOnOVS: a desired set the switch refuses leaves
// the old table in force, and the next valid set is diffed against it.
func TestSyncerRefusedSetKeepsViewOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	s := dialMgmt(t, o)
	y, _ := startSyncer(t, s)
	good := manyFlows(10)
	if _, err := y.SetDesired(ctx, good); err != nil {
		t.Fatal(err)
	}
	bad := append(slices.Clone(good), flows.Flow{Table: 1, Priority: 1, Match: flows.Match{EthType: flows.EthTypeIPv4}, Actions: []flows.Action{flows.Group{ID: 9}}})
	if _, err := y.SetDesired(ctx, bad); err == nil {
		t.Fatal("SetDesired with an output to a missing group succeeded")
	}
	more := append(slices.Clone(good), manyFlows(11)[10])
	before := s.Stats().FlowMods
	if _, err := y.SetDesired(ctx, more); err != nil {
		t.Fatal(err)
	}
	if sent := s.Stats().FlowMods - before; sent != 1 {
		t.Errorf("adding one flow after a refused set sent %d flow-mods, want 1", sent)
	}
	diffLines(t, "table", sortedStrings(more), sortedLines(ofctlDump(t, o)))
}

// TestSyncerReinstallsAfterVswitchdCrashOnOVS kills ovs-vswitchd with SIGKILL,
// starts it again and waits for the syncer to put every flow back, over
// the management socket and over a passive TCP connection.
func TestSyncerReinstallsAfterVswitchdCrashOnOVS(t *testing.T) {
	for _, mode := range []string{"active unix", "passive tcp"} {
		t.Run(mode, func(t *testing.T) {
			o := newBridge(t)
			ctx := testContext(t)
			var s *Session
			switch mode {
			case "active unix":
				s = dialMgmt(t, o)
			case "passive tcp":
				ln, target := listenForSwitch(t, o)
				s = runSession(t, SessionConfig{Listener: ln})
				if _, err := o.Vsctl(ctx, "set-controller", "br0", target); err != nil {
					t.Fatal(err)
				}
			}
			crashAndRecover(t, ctx, o, s)
		})
	}
}

func crashAndRecover(t *testing.T, ctx context.Context, o *testbed.OVS, s *Session) {
	t.Helper()
	y, _ := startSyncer(t, s)
	desired := manyFlows(3000)
	if _, err := y.SetDesired(ctx, desired); err != nil {
		t.Fatal(err)
	}
	if err := o.KillVswitchd(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := o.StartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	want := sortedStrings(desired)
	for {
		out, err := o.Ofctl(ctx, "dump-flows", "br0", "--no-stats")
		if err == nil && len(splitLines(out)) == len(want) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("flows not back after %v: %v", time.Since(restarted), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("ovs-vswitchd restarted in %v; all %d flows back %v after the restart", restarted.Sub(killed), len(desired), time.Since(restarted))
	diffLines(t, "flows after the crash", want, sortedLines(ofctlDump(t, o)))
	if st := s.Stats(); st.Connects != 2 || st.FlowMods != uint64(2*len(desired)) {
		t.Errorf("stats = %+v, want 2 connects and the set sent twice", st)
	}
}
