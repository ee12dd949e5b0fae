package controller

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/store"
)

// TestPlacementWarnings: a router named for a gateway host warns, on each
// host, when its uplink is bound elsewhere or its host is unknown; a
// router whose uplink is on its host, or unnamed, does not.
func TestPlacementWarnings(t *testing.T) {
	hv2, hv3 := netip.MustParseAddr("192.168.100.12"), netip.MustParseAddr("192.168.100.13")
	in := &intent.Intent{Routers: []intent.Router{{Name: "edge", External: intent.External{Port: "uplink"}}}}
	locs := store.Locations{Ports: map[string]store.Location{
		"web2":   {Host: "hv2", TunnelIP: hv2},
		"uplink": {Host: "hv3", TunnelIP: hv3},
	}}
	cases := []struct {
		host, here string
		bound      pipeline.Bindings
		want       []string
	}{
		{"", "hv1", nil, nil},
		{"hv3", "hv1", nil, nil},
		{"hv3", "hv3", pipeline.Bindings{"uplink": 5}, nil},
		{"hv9", "hv1", nil, []string{"routers[edge].host: hv9 has no ports in the store (no controller publishes it): nothing reaches the router"}},
		{"hv1", "hv1", nil, []string{"routers[edge].host: the router runs here, but its uplink uplink is bound on the host at 192.168.100.13: no way out until it is bound here"}},
		{"hv2", "hv1", nil, []string{"routers[edge].host: the router runs on hv2 (192.168.100.12), but its uplink uplink is bound on the host at 192.168.100.13: no way out"}},
	}
	for _, c := range cases {
		in.Routers[0].Host = c.host
		l := locs
		if c.bound != nil { // bound here, not in the store from another host
			l = store.Locations{Ports: map[string]store.Location{"web2": locs.Ports["web2"]}}
		}
		got := placementWarnings(in, c.here, c.bound, l)
		if !slices.Equal(got, c.want) {
			t.Errorf("router host %q seen from %s: %q, want %q", c.host, c.here, got, c.want)
		}
	}
	// The uplink bound here, the router named for hv2.
	in.Routers[0].Host = "hv2"
	got := placementWarnings(in, "hv1", pipeline.Bindings{"uplink": 5}, store.Locations{Ports: map[string]store.Location{"web2": locs.Ports["web2"]}})
	if want := "routers[edge].host: the router runs on hv2, but its uplink uplink is bound here: the uplink is not used"; !slices.Equal(got, []string{want}) {
		t.Errorf("uplink bound here, router on hv2: %q", got)
	}
	// No overlay: one host runs every router.
	if got := placementWarnings(in, "", nil, store.Locations{}); got != nil {
		t.Errorf("without an overlay: %q", got)
	}
}
