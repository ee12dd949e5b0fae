package demo

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Leftovers finds a process that names the run directory and the
// directory itself, and nothing once both are gone.
func TestLeftoversFindsProcessAndDirectory(t *testing.T) {
	dir := t.TempDir()
	// sh's $0 puts dir on the command line, as ovs-vswitchd's pidfile
	// argument does.
	cmd := exec.Command("sh", "-c", "sleep 60", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	left := Leftovers("fgnone0", dir)
	if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, "process ") }) ||
		!slices.Contains(left, "directory "+dir) {
		t.Errorf("leftovers %q, want the sleeping process and %s", left, dir)
	}

	cmd.Process.Kill()
	cmd.Wait()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if left := Leftovers("fgnone0", dir); len(left) > 0 {
		t.Errorf("leftovers %q after the process exited and the directory went", left)
	}
}
