package inspect

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/pipeline"
)

// Verdicts from captured traces (testdata/*.trace), without an OVS: the
// rule that allowed, the group or table that dropped — judged on the
// packet as the last pass saw it, after a port forward's DNAT — and the
// notes on NAT.
func TestExplainCapturedTraces(t *testing.T) {
	in := loadWorkedExample(t)
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		file        string
		req         TraceRequest
		established bool
		allowed     bool
		verdict     string
		note        string
	}{
		{"allowed", TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 3306}, false, true,
			"allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)", ""},
		{"denied", TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 22}, false, false,
			"dropped: no rule of db allows tcp/22 from 10.0.0.11", ""},
		{"spoofed", TraceRequest{From: "web1", Src: addr("10.0.0.99"), To: addr("10.0.0.21"), Proto: "tcp", DPort: 3306}, false, false,
			"dropped in table 10 (port_security): web1 may send only from its own MAC and addresses", ""},
		{"port-forward", TraceRequest{From: "uplink", Src: addr("203.0.113.5"), To: addr("192.0.2.10"), Proto: "tcp", DPort: 2222}, false, true,
			"allowed by security_groups[db].rules[2] (ingress tcp/22 from 203.0.113.0/24)",
			"ofproto/trace applied the translation of a ct(commit,nat(...)) before pass 3: nw_src=203.0.113.5,tp_src=40000,nw_dst=192.0.2.10,tp_dst=2222 -> nw_src=203.0.113.5,tp_src=40000,nw_dst=10.0.0.21,tp_dst=22"},
		{"reply-outside", TraceRequest{From: "db1", To: addr("203.0.113.5"), Proto: "tcp", SPort: 22, DPort: 40000}, true, true,
			"allowed as part of an established connection",
			"the packet crosses the router: ofproto/trace cannot replay the translation"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tc.req.Intent, tc.req.Bindings = in, labBindings
			p, err := newPacket(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			res := explain(in, labBindings, pipeline.Overlay{}, p, parseTrace(mustRead(t, "testdata/"+tc.file+".trace")), tc.established)
			if res.Allowed != tc.allowed || res.Verdict != tc.verdict {
				t.Errorf("allowed %v, verdict %q\nwant %v, %q", res.Allowed, res.Verdict, tc.allowed, tc.verdict)
			}
			if notes := strings.Join(res.Notes, "\n"); (tc.note == "") != (notes == "") || !strings.Contains(notes, tc.note) {
				t.Errorf("notes %q, want %q", notes, tc.note)
			}
		})
	}
}
