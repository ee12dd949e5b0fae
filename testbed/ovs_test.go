package testbed

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Two private instances side by side must each get a working bridge: with
// the userspace datapath they would collide on the "ovs-netdev" tap if they
// shared a namespace. Stop must remove the namespace and the run directory.
func TestPrivateOVSInstancesRunSideBySideOnOVS(t *testing.T) {
	RequireRoot(t)
	ctx := context.Background()
	var left []*OVS
	for i := 0; i < 2; i++ {
		o, err := StartOVS(ctx, DatapathAuto)
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		left = append(left, o)
		if _, err := o.Vsctl(ctx, "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type="+o.Datapath); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		if _, err := o.Ofctl(ctx, "add-flow", "br0", "actions=drop"); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		ln, err := o.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		ln.Close()
	}
	for _, o := range left {
		dir, ns, pid := o.Dir, o.Netns, o.VswitchdPID()
		if err := o.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("run directory %s left behind", dir)
		}
		out, _ := exec.Command("ip", "netns", "list").Output()
		if strings.Contains(string(out), ns) {
			t.Errorf("namespace %s left behind", ns)
		}
		if !exited(pid) {
			t.Errorf("ovs-vswitchd pid %d still running", pid)
		}
	}
}
