package testbed

import (
	"context"
	"os"
	"os/exec"
	"testing"
)

// RequireRoot stops a test that needs root and Open vSwitch when they are
// missing. Locally it skips with the reason; under CI (CI=true) it fails,
// because CI runs as root with OVS installed and a skip there would hide a
// broken test.
func RequireRoot(t testing.TB) {
	t.Helper()
	var why string
	if os.Geteuid() != 0 {
		why = "needs root (network namespaces, veth, a private ovs-vswitchd)"
	} else {
		for _, bin := range []string{"ovs-vswitchd", "ovsdb-server", "ovs-vsctl", "ovs-ofctl", "ip", "ethtool"} {
			if _, err := exec.LookPath(bin); err != nil {
				why = bin + " not installed (run 'make deps')"
				break
			}
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run in CI: %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// NewOVS starts a private OVS for the test and stops it (and removes its
// directory) when the test ends, also when it fails.
func NewOVS(t testing.TB) *OVS {
	t.Helper()
	RequireRoot(t)
	o, err := StartOVS(context.Background(), DatapathAuto)
	if err != nil {
		t.Fatalf("start private OVS: %v", err)
	}
	t.Cleanup(func() {
		if err := o.Stop(); err != nil {
			t.Errorf("stop private OVS: %v", err)
		}
	})
	return o
}
