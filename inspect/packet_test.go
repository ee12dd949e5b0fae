package inspect

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
)

// labBindings are the ofports the lab (lab_test.go) requests.
var labBindings = pipeline.Bindings{"web1": 1, "web2": 2, "db1": 3, "uplink": 4}

func loadWorkedExample(t *testing.T) *intent.Intent {
	t.Helper()
	in, err := intent.Load(workedExample)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestNewPacketFlow(t *testing.T) {
	in := loadWorkedExample(t)
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		req  TraceRequest
		flow string // or the error's text
	}{
		{"same network", TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 3306},
			"in_port=1,dl_src=02:00:0a:00:00:0b,dl_dst=02:00:0a:00:00:15,tcp,nw_src=10.0.0.11,nw_dst=10.0.0.21,nw_ttl=64,tp_src=40000,tp_dst=3306"},
		{"outside via the gateway MAC", TraceRequest{From: "db1", To: addr("198.51.100.7"), Proto: "udp", SPort: 5353, DPort: 53},
			"in_port=3,dl_src=02:00:0a:00:00:15,dl_dst=02:00:0a:00:00:01,udp,nw_src=10.0.0.21,nw_dst=198.51.100.7,nw_ttl=64,udp_src=5353,udp_dst=53"},
		{"ipv6 icmp", TraceRequest{From: "web2", To: addr("fd00:10::21"), Proto: "icmp6"},
			"in_port=2,dl_src=02:00:0a:00:00:0c,dl_dst=02:00:0a:00:00:15,icmp6,icmp_type=128,icmp_code=0,ipv6_src=fd00:10::12,ipv6_dst=fd00:10::21,nw_ttl=64"},
		{"icmp asked as icmp6 follows the family", TraceRequest{From: "web2", To: addr("10.0.0.21"), Proto: "icmp6"},
			"in_port=2,dl_src=02:00:0a:00:00:0c,dl_dst=02:00:0a:00:00:15,icmp,icmp_type=8,icmp_code=0,nw_src=10.0.0.12,nw_dst=10.0.0.21,nw_ttl=64"},
		{"from the uplink", TraceRequest{From: "uplink", Src: addr("203.0.113.5"), To: addr("192.0.2.10"), Proto: "tcp", DPort: 2222},
			"in_port=4,dl_src=02:00:c0:00:02:01,dl_dst=02:00:c0:00:02:0a,tcp,nw_src=203.0.113.5,nw_dst=192.0.2.10,nw_ttl=64,tp_src=40000,tp_dst=2222"},
		{"uplink without --src", TraceRequest{From: "uplink", To: addr("192.0.2.10"), Proto: "tcp", DPort: 2222},
			"needs a source address (--src)"},
		{"unknown port", TraceRequest{From: "db9", To: addr("10.0.0.21"), Proto: "tcp", DPort: 22},
			`"db9" is neither a port of the intent nor a router's uplink`},
		{"no dport", TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp"}, "tcp needs a destination port (--dport)"},
		{"bad protocol", TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "sctp", DPort: 1}, `protocol "sctp"`},
		{"families differ", TraceRequest{From: "uplink", Src: addr("2001:db8::1"), To: addr("10.0.0.21"), Proto: "tcp", DPort: 22},
			"of different families"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Intent, tc.req.Bindings = in, labBindings
			p, err := newPacket(tc.req)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = p.flow(nil)
			}
			if (err == nil && got != tc.flow) || (err != nil && !strings.Contains(got, tc.flow)) {
				t.Errorf("got  %s\nwant %s", got, tc.flow)
			}
		})
	}

	unbound := pipeline.Bindings{"web1": 1}
	if _, err := newPacket(TraceRequest{Intent: in, Bindings: unbound, From: "db1", To: addr("10.0.0.11"), Proto: "icmp"}); err == nil ||
		!strings.Contains(err.Error(), "port db1 is not bound") {
		t.Errorf("unbound port: %v", err)
	}
}

// An established packet carries its connection: the label of its first
// packet's commit and that packet's tuple (remote-group rules check it),
// except from the uplink, where a packet arrives untracked.
func TestPacketFlowOfConnection(t *testing.T) {
	in := loadWorkedExample(t)
	p, err := newPacket(TraceRequest{Intent: in, Bindings: labBindings, From: "db1", To: netip.MustParseAddr("10.0.0.11"), Proto: "tcp", SPort: 3306, DPort: 40000})
	if err != nil {
		t.Fatal(err)
	}
	orig, ok := reverse(in, labBindings, pipeline.Overlay{}, p)
	if !ok || orig.from != "web1" || orig.tuple() != "tcp 10.0.0.11:40000 -> 10.0.0.21:3306" {
		t.Fatalf("reverse of %s: %+v %v", p.tuple(), orig, ok)
	}
	got := p.flow(&conn{state: "est|rpl|trk", label: "0x35b3c6a6044cef21", orig: orig})
	want := ",ct_label=0x35b3c6a6044cef21,ct_state=est|rpl|trk,ct_nw_src=10.0.0.11,ct_nw_dst=10.0.0.21,ct_nw_proto=6,ct_tp_src=40000,ct_tp_dst=3306"
	if !strings.HasSuffix(got, want) {
		t.Errorf("flow %s\nlacks %s", got, want)
	}
	back, ok := reverse(in, labBindings, pipeline.Overlay{}, orig)
	if !ok || back.flow(nil) != p.flow(nil) {
		t.Errorf("reverse of the reverse: %s, want %s", back.flow(nil), p.flow(nil))
	}

	outside, err := newPacket(TraceRequest{Intent: in, Bindings: labBindings, From: "uplink", Src: netip.MustParseAddr("203.0.113.5"),
		To: netip.MustParseAddr("10.0.0.21"), Proto: "tcp", SPort: 40000, DPort: 22})
	if err != nil {
		t.Fatal(err)
	}
	if got := outside.flow(&conn{state: "est|rpl|trk", label: "0x1", orig: outside}); !strings.HasSuffix(got, ",tp_dst=22,ct_label=0x1") {
		t.Errorf("from the uplink: %s", got)
	}
}

// On a host of an overlay a port bound elsewhere sends from the tunnel:
// in_port is the tunnel port, with its host as tun_src and its network as
// the key; a port bound nowhere is still refused.
func TestPacketFromARemotePort(t *testing.T) {
	in := loadWorkedExample(t)
	hv2 := netip.MustParseAddr("192.168.100.12")
	ov := pipeline.Overlay{TunnelPort: 65000, Remote: map[string]netip.Addr{"db1": hv2}}
	b := pipeline.Bindings{"web1": 1, "web2": 2}
	p, err := newPacket(TraceRequest{Intent: in, Bindings: b, Overlay: ov, From: "db1", To: netip.MustParseAddr("10.0.0.11"), Proto: "tcp", DPort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("tun_id=%#x,tun_src=192.168.100.12,in_port=65000,dl_src=02:00:0a:00:00:15,", pipeline.NetworkZone(in, "tenant"))
	if got := p.flow(nil); !strings.HasPrefix(got, want) {
		t.Errorf("flow %s\nwant it to start %s", got, want)
	}
	if _, err := newPacket(TraceRequest{Intent: in, Bindings: b, From: "db1", To: netip.MustParseAddr("10.0.0.11"), Proto: "tcp", DPort: 8080}); err == nil {
		t.Error("db1, bound nowhere this host knows of, was traced")
	}
}
