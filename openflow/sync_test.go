package openflow

import (
	"context"
	"encoding/hex"
	"github.com/flowgate/flowgate/flows"
	"net/netip"
	"slices"
	"strings"
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

// udpFrame is an IPv4 UDP datagram from src:40000 to dst:port, padded to
// Ethernet's minimum size.
func udpFrame(src, dst netip.Addr, port uint16) []byte {
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	ip := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, flows.ProtoUDP, 0, 0}
	ip = append(append(ip, src.AsSlice()...), dst.AsSlice()...)
	var sum uint32
	for i := 0; i < len(ip); i += 2 {
		sum += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	ip[10], ip[11] = byte(^sum>>8), byte(^sum)
	udp := []byte{0x9c, 0x40, byte(port >> 8), byte(port), 0, 8, 0, 0}
	b = append(append(b, ip...), udp...)
	return append(b, make([]byte, 60-len(b))...)
}

// TestSyncerKeepsUnmanagedFlowsOnOVS: a flow the datapath learned (a
// packet through a select group, then through ct to the flow that learns
// which backend it chose) survives the resync after a reconnect when the
// Syncer is told it is unmanaged, and costs no flow-mod; a Syncer that
// owns every flow deletes it.
func TestSyncerKeepsUnmanagedFlowsOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	if _, err := o.Vsctl(ctx, "add-port", "br0", "d1", "--", "set", "interface", "d1", "type=dummy", "ofport_request=1"); err != nil {
		t.Fatal(err)
	}
	learnCookie := learnOfBrief(false).Cookie
	learned := func(f *flows.Flow) bool { return f.Table == 42 && f.Cookie == learnCookie }
	group := lbGroup(5, "10.0.0.21", "10.0.0.22")
	desired := []flows.Flow{
		{Priority: 10, Cookie: 0x1, Match: flows.Match{InPort: 1, EthType: flows.EthTypeIPv4},
			Actions: []flows.Action{flows.Load{Field: flows.Bits(flows.RegField(9), 0, 16), Value: 0x1234}, flows.Group{ID: 5}}},
		affinityFlow(),
		// The Syncer's own flow in the table the datapath learns into.
		{Table: 42, Priority: 0, Cookie: 0x2},
	}

	// reconnect drops the session's connection and waits for the
	// Syncer's resync with the new one.
	reconnect := func(s *Session, y *Syncer) {
		t.Helper()
		s.mu.Lock()
		s.conn.nc.Close()
		s.mu.Unlock()
		select {
		case <-y.Resynced():
		case <-ctx.Done():
			t.Fatal("no resync after the reconnect")
		}
	}
	learnedLines := func() []string {
		t.Helper()
		out, err := o.Ofctl(ctx, "dump-flows", "br0", "table=42", "--no-stats")
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range splitLines(out) {
			if strings.Contains(l, "nw_src=10.1.2.3") {
				lines = append(lines, l)
			}
		}
		return lines
	}

	for _, tc := range []struct {
		name      string
		unmanaged func(*flows.Flow) bool
		keeps     bool
	}{{"unmanaged learned flows", learned, true}, {"every flow managed", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			s, stopSession := startSession(t, SessionConfig{Dial: "unix:" + o.MgmtSocket("br0")})
			defer stopSession()
			y := NewSyncer(s, t.Logf)
			y.SetUnmanaged(tc.unmanaged)
			defer runInBackground(t, "syncer", y.Run)()
			if err := s.SetGroups(ctx, map[uint32]flows.GroupDesc{5: group}); err != nil {
				t.Fatal(err)
			}
			if _, err := y.SetDesired(ctx, desired); err != nil {
				t.Fatal(err)
			}
			frame := udpFrame(netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.0.0.100"), 53)
			for len(learnedLines()) == 0 {
				if _, err := o.Appctl(ctx, "netdev-dummy/receive", "d1", hex.EncodeToString(frame)); err != nil {
					t.Fatal(err)
				}
				if ctx.Err() != nil {
					t.Fatal("the datapath learned no flow")
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("learned: %s", learnedLines())

			before := s.Stats().FlowMods
			reconnect(s, y)
			sent := s.Stats().FlowMods - before
			if tc.keeps {
				if lines := learnedLines(); len(lines) != 1 || sent != 0 {
					t.Errorf("after the resync: learned flows %q, %d flow-mods; want the learned flow kept and none sent", lines, sent)
				}
			} else if lines := learnedLines(); len(lines) != 0 || sent != 1 {
				t.Errorf("after the resync: learned flows %q, %d flow-mods; want it deleted with one", lines, sent)
			}
			diffLines(t, "the Syncer's own flows", sortedStrings(desired), sortedLines(withoutLearned(ofctlDump(t, o))))
		})
	}
}

// withoutLearned drops the lines of flows learned from 10.1.2.3.
func withoutLearned(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.Contains(l, "nw_src=10.1.2.3") {
			out = append(out, l)
		}
	}
	return out
}
