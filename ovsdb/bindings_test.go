package ovsdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/testbed"
)

// watch ensures br-int and starts a binding stream on it that ends with
// the test (or earlier, through the returned cancel).
func watch(t *testing.T, o *testbed.OVS, c *ovsdb.Client) (<-chan []ovsdb.Binding, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := c.EnsureBridge(ctx, "br-int", "netdev", ""); err != nil {
		t.Fatal(err)
	}
	stream, err := c.WatchBindings(ctx, "br-int")
	if err != nil {
		t.Fatal(err)
	}
	return stream, cancel
}

// Ports plugged in and out with ovs-vsctl, the way a hypervisor agent
// does, appear in and leave the stream with the ofport ovs-vswitchd gave
// them; a port re-plugged at another ofport, separately or in one
// transaction, shows the new one; ports without an iface-id or on another
// bridge never appear; the stream closes when its context ends.
func TestWatchBindingsOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	stream, stop := watch(t, o, c)
	awaitBindings(t, stream, "the first list, empty", time.Now(), func(l []ovsdb.Binding) bool { return len(l) == 0 })

	vsctl(t, o, "add-port", "br-int", "plain", "--", "set", "Interface", "plain", "type=internal")
	vsctl(t, o, "add-br", "br-other", "--", "set", "Bridge", "br-other", "datapath_type=netdev")
	addBoundPort(t, o, "br-other", "elsewhere", "02:00:00:00:00:0e", 3)

	start := time.Now()
	addBoundPort(t, o, "br-int", "p1", "02:00:00:00:00:01", 7)
	list := awaitBindings(t, stream, "p1 plugged in at ofport 7", start, boundAt("p1", 7))
	want := ovsdb.Binding{IfaceID: "p1", Name: "p1", OFPort: 7, AttachedMAC: "02:00:00:00:00:01", Type: "internal"}
	if b := binding(list, "p1"); b.IfaceID != want.IfaceID || b.Name != want.Name || b.AttachedMAC != want.AttachedMAC || b.Type != want.Type {
		t.Errorf("binding %+v, want %+v (Up aside)", *b, want)
	}
	if len(list) != 1 {
		t.Errorf("bindings %+v, want p1 alone (no iface-id, other bridge left out)", list)
	}

	start = time.Now()
	addBoundPort(t, o, "br-int", "p0", "02:00:00:00:00:02", 8)
	list = awaitBindings(t, stream, "p0 plugged in at ofport 8", start, boundAt("p0", 8))
	if len(list) != 2 || list[0].IfaceID != "p0" || list[1].IfaceID != "p1" {
		t.Errorf("bindings %+v, want p0 then p1", list)
	}

	start = time.Now()
	vsctl(t, o, "del-port", "br-int", "p1")
	awaitBindings(t, stream, "p1 unplugged", start, unbound("p1"))

	start = time.Now()
	addBoundPort(t, o, "br-int", "p1", "02:00:00:00:00:01", 9)
	awaitBindings(t, stream, "p1 re-plugged at ofport 9", start, boundAt("p1", 9))

	start = time.Now()
	vsctl(t, o, "del-port", "br-int", "p1", "--", "add-port", "br-int", "p1",
		"--", "set", "Interface", "p1", "type=internal", "ofport_request=12",
		"external_ids:iface-id=p1", "external_ids:attached-mac=02:00:00:00:00:01")
	awaitBindings(t, stream, "p1 re-plugged at ofport 12 in one transaction", start, boundAt("p1", 12))

	stop()
	deadline := time.After(patience)
	for {
		select {
		case _, open := <-stream:
			if !open {
				return
			}
		case <-deadline:
			t.Fatalf("binding stream still open %v after its context ended", patience)
		}
	}
}
