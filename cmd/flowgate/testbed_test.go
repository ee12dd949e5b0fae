package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

// buildFlowgate builds the command into a temporary directory.
func buildFlowgate(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "flowgate")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The CLI lifecycle a person goes through: up, exec, status, down; then
// nothing is left.
func TestTestbedCLIUpExecDownOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	bin := buildFlowgate(t)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	// flowgate runs "flowgate testbed --state <file> args...": the flag goes
	// before args, which may end in "-- COMMAND".
	flowgate := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"testbed", "--state", stateFile}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if _, err := os.Stat(stateFile); err == nil {
			out, err := flowgate("down")
			t.Logf("cleanup: testbed down: %v\n%s", err, out)
		}
	})

	if out, err := flowgate("up", "../../examples/topology.yaml"); err != nil {
		t.Fatalf("testbed up: %v\n%s", err, out)
	}
	if out, err := flowgate("up", "../../examples/topology.yaml"); err == nil || !strings.Contains(out, "already up") {
		t.Errorf("second testbed up: %v, %q; want a refusal", err, out)
	}
	data, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	var s testbed.State
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	pids := daemonPIDs(t, s.OVSDir)

	for _, dst := range []string{"10.0.0.4", "fd00:10::3"} {
		if out, err := flowgate("exec", "h1", "--", "ping", "-c1", "-W1", dst); err != nil {
			t.Errorf("exec h1 -- ping %s: %v\n%s", dst, err, out)
		}
	}
	if out, err := flowgate("exec", "h2", "--", "cat", "/sys/class/net/eth0/address"); err != nil || strings.TrimSpace(out) != "02:00:0a:00:00:02" {
		t.Errorf("exec h2 -- cat eth0 address: %v, %q; want 02:00:0a:00:00:02", err, out)
	}
	if _, err := flowgate("exec", "h1", "--", "false"); err == nil {
		t.Error("exec h1 -- false succeeded; the command's exit status must come through")
	}
	if out, err := flowgate("exec", "h9", "--", "true"); err == nil || !strings.Contains(out, `no host "h9"`) {
		t.Errorf("exec on an unknown host: %v, %q", err, out)
	}
	out, err := flowgate("status")
	if err != nil || !strings.Contains(out, "ovs-vswitchd running") || !strings.Contains(out, "fd00:10::4/64") {
		t.Errorf("status: %v\n%s", err, out)
	}

	if out, err := flowgate("down"); err != nil {
		t.Fatalf("testbed down: %v\n%s", err, out)
	}
	if left, _ := filepath.Glob("/run/netns/" + s.Prefix + "-*"); len(left) > 0 {
		t.Errorf("namespaces left after down: %v", left)
	}
	if _, err := os.Stat(s.OVSDir); !os.IsNotExist(err) {
		t.Errorf("OVS run directory %s left after down", s.OVSDir)
	}
	for _, pid := range pids {
		if stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat")); err == nil && !strings.Contains(string(stat), ") Z") {
			t.Errorf("pid %s still running after down: %s", pid, stat)
		}
	}
	if _, err := os.Stat(stateFile); !os.IsNotExist(err) {
		t.Errorf("state file left after down")
	}
	if out, err := flowgate("down"); err != nil {
		t.Errorf("second down must be a no-op: %v\n%s", err, out)
	}
}

// daemonPIDs reads the pids of the testbed's OVS daemons from its run
// directory.
func daemonPIDs(t *testing.T, dir string) []string {
	t.Helper()
	var pids []string
	for _, f := range []string{"ovsdb-server.pid", "ovs-vswitchd.pid"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, strings.TrimSpace(string(b)))
	}
	return pids
}

// Nodes from a topology file and from --nodes: up, exec into a node (its
// OVS tools see the node's ovs-vswitchd), status, down; then nothing is
// left, the nodes' daemons included.
func TestTestbedCLINodesOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	bin := buildFlowgate(t)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	flowgate := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"testbed", "--state", stateFile}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if _, err := os.Stat(stateFile); err == nil {
			out, err := flowgate("down")
			t.Logf("cleanup: testbed down: %v\n%s", err, out)
		}
	})

	if out, err := flowgate("up"); err == nil || !strings.Contains(out, "usage") {
		t.Errorf("testbed up with neither a file nor --nodes: %v, %q", err, out)
	}
	if out, err := flowgate("up", "../../testbed/testdata/nodes.yaml", "--nodes", "1"); err != nil {
		t.Fatalf("testbed up: %v\n%s", err, out)
	}
	data, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	var s testbed.State
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 3 || s.Nodes[2].Name != "hv3" || s.Nodes[2].Underlay.String() != "192.168.100.13/24" {
		t.Fatalf("nodes in the state: %+v", s.Nodes)
	}
	var pids []string
	for _, n := range s.Nodes {
		pids = append(pids, daemonPIDs(t, n.OVSDir)...)
	}

	if out, err := flowgate("exec", "hv3", "--", "ovs-vsctl", "get", "Bridge", "br-int", "fail_mode"); err != nil || strings.TrimSpace(out) != "secure" {
		t.Errorf("exec hv3 -- ovs-vsctl get Bridge br-int fail_mode: %v, %q", err, out)
	}
	if out, err := flowgate("exec", "hv3", "--", "ovs-appctl", "tnl/arp/show"); err != nil || !strings.Contains(out, "192.168.100.11") || !strings.Contains(out, "192.168.100.12") {
		t.Errorf("exec hv3 -- ovs-appctl tnl/arp/show: %v\n%s", err, out)
	}
	if out, err := flowgate("exec", "hv1", "--", "ping", "-c1", "-W1", "192.168.100.13"); err != nil {
		t.Errorf("exec hv1 -- ping hv3's underlay address: %v\n%s", err, out)
	}
	if out, err := flowgate("exec", "vm2", "--", "cat", "/sys/class/net/eth0/address"); err != nil || strings.TrimSpace(out) != "02:00:0a:00:00:02" {
		t.Errorf("exec vm2 -- cat eth0 address: %v, %q", err, out)
	}
	out, err := flowgate("status")
	if err != nil || !strings.Contains(out, "hv2/br-int") || !strings.Contains(out, "192.168.100.13/24") || strings.Contains(out, "NOT RUNNING") {
		t.Errorf("status: %v\n%s", err, out)
	}

	if out, err := flowgate("down"); err != nil {
		t.Fatalf("testbed down: %v\n%s", err, out)
	}
	if left, _ := filepath.Glob("/run/netns/" + s.Prefix + "-*"); len(left) > 0 {
		t.Errorf("namespaces left after down: %v", left)
	}
	for _, n := range s.Nodes {
		if _, err := os.Stat(n.OVSDir); !os.IsNotExist(err) {
			t.Errorf("node %s: OVS run directory %s left after down", n.Name, n.OVSDir)
		}
	}
	for _, pid := range pids {
		if stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat")); err == nil && !strings.Contains(string(stat), ") Z") {
			t.Errorf("pid %s still running after down: %s", pid, stat)
		}
	}
}
