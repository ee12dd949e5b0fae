package main

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/store"
)

// TestOverlayLine: diff's overlay line names the other hosts, then every
// contested port (the claim in force first) and every ignored key.
func TestOverlayLine(t *testing.T) {
	hv2, hv3 := netip.MustParseAddr("192.168.100.12"), netip.MustParseAddr("192.168.100.13")
	locs := store.Locations{Revision: 7,
		Ports: map[string]store.Location{
			"web1": {Host: "hv1", TunnelIP: netip.MustParseAddr("192.168.100.11")},
			"web2": {Host: "hv2", TunnelIP: hv2},
			"db1":  {Host: "hv3", TunnelIP: hv3},
		},
		Contested: map[string][]string{"db1": {"hv2"}},
		Ignored:   []error{errors.New(`location key "hv9/x/y": want HOST/PORT`)},
	}
	got := overlayLine("hv1", controller.OverlayOf(locs, "hv1"), locs)
	want := "overlay: host hv1, 2 ports bound on other hosts (hv2, hv3), locations at etcd revision 7\n" +
		"overlay: port db1 is claimed by hv3 (newest, in force) and also by hv2\n" +
		`overlay: ignored: location key "hv9/x/y": want HOST/PORT`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
