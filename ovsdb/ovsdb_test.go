package ovsdb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/testbed"
)

func connect(t *testing.T, o *testbed.OVS) *ovsdb.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ovsdb.Connect(ctx, o.DBEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func vsctl(t *testing.T, o *testbed.OVS, args ...string) string {
	t.Helper()
	out, err := o.Vsctl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// EnsureBridge creates a fail-secure bridge with the controller target and
// OpenFlow 1.3, as ovs-vsctl sees it, and is idempotent.
func TestEnsureBridge(t *testing.T) {
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx := context.Background()
	for range 2 {
		if err := c.EnsureBridge(ctx, "br-int", "netdev", "tcp:127.0.0.1:6653"); err != nil {
			t.Fatal(err)
		}
	}
	if got := vsctl(t, o, "get", "Bridge", "br-int", "fail_mode"); got != "secure" {
		t.Errorf("fail_mode %s", got)
	}
	if got := vsctl(t, o, "get", "Bridge", "br-int", "protocols"); !strings.Contains(got, "OpenFlow13") {
		t.Errorf("protocols %s", got)
	}
	if got := vsctl(t, o, "get-controller", "br-int"); got != "tcp:127.0.0.1:6653" {
		t.Errorf("controller %q after two EnsureBridge calls, want exactly one tcp:127.0.0.1:6653", got)
	}
	if got := vsctl(t, o, "get", "Bridge", "br-int", "datapath_type"); got != "netdev" {
		t.Errorf("datapath_type %s", got)
	}
	if got := strings.Trim(vsctl(t, o, "get", "Bridge", "br-int", "other_config:disable-in-band"), `"`); got != "true" {
		t.Errorf("disable-in-band %s", got)
	}
	dp, err := ovsdb.ResolveDatapath("auto")
	if err != nil || (dp != "netdev" && dp != "system") {
		t.Errorf("ResolveDatapath(auto) = %q, %v", dp, err)
	}
	if _, err := ovsdb.ResolveDatapath("dpdk"); err == nil {
		t.Error("ResolveDatapath(dpdk) accepted")
	}
}

// waitFor reads the binding stream until ok holds.
func waitFor(t *testing.T, stream <-chan []ovsdb.Binding, what string, ok func([]ovsdb.Binding) bool) []ovsdb.Binding {
	t.Helper()
	start := time.Now()
	timeout := time.After(15 * time.Second)
	var last []ovsdb.Binding
	for {
		select {
		case list, open := <-stream:
			if !open {
				t.Fatalf("%s: binding stream closed; last %+v", what, last)
			}
			last = list
			if ok(list) {
				t.Logf("%s: seen after %v", what, time.Since(start))
				return list
			}
		case <-timeout:
			t.Fatalf("%s: not seen in 15 s; last %+v", what, last)
		}
	}
}

func find(list []ovsdb.Binding, id string) *ovsdb.Binding {
	for i := range list {
		if list[i].IfaceID == id {
			return &list[i]
		}
	}
	return nil
}

// Ports added and removed with ovs-vsctl appear in and leave the binding
// stream with their ofport; a re-add with another ofport is noticed; the
// stream survives an ovsdb-server restart.
func TestBindingStream(t *testing.T) {
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.EnsureBridge(ctx, "br-int", "netdev", ""); err != nil {
		t.Fatal(err)
	}
	stream, err := c.WatchBindings(ctx, "br-int")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, stream, "initial empty list", func(l []ovsdb.Binding) bool { return len(l) == 0 })

	addPort := func(name string, ofport int) {
		vsctl(t, o, "add-port", "br-int", name, "--", "set", "Interface", name, "type=internal",
			fmt.Sprintf("ofport_request=%d", ofport), "external_ids:iface-id="+name, "external_ids:attached-mac=02:00:00:00:00:01")
	}
	addPort("p1", 7)
	list := waitFor(t, stream, "p1 bound at ofport 7", func(l []ovsdb.Binding) bool {
		b := find(l, "p1")
		return b != nil && b.OFPort == 7
	})
	if b := find(list, "p1"); b.AttachedMAC != "02:00:00:00:00:01" || b.Type != "internal" {
		t.Errorf("binding %+v", *b)
	}
	vsctl(t, o, "del-port", "br-int", "p1")
	waitFor(t, stream, "p1 gone", func(l []ovsdb.Binding) bool { return find(l, "p1") == nil })
	addPort("p1", 9)
	waitFor(t, stream, "p1 back at ofport 9", func(l []ovsdb.Binding) bool {
		b := find(l, "p1")
		return b != nil && b.OFPort == 9
	})

	// ovsdb-server restarts: the client reconnects and the stream goes on.
	restart := time.Now()
	if err := o.RestartDB(context.Background()); err != nil {
		t.Fatal(err)
	}
	for !c.Connected() && time.Since(restart) < 15*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("OVSDB client reconnected %v after the restart began", time.Since(restart))
	addPort("p2", 11)
	waitFor(t, stream, "p2 bound after the OVSDB restart", func(l []ovsdb.Binding) bool {
		b := find(l, "p2")
		return b != nil && b.OFPort == 11 && find(l, "p1") != nil
	})
}

// AddPort/DeletePort through the library, checked with ovs-vsctl.
func TestAddDeletePort(t *testing.T) {
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, "br-int", "netdev", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPort(ctx, "br-int", "vm1", ovsdb.PortOptions{Type: "internal",
		ExternalIDs: map[string]string{"iface-id": "vm1"}, OFPortRequest: 5}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Trim(vsctl(t, o, "get", "Interface", "vm1", "external_ids:iface-id"), `"`); got != "vm1" {
		t.Errorf("iface-id %s", got)
	}
	if err := c.DeletePort(ctx, "br-int", "vm1"); err != nil {
		t.Fatal(err)
	}
	if got := vsctl(t, o, "list-ports", "br-int"); got != "" {
		t.Errorf("ports after DeletePort: %q", got)
	}
}
