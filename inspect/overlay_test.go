package inspect

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/store"
)

// On a host of an overlay the snapshot compiles the other hosts' ports
// as the controller does: what the controller's incremental compile
// installs on hv1 (web1, web2 and the uplink bound there, db1 on hv3) is
// in sync; compiled without the overlay, db1's flows through the tunnel
// are differences.
func TestSnapshotOverlayIsTheControllers(t *testing.T) {
	in := loadWorkedExample(t)
	b := pipeline.Bindings{"web1": 1, "web2": 2, "uplink": 4}
	locs := store.Locations{Revision: 7, Ports: map[string]store.Location{
		"web1":   {Host: "hv1", TunnelIP: netip.MustParseAddr("192.168.100.11")},
		"web2":   {Host: "hv1", TunnelIP: netip.MustParseAddr("192.168.100.11")},
		"uplink": {Host: "hv1", TunnelIP: netip.MustParseAddr("192.168.100.11")},
		"db1":    {Host: "hv3", TunnelIP: netip.MustParseAddr("192.168.100.13")},
	}}
	ov := controller.OverlayOf(locs, "hv1")
	x := pipeline.NewIncremental()
	plan, err := x.PlanOverlay(in, b, nil, ov)
	if err != nil {
		t.Fatal(err)
	}
	x.Commit(plan)
	installed := x.Flows()
	stats := make([]flows.FlowStats, len(installed))

	s, err := newSnapshot(in, "worked example", b, installed, stats, ov)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if s.WriteDiff(&out) || !strings.HasPrefix(out.String(), "in sync: ") {
		t.Errorf("the controller's overlay flows against the overlay snapshot:\n%s", out.String())
	}

	lone, err := newSnapshot(in, "worked example", b, installed, stats, pipeline.Overlay{})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	differs := lone.WriteDiff(&out)
	t.Logf("without the overlay:\n%s", out.String())
	tunnel := "set_field:192.168.100.13->tun_dst"
	if !differs || !strings.Contains(out.String(), "- cookie=") || !strings.Contains(out.String(), tunnel) ||
		!strings.Contains(out.String(), "    # ports[db1]\n") {
		t.Errorf("without the overlay the diff must name db1's flows into the tunnel (%s) as excess", tunnel)
	}
}

// overlayIntent is the intent of testdata/overlay-tunnel.trace, captured
// on hv1 of cmd/flowgate's TestInspectOverlayHostOnOVS (web1 bound
// there, db1 on hv2).
const overlayIntent = `bridge: br-int
networks:
  - {name: tenant, cidr: 10.0.0.0/24}
ports:
  - {name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11], security_groups: [web]}
  - {name: db1, network: tenant, mac: "02:00:0a:00:00:15", ips: [10.0.0.21], security_groups: [db]}
security_groups:
  - name: web
    rules:
      - {direction: egress, protocol: any}
  - name: db
    rules:
      - {direction: ingress, protocol: tcp, ports: "3306", remote_group: web}
      - {direction: egress, protocol: any}
`

// A packet that leaves by the tunnel: allowed by the sender's egress
// rule here, the verdict names the port, its host and the endpoint; the
// underlay bridge's flows (br-phy, after the tunnel) are not steps.
// Without the overlay the endpoint alone is named.
func TestExplainThroughTunnel(t *testing.T) {
	in, err := intent.Parse([]byte(overlayIntent))
	if err != nil {
		t.Fatal(err)
	}
	b := pipeline.Bindings{"web1": 1}
	ov := controller.OverlayOf(store.Locations{Ports: map[string]store.Location{
		"web1": {Host: "hv1", TunnelIP: netip.MustParseAddr("192.168.100.11")},
		"db1":  {Host: "hv2", TunnelIP: netip.MustParseAddr("192.168.100.12")},
	}}, "hv1")
	p, err := newPacket(TraceRequest{Intent: in, Bindings: b, From: "web1", To: netip.MustParseAddr("10.0.0.21"), Proto: "tcp", DPort: 3306})
	if err != nil {
		t.Fatal(err)
	}
	tr := parseTrace(mustRead(t, "testdata/overlay-tunnel.trace"))
	if last := tr.Steps[len(tr.Steps)-1]; last.Table != 80 || len(last.Actions) == 0 || last.Actions[0] != "output:65000" {
		t.Errorf("last step %+v, want br-int's output to the tunnel (br-phy's flows are not steps)", last)
	}
	for _, tc := range []struct {
		ov   pipeline.Overlay
		want string
	}{
		{ov, "allowed by security_groups[web].rules[0] (egress any to any), then to db1 on hv2 (192.168.100.12) through the tunnel, whose host judges db1's ingress rules"},
		{pipeline.Overlay{}, "allowed by security_groups[web].rules[0] (egress any to any), then through the tunnel to 192.168.100.12, whose host judges the receiver's ingress rules"},
	} {
		res := explain(in, b, tc.ov, p, tr, false)
		if !res.Allowed || res.Verdict != tc.want {
			t.Errorf("overlay %+v: allowed %v, verdict\n  %q\nwant\n  %q", tc.ov, res.Allowed, res.Verdict, tc.want)
		}
	}
}

// A packet for the router on another host (the gateway's MAC) names the
// router and its host.
func TestThroughTunnelToTheRouter(t *testing.T) {
	in := loadWorkedExample(t)
	ov := controller.OverlayOf(store.Locations{Ports: map[string]store.Location{
		"uplink": {Host: "hv2", TunnelIP: netip.MustParseAddr("192.168.100.12")},
	}}, "hv1")
	gw := pipeline.GatewayMAC(in.Network("tenant"))
	tr := traceOutput{Passes: []TracePass{{Final: "tcp,reg1=0xfde8,tun_dst=192.168.100.12,dl_dst=" + gw.String() + ",nw_dst=192.0.2.1"}}}
	want := ", then to router edge on hv2 (192.168.100.12) through the tunnel, which routes it there"
	if got := throughTunnel(in, ov, tr); got != want {
		t.Errorf("throughTunnel = %q, want %q", got, want)
	}
	// reg1 another port than the tunnel: not through the tunnel.
	tr.Passes[0].Final = "tcp,reg1=0x3,tun_dst=192.168.100.12,dl_dst=" + gw.String()
	if got := throughTunnel(in, ov, tr); got != "" {
		t.Errorf("throughTunnel to port 3 = %q, want nothing", got)
	}
}
