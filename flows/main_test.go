package flows

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// privateNetnsEnv marks the re-executed test binary.
const privateNetnsEnv = "FLOWGATE_FLOWS_TEST_NETNS"

// TestMain runs the tests in a network namespace of their own when root.
// The userspace datapath creates tap devices named "ovs-netdev" and after
// each bridge ("br0") in the namespace ovs-vswitchd runs in; two private
// OVS instances in the same namespace therefore fight over them ("creating
// tap device failed: Device or resource busy") and one of them ends up
// without a bridge. A fresh namespace per test binary keeps concurrent
// test runs on one machine apart.
func TestMain(m *testing.M) {
	if os.Geteuid() == 0 && os.Getenv(privateNetnsEnv) == "" {
		if unshare, err := exec.LookPath("unshare"); err == nil {
			os.Exit(reexecInNetns(unshare))
		}
	}
	os.Exit(m.Run())
}

func reexecInNetns(unshare string) int {
	// Loopback must be up for the passive session tests (127.0.0.1).
	script := `ip link set lo up && exec "$0" "$@"`
	args := append([]string{"--net", "--", "sh", "-c", script, os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), privateNetnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "run tests in a private network namespace: %v\n", err)
		return 1
	}
	return 0
}
