package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// netnsDir is where `ip netns` keeps named namespaces.
const netnsDir = "/run/netns"

// Leftovers lists what remains of a run whose testbed had the given
// prefix and OVS run directory: namespaces (which hold every veth end and
// tap of the testbed), processes that name the run directory on their
// command line (ovsdb-server, ovs-vswitchd), and the directory itself.
// The demo checks it after its own cleanup, so that "removed" is a
// finding, not a hope.
func Leftovers(prefix, ovsDir string) []string {
	var left []string
	namespaces, _ := filepath.Glob(filepath.Join(netnsDir, prefix+"-*"))
	for _, ns := range namespaces {
		left = append(left, "namespace "+filepath.Base(ns))
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range cmdlines {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited while we looked
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, ovsDir) {
			left = append(left, fmt.Sprintf("process %s: %s", filepath.Base(filepath.Dir(path)), strings.TrimSpace(cmd)))
		}
	}
	if _, err := os.Stat(ovsDir); !os.IsNotExist(err) {
		left = append(left, "directory "+ovsDir)
	}
	return left
}
