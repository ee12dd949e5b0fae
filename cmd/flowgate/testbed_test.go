package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// A testbed with nodes gets an etcd that outlives `up`: a client stores
// and reads an intent through the URL up printed, status gives each node
// its own controller command line, and `down` stops the etcd (by its pid),
// closes its port and removes its data.
func TestTestbedCLIEtcdOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	bin := buildFlowgate(t)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	flowgate := func(args ...string) (string, error) {
		return run(append([]string{"testbed", "--state", stateFile}, args...)...)
	}
	var s testbedState
	t.Cleanup(func() {
		if _, err := os.Stat(stateFile); err == nil {
			out, err := flowgate("down")
			t.Logf("cleanup: testbed down: %v\n%s", err, out)
		}
		// A down that failed to stop the etcd must not leave it behind.
		if s.Etcd != nil && etcdRunning(s.Etcd) {
			t.Logf("cleanup: stop etcd pid %d: %v", s.Etcd.PID, stopEtcd(s.Etcd))
		}
	})

	upOut, err := flowgate("up", "--nodes", "2")
	if err != nil {
		t.Fatalf("testbed up --nodes 2: %v\n%s", err, upOut)
	}
	data, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Etcd == nil || s.Etcd.PID <= 0 || !strings.HasPrefix(s.Etcd.URL, "etcd://127.0.0.1:") || s.Etcd.Dir == "" {
		t.Fatalf("etcd in the state: %+v\n%s", s.Etcd, data)
	}
	// up has exited: the etcd runs on its own.
	if !etcdRunning(s.Etcd) {
		t.Fatalf("etcd pid %d is not running after up", s.Etcd.PID)
	}
	if _, err := os.Stat(filepath.Join(s.Etcd.Dir, "data")); err != nil {
		t.Errorf("etcd data directory: %v", err)
	}

	status, err := flowgate("status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, status)
	}
	for _, out := range []string{upOut, status} {
		if !strings.Contains(out, s.Etcd.URL+": running") || !strings.Contains(out, "intent put --store "+s.Etcd.URL+" FILE") {
			t.Errorf("up/status does not show the etcd and the intent put line:\n%s", out)
		}
	}
	apis := map[string]bool{}
	for _, n := range s.Nodes {
		var line string
		for _, l := range strings.Split(status, "\n") {
			if strings.Contains(l, " controller ") && strings.Contains(l, " --host "+n.Name+" ") {
				line = strings.TrimSpace(l)
			}
		}
		args := strings.Fields(line)
		flag := func(name string) string {
			for i, a := range args {
				if a == name && i+1 < len(args) {
					return args[i+1]
				}
			}
			return ""
		}
		want := map[string]string{
			"--ovsdb":     "unix:" + filepath.Join(n.OVSDir, "db.sock"),
			"--bridge":    "br-int",
			"--connect":   "unix:" + filepath.Join(n.OVSDir, "br-int.mgmt"),
			"--store":     s.Etcd.URL,
			"--tunnel-ip": n.Underlay.Addr().String(),
		}
		for f, v := range want {
			if got := flag(f); got != v {
				t.Errorf("node %s: controller line %s %q, want %q\n%s", n.Name, f, got, v, line)
			}
		}
		api := flag("--api")
		if !strings.HasPrefix(api, "unix:"+s.Dir+"/") || apis[api] {
			t.Errorf("node %s: --api %q: want a socket of its own in %s", n.Name, api, s.Dir)
		}
		apis[api] = true
	}

	doc := filepath.Join(t.TempDir(), "intent.yaml")
	if err := os.WriteFile(doc, []byte("networks:\n  - {name: tenant, cidr: 10.0.0.0/24}\nports:\n  - {name: vm1, network: tenant, mac: \"02:00:0a:00:00:01\", ips: [10.0.0.1]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run("intent", "put", "--store", s.Etcd.URL, doc); err != nil || !strings.Contains(out, "revision") {
		t.Fatalf("intent put through the testbed's etcd: %v\n%s", err, out)
	}
	if out, err := run("intent", "get", "--store", s.Etcd.URL); err != nil || !strings.Contains(out, "vm1") {
		t.Errorf("intent get through the testbed's etcd: %v\n%s", err, out)
	}

	if out, err := flowgate("down"); err != nil {
		t.Fatalf("testbed down: %v\n%s", err, out)
	}
	if !testbed.Exited(s.Etcd.PID) {
		t.Errorf("etcd pid %d still running after down", s.Etcd.PID)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.Etcd.URL, "etcd://"), time.Second); err == nil {
		c.Close()
		t.Errorf("etcd's port %s still open after down", s.Etcd.URL)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("testbed directory %s (etcd data) left after down: %v", s.Dir, err)
	}
	if _, err := os.Stat(stateFile); !os.IsNotExist(err) {
		t.Errorf("state file left after down")
	}
}

// --no-etcd: nodes without an etcd, and nothing about one in the output.
func TestTestbedCLINoEtcdOnOVS(t *testing.T) {
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
	out, err := flowgate("up", "--nodes", "1", "--no-etcd")
	if err != nil {
		t.Fatalf("testbed up --nodes 1 --no-etcd: %v\n%s", err, out)
	}
	if strings.Contains(out, "etcd") {
		t.Errorf("up --no-etcd mentions an etcd:\n%s", out)
	}
	var s testbedState
	data, _ := os.ReadFile(stateFile)
	if err := json.Unmarshal(data, &s); err != nil || s.Etcd != nil || s.Dir != "" {
		t.Errorf("state after --no-etcd: %v %s", err, data)
	}
	if out, err := flowgate("down"); err != nil {
		t.Fatalf("testbed down: %v\n%s", err, out)
	}
}
