package testbed

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// StartOVSInNetns is StartOVS with ovs-vswitchd running inside the existing
// network namespace netns. The userspace (netdev) datapath creates a tap
// device named "ovs-netdev" and one tap per bridge in the namespace it runs
// in, so two netdev instances in one namespace collide ("creating tap
// device failed: Device or resource busy") and the second cannot create any
// bridge. A namespace per instance lets tests run next to each other; the
// switch-side ends of veth links must then live in netns too.
// ovsdb-server and the tools talk over unix sockets in the run directory,
// which work across namespaces.
func StartOVSInNetns(ctx context.Context, datapath, netns string) (*OVS, error) {
	return startOVS(ctx, datapath, netns)
}

// NewOVSInNetns creates a namespace for the test, starts a private OVS whose
// ovs-vswitchd runs in it, and removes both at cleanup. It returns the OVS
// and the namespace name.
func NewOVSInNetns(t testing.TB, name string) (*OVS, string) {
	t.Helper()
	RequireRoot(t)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("create namespace %s for ovs-vswitchd: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete namespace %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	})
	o, err := StartOVSInNetns(context.Background(), DatapathAuto, name)
	if err != nil {
		t.Fatalf("start private OVS in %s: %v", name, err)
	}
	// Registered after the namespace's cleanup, so it runs first.
	t.Cleanup(func() {
		if err := o.Stop(); err != nil {
			t.Errorf("stop private OVS in %s: %v", name, err)
		}
	})
	return o, name
}
