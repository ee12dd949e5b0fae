package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// Ctrl-C on `flowgate demo` in the middle of its probes: the binary stops
// with an error and leaves no namespace, daemon or run directory behind.
// (demo.TestDemoOnOVS runs the whole demo in-process; this proves the signal
// path through the root command's context.)
func TestDemoBinaryInterruptedOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	bin := buildFlowgate(t)
	cmd := exec.Command(bin, "demo", "--intent", filepath.Join("..", "..", "examples", "intent.yaml"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	started := regexp.MustCompile(`^testbed (fg[0-9a-f]+): namespaces \S+, private OVS in (\S+) `)
	var prefix, ovsDir string
	var interrupted time.Time
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if m := started.FindStringSubmatch(line); m != nil {
			prefix, ovsDir = m[1], m[2]
		}
		if strings.HasPrefix(line, "who reaches whom") && interrupted.IsZero() {
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			interrupted = time.Now()
		}
	}
	err = cmd.Wait()
	t.Logf("stdout:\n%s\nstderr:\n%s\nfrom the interrupt to exit: %v", out.String(), stderr.String(), time.Since(interrupted))
	if interrupted.IsZero() {
		t.Fatal("the demo never reached its probes")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signaled() || exit.ExitCode() != 1 {
		t.Errorf("interrupted demo: %v, want exit status 1 (an error, not death by signal)", err)
	}
	if !strings.Contains(stderr.String(), "demo interrupted: context canceled") {
		t.Errorf("stderr does not say the demo was cancelled: %q", stderr.String())
	}
	if !strings.Contains(out.String(), "testbed "+prefix+" removed") {
		t.Error("the demo did not report its testbed removed")
	}
	if prefix == "" || ovsDir == "" {
		t.Fatal("the demo did not say which testbed and OVS directory it made")
	}
	if left, _ := filepath.Glob(filepath.Join("/run/netns", prefix+"-*")); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	if procs, err := exec.Command("pgrep", "-a", "-f", ovsDir).Output(); err == nil {
		t.Errorf("processes of %s left behind:\n%s", ovsDir, procs)
	}
	if _, err := os.Stat(ovsDir); !os.IsNotExist(err) {
		t.Errorf("OVS run directory %s left behind (%v)", ovsDir, err)
	}
}
