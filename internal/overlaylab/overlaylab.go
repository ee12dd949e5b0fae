// Package overlaylab runs flowgate controllers in-process on testbed
// nodes for the overlay tests of several packages (controller,
// cmd/flowgate), so that they start, stop and report them alike. Test
// files cannot import each other across packages; this one is not a
// test file so that they can share it.
package overlaylab

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/testbed"
)

// Controller is a controller running on one node for a test.
type Controller struct {
	*controller.Controller
	Log  string // its log file (debug level)
	stop context.CancelFunc
	done chan error
}

// Start runs a controller for node n (host name n.Name(), tunnel
// endpoint its underlay address) on the intent and locations in st, and
// waits until it is synced. The test's cleanup halts it and, when the
// test failed, logs its log. st must outlive it: open st before Start,
// so that its cleanup runs after this one.
func Start(t testing.TB, n *testbed.Node, st *store.Store) *Controller {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), n.Name()+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := controller.New(controller.Config{
		OVSDB: n.OVS().DBEndpoint(), Bridge: testbed.IntegrationBridge, Store: st,
		Connect: "unix:" + n.OVS().MgmtSocket(testbed.IntegrationBridge),
		Host:    n.Name(), TunnelIP: n.Underlay(),
		Logger: slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Controller{Controller: c, Log: logPath, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx); f.Close() }()
	t.Cleanup(func() {
		r.Halt()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("controller on %s:\n%s", n.Name(), b)
			}
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := c.WaitSynced(wctx); err != nil {
		t.Fatalf("controller on %s: %v", n.Name(), err)
	}
	return r
}

// Halt stops the controller and waits until it has stopped; its flows
// stay installed. Later calls do nothing.
func (c *Controller) Halt() {
	if c.done != nil {
		c.stop()
		<-c.done
		c.done = nil
	}
}

// DumpHit logs each node's br-int flows that saw packets: where a probe
// that failed went.
func DumpHit(t testing.TB, nodes map[string]*testbed.Node) {
	t.Helper()
	for name, n := range nodes {
		out, _ := n.OVS().Ofctl(context.Background(), "-O", "OpenFlow13", "dump-flows", testbed.IntegrationBridge)
		var hit []string
		for _, line := range strings.Split(out, "\n") {
			if !strings.Contains(line, "n_packets=0,") {
				hit = append(hit, line)
			}
		}
		t.Logf("%s flows with packets:\n%s", name, strings.Join(hit, "\n"))
	}
}
