package pipeline

import (
	"fmt"
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
// tunnel to hv2 and only the gateway ARP and ping responders and the TTL
// expiry stay; named for a host with no known endpoint, they are dropped
// and ping of the gateway is not answered.
func TestRouterRunsOnItsGatewayHost(t *testing.T) {
	doc := workedExampleDoc(t)
	hv2, hv3 := netip.MustParseAddr("192.168.100.12"), netip.MustParseAddr("192.168.100.13")
	b := Bindings{"web1": 1, "web2": 2, "db1": 3}
	ov := Overlay{TunnelPort: 4000, Host: "hv1", Remote: map[string]netip.Addr{"uplink": hv3},
		Hosts: map[string]netip.Addr{"hv2": hv2, "hv3": hv3}}
	gateway := flows.MAC{0x02, 0x00, 0x0a, 0x00, 0x00, 0x01}
	compile := func(host string, bind Bindings) (seam []string, routerFlows, echo int) {
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
			switch {
			case f.Table == uint8(TableL2Lookup) && f.Match.ICMPType != nil &&
				(*f.Match.ICMPType == icmpEchoRequest && f.Match.EthType == flows.EthTypeIPv4 || *f.Match.ICMPType == icmpv6EchoRequest):
				echo++
			case f.Table == uint8(TableL2Lookup) && f.Match.IPTTL != nil:
				echo++ // expiry here, for a time exceeded from this host's controller
			case f.Table == uint8(TableL2Lookup) && f.Match.EthDst != nil && f.Match.EthDst.Addr == gateway:
				seam = append(seam, flows.ActionsString(f.Actions))
			}
			if f.Table >= uint8(TableRouterEntry) && f.Table <= uint8(TableRouterOutput) {
				routerFlows++
			}
		}
		return seam, routerFlows, echo
	}
	// Unnamed: the uplink's host, hv3.
	// Answered here: ping of the gateway and the external address, the
	// gateway6 and the router's link-local address on the network; TTL
	// and hop limit expiry.
	const pinged = 4 + 2
	seam, n, echo := compile("", b)
	if len(seam) != 1 || !strings.Contains(seam[0], "192.168.100.13->tun_dst") || echo != pinged {
		t.Errorf("router unnamed, uplink on hv3: gateway MAC -> %q (%d ping responders), want through the tunnel to hv3 (%d)", seam, echo, pinged)
	}
	away := n
	// Named for hv2: through the tunnel to hv2 whatever the uplink.
	if seam, n, echo = compile("hv2", b); len(seam) != 1 || !strings.Contains(seam[0], "192.168.100.12->tun_dst") || n != away || echo != pinged {
		t.Errorf("router on hv2: gateway MAC -> %q (%d router flows, %d ping responders), want through the tunnel to hv2 (%d, %d)", seam, n, echo, away, pinged)
	}
	// Named for this host: compiled here, though the uplink is on hv3;
	// the router answers ping itself.
	if seam, n, echo = compile("hv1", b); len(seam) != 1 || !strings.Contains(seam[0], "goto_table") || n <= away || echo != 0 {
		t.Errorf("router on hv1: gateway MAC -> %q (%d router flows, %d ping responders in l2_lookup), want to the router here (more than %d flows, none)", seam, n, echo, away)
	}
	// Named for a host no port of which is known: nothing reaches it,
	// and nothing answers for it.
	if seam, n, echo = compile("hv9", b); len(seam) != 1 || seam[0] != "drop" || n != away || echo != 0 {
		t.Errorf("router on unknown hv9: gateway MAC -> %q (%d router flows, %d ping responders), want drop (none)", seam, n, echo)
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

// TestTunnelBack: the controller's answer to a packet from the tunnel
// goes to the host its sender's port is bound on, in that port's network
// (tun_id), out of the tunnel port; a local port's MAC, the router's
// gateway MAC and a host without the overlay have no way back through
// the tunnel.
func TestTunnelBack(t *testing.T) {
	doc := workedExampleDoc(t)
	in, err := doc.Validate()
	if err != nil {
		t.Fatal(err)
	}
	hv2 := netip.MustParseAddr("fd00:100::12")
	ov := Overlay{TunnelPort: 4000, Host: "hv1", Remote: map[string]netip.Addr{"db1": hv2}, Hosts: map[string]netip.Addr{"hv2": hv2}}
	mac := func(port string) flows.MAC { return flows.MAC(in.Port(port).MAC) }
	got, ok := TunnelBack(in, ov, mac("db1"))
	want := fmt.Sprintf("set_field:0.0.0.0->tun_dst,set_field:fd00:100::12->tun_ipv6_dst,set_field:%#x->tun_id,output:4000", NetworkZone(in, "tenant"))
	if !ok || flows.ActionsString(got) != want {
		t.Errorf("TunnelBack(db1) = %s %v, want %s", flows.ActionsString(got), ok, want)
	}
	for _, m := range []flows.MAC{mac("web1"), GatewayMAC(in.Network("tenant"))} {
		if got, ok := TunnelBack(in, ov, m); ok {
			t.Errorf("TunnelBack(%s) = %s, want no way back", m, flows.ActionsString(got))
		}
	}
	if _, ok := TunnelBack(in, Overlay{}, mac("db1")); ok {
		t.Error("TunnelBack without an overlay found a way back")
	}
}
