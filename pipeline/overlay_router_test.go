package pipeline

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
)

// TestRouterRunsOnItsGatewayHost: in an overlay a router runs on the host
// routers[].host names, else on its uplink's host. Seen from hv1: the
// router named for hv1 is compiled here in full (even with the uplink
// bound elsewhere: then it has no way out, and the uplink's host does not
// use it); named for hv2, frames for the gateway MAC go through the
// tunnel to hv2 and only the gateway ARP responders stay; named for a
// host with no known endpoint, they are dropped.
func TestRouterRunsOnItsGatewayHost(t *testing.T) {
	doc := workedExampleDoc(t)
	hv2, hv3 := netip.MustParseAddr("192.168.100.12"), netip.MustParseAddr("192.168.100.13")
	b := Bindings{"web1": 1, "web2": 2, "db1": 3}
	ov := Overlay{TunnelPort: 4000, Host: "hv1", Remote: map[string]netip.Addr{"uplink": hv3},
		Hosts: map[string]netip.Addr{"hv2": hv2, "hv3": hv3}}
	gateway := flows.MAC{0x02, 0x00, 0x0a, 0x00, 0x00, 0x01}
	compile := func(host string, bind Bindings) (seam []string, routerFlows int) {
		t.Helper()
		doc.Routers[0].Host = host
		in, err := doc.Validate()
		if err != nil {
			t.Fatal(err)
		}
		fs, err := CompileOverlay(in, bind, nil, ov)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Table == uint8(TableL2Lookup) && f.Match.EthDst != nil && f.Match.EthDst.Addr == gateway {
				seam = append(seam, flows.ActionsString(f.Actions))
			}
			if f.Table >= uint8(TableRouterEntry) && f.Table <= uint8(TableRouterOutput) {
				routerFlows++
			}
		}
		return seam, routerFlows
	}
	// Unnamed: the uplink's host, hv3.
	seam, n := compile("", b)
	if len(seam) != 1 || !strings.Contains(seam[0], "192.168.100.13->tun_dst") {
		t.Errorf("router unnamed, uplink on hv3: gateway MAC -> %q, want through the tunnel to hv3", seam)
	}
	away := n
	// Named for hv2: through the tunnel to hv2 whatever the uplink.
	if seam, n = compile("hv2", b); len(seam) != 1 || !strings.Contains(seam[0], "192.168.100.12->tun_dst") || n != away {
		t.Errorf("router on hv2: gateway MAC -> %q (%d router flows), want through the tunnel to hv2 (%d)", seam, n, away)
	}
	// Named for this host: compiled here, though the uplink is on hv3.
	if seam, n = compile("hv1", b); len(seam) != 1 || !strings.Contains(seam[0], "goto_table") || n <= away {
		t.Errorf("router on hv1: gateway MAC -> %q (%d router flows), want to the router here (more than %d flows)", seam, n, away)
	}
	// Named for a host no port of which is known: nothing reaches it.
	if seam, n = compile("hv9", b); len(seam) != 1 || seam[0] != "drop" || n != away {
		t.Errorf("router on unknown hv9: gateway MAC -> %q (%d router flows), want drop", seam, n)
	}
	// The uplink bound here while the router is named for hv2: the
	// uplink feeds nothing.
	delete(ov.Remote, "uplink")
	b["uplink"] = 9
	doc.Routers[0].Host = "hv2"
	in, err := doc.Validate()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := CompileOverlay(in, b, nil, ov)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Match.InPort == 9 {
			t.Errorf("uplink bound here, router on hv2: %s", f)
		}
	}
}
