package demo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

const exampleIntent = "../examples/intent.yaml"

// The demo runs to completion with every cell and verdict as the intent
// says, and nothing of its testbed is left afterwards.
func TestDemoOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	var out bytes.Buffer
	rep, err := Run(context.Background(), exampleIntent, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Errorf("demo: %v", err)
	}
	if len(rep.Differences) > 0 {
		t.Errorf("differences from the intent:\n%s", strings.Join(rep.Differences, "\n"))
	}
	var want []string
	for _, tc := range traces {
		want = append(want, tc.verdict)
	}
	if !slices.Equal(rep.Verdicts, want) {
		t.Errorf("verdicts %q, want %q", rep.Verdicts, want)
	}
	assertNothingLeft(t, rep)
}

// Ctrl-C in the middle of the probes (the command's context cancelled)
// ends the demo with the cancellation and still removes everything.
func TestDemoCancelledOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{marker: "who reaches whom", cancel: cancel}
	rep, err := Run(ctx, exampleIntent, out)
	t.Logf("demo output:\n%s", out.String())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("demo cancelled during the probes: %v, want context.Canceled", err)
	}
	if !strings.Contains(out.String(), "testbed "+rep.Testbed+" removed") {
		t.Error("demo did not report its testbed removed")
	}
	assertNothingLeft(t, rep)
}

// cancelOn is the demo's output; it cancels the run as soon as marker is
// printed, which is where a person would press Ctrl-C.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
	}
	return n, err
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// assertNothingLeft checks that the run's namespaces (and with them every
// veth end and tap), its OVS daemons and its run directory are gone, and
// that none of its interfaces is in this namespace.
func assertNothingLeft(t *testing.T, rep *Report) {
	t.Helper()
	if rep.Testbed == "" || rep.OVSDir == "" {
		t.Fatalf("report does not say what the run made: %+v", rep)
	}
	if left, _ := filepath.Glob(filepath.Join("/run/netns", rep.Testbed+"-*")); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	// ovsdb-server and ovs-vswitchd name their run directory on their
	// command lines (database socket, pidfile).
	if procs, err := exec.Command("pgrep", "-a", "-f", rep.OVSDir).Output(); err == nil {
		t.Errorf("processes of %s left behind:\n%s", rep.OVSDir, procs)
	}
	if _, err := os.Stat(rep.OVSDir); !os.IsNotExist(err) {
		t.Errorf("OVS run directory %s left behind (%v)", rep.OVSDir, err)
	}
	links, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(links), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if slices.Contains([]string{"web1", "web2", "db1", "uplink", bridge}, name) {
				t.Errorf("interface %s in the caller's namespace", name)
			}
		}
	}
}
