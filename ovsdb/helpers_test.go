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

// patience bounds every wait for something asynchronous (a cache update,
// ovs-vswitchd assigning an ofport, a reconnect). It is generous on
// purpose: the machine is shared and slow is not wrong.
const patience = 10 * time.Second

// connect opens a library client to the private OVS, closed at cleanup.
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

// vsctl runs ovs-vsctl against the private OVS: the independent view the
// tests check the library against.
func vsctl(t *testing.T, o *testbed.OVS, args ...string) string {
	t.Helper()
	out, err := o.Vsctl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// vsctlValue is a single ovs-vsctl get value with string quotes removed.
func vsctlValue(t *testing.T, o *testbed.OVS, args ...string) string {
	t.Helper()
	return strings.Trim(vsctl(t, o, append([]string{"get"}, args...)...), `"`)
}

// eventually polls cond until it holds or patience runs out, then fails
// with cond's last description of what it saw.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last saw %s", what, patience, saw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitBindings reads the binding stream until ok holds for a list, and
// fails with the last list seen if the stream closes or patience runs
// out. since is when the change being waited for began (before the
// ovs-vsctl call, which itself waits for ovs-vswitchd to apply it): the
// log line says how long until the stream reflected it.
func awaitBindings(t *testing.T, stream <-chan []ovsdb.Binding, what string, since time.Time, ok func([]ovsdb.Binding) bool) []ovsdb.Binding {
	t.Helper()
	timeout := time.After(patience)
	var last []ovsdb.Binding
	for {
		select {
		case list, open := <-stream:
			if !open {
				t.Fatalf("%s: binding stream closed; last list %+v", what, last)
			}
			last = list
			if ok(list) {
				t.Logf("%s: in the stream %v after the change began", what, time.Since(since))
				return list
			}
		case <-timeout:
			t.Fatalf("%s: not in the stream within %v; last list %+v", what, patience, last)
		}
	}
}

// binding returns the binding for iface-id id, or nil.
func binding(list []ovsdb.Binding, id string) *ovsdb.Binding {
	for i := range list {
		if list[i].IfaceID == id {
			return &list[i]
		}
	}
	return nil
}

// boundAt is a predicate: id is bound at ofport.
func boundAt(id string, ofport int) func([]ovsdb.Binding) bool {
	return func(l []ovsdb.Binding) bool {
		b := binding(l, id)
		return b != nil && b.OFPort == ofport
	}
}

// unbound is a predicate: id is not in the list.
func unbound(id string) func([]ovsdb.Binding) bool {
	return func(l []ovsdb.Binding) bool { return binding(l, id) == nil }
}

// addBoundPort adds an internal port with ovs-vsctl the way a VM plug-in
// would: iface-id, attached-mac and a requested ofport, in one transaction.
func addBoundPort(t *testing.T, o *testbed.OVS, bridge, name, mac string, ofport int) {
	t.Helper()
	vsctl(t, o, "add-port", bridge, name, "--", "set", "Interface", name, "type=internal",
		fmt.Sprintf("ofport_request=%d", ofport),
		"external_ids:iface-id="+name, "external_ids:attached-mac="+mac)
}
