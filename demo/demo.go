// Package demo runs the worked example of the design notes on a testbed:
// namespaces for web1, web2, db1 and the outside world, a private OVS, and
// flowgate's controller programming it from examples/intent.yaml. It shows
// who reaches whom, checks every cell against what the intent says, and
// traces one allowed and one denied connection.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/testbed"
)

// syncTimeout bounds the controller's first install. It takes well under
// a second; a controller that cannot connect or whose bundle is refused
// would otherwise keep the demo waiting for ever.
const syncTimeout = 30 * time.Second

// Report is what a run found, for callers that check it rather than read
// the printout.
type Report struct {
	// Testbed is the prefix of every namespace the run made; OVSDir the
	// private OVS's run directory. Both are gone when Run returns.
	Testbed, OVSDir string
	// Differences lists every matrix cell and trace verdict that is not
	// what the intent says; Run fails when there is one.
	Differences []string
	// Verdicts are the traces' verdicts, in order.
	Verdicts []string
}

// ErrDiffers is returned (wrapped) when the network did not do what the
// intent says.
var ErrDiffers = errors.New("the network differs from the intent")

// Run brings the demo up, prints it to w and tears everything down, also
// when ctx is cancelled (Ctrl-C). The report is never nil: it says what
// was made even when Run fails half way.
func Run(ctx context.Context, intentPath string, w io.Writer) (rep *Report, err error) {
	rep = &Report{}
	in, err := intent.Load(intentPath)
	if err != nil {
		return rep, err
	}
	grids, err := workedGrids()
	if err != nil {
		return rep, err
	}

	fmt.Fprintf(w, "flowgate demo: the worked example (%s) on a private Open vSwitch\n", intentPath)
	tb, err := testbed.Start(ctx, testbed.Options{})
	if err != nil {
		return rep, err
	}
	rep.Testbed, rep.OVSDir = tb.Prefix(), tb.OVS().Dir
	fmt.Fprintf(w, "testbed %s: namespaces %s-*, private OVS in %s (run dir)\n", rep.Testbed, rep.Testbed, rep.OVSDir)
	defer func() {
		if cerr := tb.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("remove testbed %s: %w", tb.Prefix(), cerr))
			return
		}
		if left := Leftovers(rep.Testbed, rep.OVSDir); len(left) > 0 {
			err = errors.Join(err, fmt.Errorf("testbed %s left behind: %s", tb.Prefix(), strings.Join(left, "; ")))
			return
		}
		fmt.Fprintf(w, "\ntestbed %s removed: namespaces, veths, OVS processes and files are gone\n", tb.Prefix())
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("demo interrupted: %w", err)
		}
	}()
	hosts, err := buildTopology(ctx, tb)
	if err != nil {
		return rep, err
	}

	c, logs, stop, err := startController(ctx, tb, intentPath)
	if err != nil {
		if logs != nil && ctx.Err() == nil {
			fmt.Fprintf(w, "\ncontroller log:\n%s", logs)
		}
		return rep, err
	}
	defer func() {
		serr := stop()
		err = errors.Join(err, serr)
		// The log explains a failure; after Ctrl-C it is only noise.
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(w, "\ncontroller log:\n%s", logs)
		}
	}()
	st := c.Status()
	fmt.Fprintf(w, "controller: bridge %s (%s datapath, fail_mode=secure), %d flows installed in one bundle, ports bound: %v\n\n",
		st.Bridge, st.Datapath, st.FlowsDesired, st.PortsBound)
	printLegend(w)

	fmt.Fprintf(w, `
who reaches whom: rows from, columns to. ok = connected; an address = connected
and the far side saw that source (NAT); -- = dropped; rj = refused; . = not
probed; ! = differs from the intent
`)
	if err := probeAll(ctx, hosts, grids); err != nil {
		return rep, err
	}
	for _, g := range grids {
		g.print(w)
		rep.Differences = append(rep.Differences, g.differences()...)
	}

	limitDiffs, err := showLimits(ctx, w, in, hosts)
	rep.Differences = append(rep.Differences, limitDiffs...)
	if err != nil {
		return rep, err
	}

	fmt.Fprintf(w, "\ntraces (flowgate trace = ovs-appctl ofproto/trace through conntrack, in intent terms):\n")
	verdicts, diffs, err := runTraces(ctx, w, in, tb, hosts)
	rep.Verdicts, rep.Differences = verdicts, append(rep.Differences, diffs...)
	if err != nil {
		return rep, err
	}
	if len(rep.Differences) > 0 {
		fmt.Fprintf(w, "\ndifferences from the intent:\n")
		for _, d := range rep.Differences {
			fmt.Fprintf(w, "  %s\n", d)
		}
		return rep, fmt.Errorf("%w: %d differences", ErrDiffers, len(rep.Differences))
	}
	fmt.Fprintf(w, "\nevery connection and trace is what the intent says.\n")
	return rep, nil
}

// workedGrids are the worked example's matrices with the cells the intent
// expects, not probed yet.
func workedGrids() ([]*grid, error) {
	grids := make([]*grid, len(workedExample))
	for i, m := range workedExample {
		r := m.rows
		if r == nil {
			r = rows
		}
		want, err := parseWant(m, r)
		if err != nil {
			return nil, err
		}
		grids[i] = &grid{m: m, rows: r, want: want}
	}
	return grids, nil
}

// startController runs the controller in-process on the testbed's bridge,
// with its log kept aside (printed only when something fails), and waits
// for its first install. stop ends it and returns its error.
func startController(ctx context.Context, tb *testbed.Testbed, intentPath string) (*controller.Controller, *syncBuffer, func() error, error) {
	logs := &syncBuffer{}
	c, err := controller.New(controller.Config{
		OVSDB: tb.OVS().DBEndpoint(), Bridge: bridge, IntentPath: intentPath,
		// Active OpenFlow to the bridge's management socket: ovs-vswitchd
		// runs in a namespace of its own, where a TCP listener of ours in
		// the root namespace would not be reachable.
		Connect: "unix:" + tb.OVS().MgmtSocket(bridge),
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	wctx, wcancel := context.WithTimeout(cctx, syncTimeout)
	defer wcancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Run(cctx)
		wcancel() // a controller that gave up is not worth waiting for
	}()
	stop := func() error {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("controller: %w", err)
		}
		return nil
	}
	if err := c.WaitSynced(wctx); err != nil {
		return nil, logs, nil, errors.Join(err, stop())
	}
	return c, logs, stop, nil
}

// syncBuffer is a bytes.Buffer the controller's goroutines may write to
// while the demo reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Path finds the example intent in the working directory or, for tests,
// two levels up.
func Path() string {
	for _, p := range []string{"examples/intent.yaml", filepath.Join("..", "..", "examples", "intent.yaml")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "examples/intent.yaml"
}
