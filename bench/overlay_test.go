package bench

import (
	"bytes"
	"context"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

// The many-hosts run, small: three hosts of four ports, every change in
// force on every host, the locations of all ports published, and one
// etcd transaction (the port's key and _revision) per change.
func TestOverlaySmallOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	r, err := Overlay(context.Background(), OverlayParams{Hosts: 3, PortsPerHost: 4, Rules: 20, Groups: 4, Changes: 3})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.Print(&out)
	t.Logf("\n%s", out.String())
	if len(r.Max) != 3 || r.Locations != 12 || r.Keys != 2 || r.Watchers != 3 {
		t.Errorf("%d changes measured, %d locations, %d keys per change, %d watchers; want 3, 12, 2, 3", len(r.Max), r.Locations, r.Keys, r.Watchers)
	}
}
