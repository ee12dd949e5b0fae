package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rootLinks lists the interfaces in the test process's own namespace.
func rootLinks(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// "7: name@peer: <...>"
		if fields := strings.Fields(line); len(fields) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(fields[1], ":"), "@")
			links[name] = true
		}
	}
	return links
}

func alive(pid int) bool { return pid > 0 && !exited(pid) }

// Close removes everything: namespaces, interfaces, daemons, the run
// directory; and the testbed never puts an interface into the caller's
// namespace in the first place.
func TestCloseLeavesNothingBehindOnOVS(t *testing.T) {
	RequireRoot(t)
	ctx := context.Background()
	tb, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			tb.Close()
		}
	})
	topo := &Topology{
		Switches: []TopologySwitch{{Name: "s1"}, {Name: "s2", Secure: true}},
		Links:    [][2]string{{"s1", "s2"}},
		Hosts:    []TopologyHost{{Name: "h1", Switch: "s1"}, {Name: "h2", Switch: "s2"}},
	}
	if err := tb.Build(ctx, topo); err != nil {
		t.Fatal(err)
	}
	h1 := tb.Host("h1")
	if _, err := h1.ServeTCP(echoTCPPort); err != nil {
		t.Fatal(err)
	}
	// A process a person might have left running in a host.
	if err := exec.Command("ip", "netns", "exec", h1.Netns(), "sh", "-c", "sleep 600 >/dev/null 2>&1 &").Run(); err != nil {
		t.Fatal(err)
	}

	links := rootLinks(t)
	for _, name := range []string{"s1", "s2", "h1", "h2", "ovs-netdev"} {
		if links[name] && name != "ovs-netdev" {
			t.Errorf("interface %s appeared in the caller's namespace", name)
		}
	}
	namespaces, _ := filepath.Glob(filepath.Join(netnsDir, tb.Prefix()+"-*"))
	if len(namespaces) != 3 {
		t.Errorf("namespaces %v, want ovs, h1 and h2", namespaces)
	}
	var pids []int
	for _, ns := range namespaces {
		out, err := exec.Command("ip", "netns", "pids", filepath.Base(ns)).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	// ovsdb-server runs in the caller's namespace; it is ours all the same.
	dir, dbPID := tb.OVS().Dir, tb.OVS().dbPID
	pids = append(pids, dbPID)
	if len(pids) < 3 {
		t.Errorf("found pids %v, want ovsdb-server, ovs-vswitchd and sleep at least", pids)
	}

	closed = true
	if err := tb.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(netnsDir, tb.Prefix()+"-*")); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still running", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("OVS run directory %s left behind (%v)", dir, err)
	}
	if err := tb.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}
