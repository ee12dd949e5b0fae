package ovsdb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/testbed"
)

// vethIntoSwitch creates a veth pair in the root namespace under unique
// short names, moves one end into ovs-vswitchd's namespace (where the
// userspace datapath opens devices by name) and returns that end's name.
// The pair is deleted at cleanup.
func vethIntoSwitch(t *testing.T, o *testbed.OVS) string {
	t.Helper()
	ctx := context.Background()
	base := fmt.Sprintf("fg%06x", rand.Uint32()&0xffffff)
	sw, peer := base+"s", base+"p"
	if _, err := o.Run(ctx, "ip", "link", "add", sw, "type", "veth", "peer", "name", peer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Deleting the root-namespace end removes its peer wherever it is.
		if _, err := o.Run(context.Background(), "ip", "link", "del", peer); err != nil {
			t.Errorf("delete veth %s: %v", peer, err)
		}
	})
	if _, err := o.Run(ctx, "ip", "link", "set", sw, "netns", o.Netns); err != nil {
		t.Fatal(err)
	}
	return sw
}

// AddPort plugs an internal port and a veth end in with their iface-id,
// attached-mac and requested ofport, as ovs-vsctl sees them, and
// ovs-vswitchd opens them at that ofport; DeletePort takes them out and
// their rows are gone.
func TestAddDeletePortOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, "br-int", "netdev", ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, name, ifType string
		ofport             int
	}{
		{kind: "internal", name: "vm1", ifType: "internal", ofport: 5},
		{kind: "veth", name: vethIntoSwitch(t, o), ifType: "", ofport: 6},
	} {
		mac := fmt.Sprintf("02:00:00:00:00:%02x", tc.ofport)
		err := c.AddPort(ctx, "br-int", tc.name, ovsdb.PortOptions{
			Type:          tc.ifType,
			ExternalIDs:   map[string]string{"iface-id": "intent-" + tc.kind, "attached-mac": mac},
			OFPortRequest: tc.ofport,
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if got := vsctl(t, o, "port-to-br", tc.name); got != "br-int" {
			t.Errorf("%s: port-to-br %s = %q", tc.kind, tc.name, got)
		}
		for key, want := range map[string]string{
			"type":                      tc.ifType,
			"external_ids:iface-id":     "intent-" + tc.kind,
			"external_ids:attached-mac": mac,
		} {
			if got := vsctlValue(t, o, "Interface", tc.name, key); got != want {
				t.Errorf("%s: Interface %s %s = %q, want %q", tc.kind, tc.name, key, got, want)
			}
		}
		// ofport is ovs-vswitchd's answer: it opened the device.
		eventually(t, tc.kind+" port opened at the requested ofport", func() (bool, string) {
			got := vsctlValue(t, o, "Interface", tc.name, "ofport")
			return got == strconv.Itoa(tc.ofport), "ofport " + got
		})

		if err := c.DeletePort(ctx, "br-int", tc.name); err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if got := vsctl(t, o, "list-ports", "br-int"); got != "" {
			t.Errorf("%s: ports after DeletePort: %q", tc.kind, got)
		}
		if got := vsctl(t, o, "--if-exists", "get", "Interface", tc.name, "name"); got != "" {
			t.Errorf("%s: Interface row %s outlived DeletePort", tc.kind, got)
		}
	}
}

// The documented errors: deleting a port the bridge does not have fails
// and changes nothing, even when another bridge has a port of that name;
// adding to a missing bridge or adding a name twice fails.
func TestPortErrorsOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx := context.Background()
	for _, br := range []string{"br-a", "br-b"} {
		if err := c.EnsureBridge(ctx, br, "netdev", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddPort(ctx, "br-a", "p1", ovsdb.PortOptions{Type: "internal"}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		what  string
		err   error
		words []string
	}{
		{"delete a port no bridge has", c.DeletePort(ctx, "br-a", "nope"), []string{"nope", "br-a", "no such port"}},
		{"delete another bridge's port", c.DeletePort(ctx, "br-b", "p1"), []string{"p1", "br-b", "no such port"}},
		{"delete from a missing bridge", c.DeletePort(ctx, "br-x", "p1"), []string{"p1", "br-x"}},
		{"add to a missing bridge", c.AddPort(ctx, "br-x", "p2", ovsdb.PortOptions{Type: "internal"}), []string{"p2", "br-x"}},
		{"add a name twice", c.AddPort(ctx, "br-b", "p1", ovsdb.PortOptions{Type: "internal"}), []string{"p1", "br-b"}},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.what)
			continue
		}
		for _, w := range tc.words {
			if !strings.Contains(tc.err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.what, tc.err, w)
			}
		}
	}
	if got := vsctl(t, o, "list-ports", "br-a"); got != "p1" {
		t.Errorf("br-a ports %q after the failed calls, want p1", got)
	}
	if got := vsctl(t, o, "list-ports", "br-b"); got != "" {
		t.Errorf("br-b ports %q after the failed calls, want none", got)
	}
}
