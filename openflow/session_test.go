package openflow

import (
	"context"
	"errors"
	"github.com/flowgate/flowgate/flows"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// newBridge starts a private OVS with bridge br0 as the integration
// tests create it: secure fail mode (no flows means no traffic) and
// OpenFlow 1.3 only.
func newBridge(t *testing.T) *testbed.OVS {
	t.Helper()
	o := testbed.NewOVS(t)
	t.Cleanup(func() {
		// Runs before the OVS is stopped: a failed test shows why.
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(o.Dir, "ovs-vswitchd.log"))
			t.Logf("ovs-vswitchd.log:\n%s", log)
		}
	})
	ctx := testContext(t)
	if _, err := o.Vsctl(ctx, "add-br", "br0", "--", "set", "bridge", "br0",
		"datapath_type="+o.Datapath, "fail_mode=secure", "protocols=OpenFlow13"); err != nil {
		t.Fatal(err)
	}
	return o
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// runSession starts a session for cfg and stops it at cleanup.
func runSession(t *testing.T, cfg SessionConfig) *Session {
	s, _ := startSession(t, cfg)
	return s
}

// startSession starts a session for cfg; stop (also run at cleanup) ends
// it and waits for Run to return.
func startSession(t *testing.T, cfg SessionConfig) (s *Session, stop func()) {
	t.Helper()
	cfg.Bridge = "br0"
	cfg.Logf = t.Logf
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, runInBackground(t, "session", s.Run)
}

// runInBackground runs run until the returned stop is called (or the test
// ends) and checks that it ended because it was told to.
func runInBackground(t *testing.T, what string, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("%s Run: %v", what, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func dialMgmt(t *testing.T, o *testbed.OVS) *Session {
	return runSession(t, SessionConfig{Dial: "unix:" + o.MgmtSocket("br0")})
}

// ofctlDump is what an operator sees: the flows of br0 as ovs-ofctl
// prints them, one per line, in ovs-ofctl's order.
func ofctlDump(t *testing.T, o *testbed.OVS) []string {
	t.Helper()
	out, err := o.Ofctl(testContext(t), "dump-flows", "br0", "--no-stats")
	if err != nil {
		t.Fatal(err)
	}
	return splitLines(out)
}

// splitLines returns the non-empty lines of s, trimmed.
func splitLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// sortedTexts is flows in Sort order and text form; ovs-ofctl lists flows
// in its own order, so listings are compared after sorting both.
func sortedTexts(list []flows.Flow) []string {
	fs := append([]flows.Flow(nil), list...)
	flows.Sort(fs)
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.String()
	}
	return out
}

// parsedSorted parses ovs-ofctl lines and returns them in Sort order and
// text form, so that two listings can be compared line by line.
func parsedSorted(t *testing.T, lines []string) []string {
	t.Helper()
	list := make([]flows.Flow, len(lines))
	for i, l := range lines {
		f, err := flows.ParseFlow(l)
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		list[i] = f
	}
	return sortedTexts(list)
}

// diffLines reports the first differences between want and got.
func diffLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d flows, want %d", what, len(got), len(want))
	}
	shown := 0
	for i := 0; i < max(len(want), len(got)) && shown < 10; i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("%s line %d:\n got %s\nwant %s", what, i, g, w)
			shown++
		}
	}
}

// listenForSwitch opens a TCP listener where o's ovs-vswitchd can reach
// it (its own network namespace) and returns it with the controller
// target that points the bridge at it.
func listenForSwitch(t *testing.T, o *testbed.OVS) (net.Listener, string) {
	t.Helper()
	ln, err := o.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "tcp:" + ln.Addr().String()
}

func TestSessionPassiveConnectOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	ln, target := listenForSwitch(t, o)
	s := runSession(t, SessionConfig{Listener: ln})
	if _, err := o.Vsctl(ctx, "set-controller", "br0", target); err != nil {
		t.Fatal(err)
	}
	f := flows.Flow{Table: 0, Priority: 10, Cookie: 0x1, Match: flows.Match{InPort: 1}, Actions: []flows.Action{flows.Output{Port: 2}}}
	if err := s.Apply(ctx, flows.ChangeSet{Add: []flows.Flow{f}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "ovs-ofctl dump", []string{f.String()}, ofctlDump(t, o))
	if st := s.Stats(); st.Connects != 1 || st.BundlesCommitted != 1 || st.FlowMods != 1 {
		t.Errorf("stats = %+v, want 1 connect, 1 bundle, 1 flow-mod", st)
	}
}

func TestSessionConfigErrors(t *testing.T) {
	for _, cfg := range []SessionConfig{
		{},
		{Dial: "unix:/x", Listen: "tcp:127.0.0.1:1"},
		{Listen: "tcp:127.0.0.1:1", Listener: &net.TCPListener{}},
		{Dial: "http://x"},
		{Listen: "127.0.0.1:6653"},
	} {
		if _, err := NewSession(cfg); err == nil {
			t.Errorf("NewSession(%+v) succeeded, want an error", cfg)
		}
	}
}

// TestWireRoundTripOnOVS installs every IR construct on a real switch and
// reads it back twice: through DumpFlows (must equal the IR exactly) and
// through ovs-ofctl (must equal the text form, flow for flow).
func TestWireRoundTripOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	for _, args := range [][]string{
		{"add-group", "br0", "group_id=1,type=all,bucket=output:1"},
		{"add-meter", "br0", "meter=1,kbps,band=type=drop,rate=1000"},
	} {
		if _, err := o.Ofctl(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	s := dialMgmt(t, o)
	want := everyConstruct()
	if err := s.Apply(ctx, flows.ChangeSet{Add: want}); err != nil {
		t.Fatal(err)
	}

	got, stats, err := s.DumpFlows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != len(got) {
		t.Errorf("%d stats for %d flows", len(stats), len(got))
	}
	flows.Sort(got)
	flows.Sort(want)
	if len(got) != len(want) {
		t.Fatalf("DumpFlows: %d flows, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("DumpFlows flow %d:\n got %s\n     %#v\nwant %s\n     %#v", i, got[i], got[i], want[i], want[i])
		}
	}
	diffLines(t, "ovs-ofctl dump vs text form", sortedTexts(want), parsedSorted(t, ofctlDump(t, o)))
	if t.Failed() {
		t.Logf("ovs-ofctl dump-flows:\n%s", strings.Join(ofctlDump(t, o), "\n"))
	}
}
