package inspect

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var capture = flag.Bool("capture", false, "re-capture the existing testdata/<case>.trace from the lab (then -update the parser's goldens)")

// The worked example's traces, with the verdict each must give word for
// word: allowed and dropped, new and established, IPv4 and IPv6, from a
// port and from the outside through the router (routed, port-forwarded).
func TestTraceWorkedExampleOnOVS(t *testing.T) {
	l := newLab(t)
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		name    string
		req     TraceRequest
		allowed bool
		verdict string
		note    string // a note the result must carry
	}{
		{name: "allowed", req: TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 3306}, allowed: true,
			verdict: "allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)"},
		{name: "denied", req: TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 22},
			verdict: "dropped: no rule of db allows tcp/22 from 10.0.0.11"},
		{name: "allowed-v6", req: TraceRequest{From: "web1", To: addr("fd00:10::21"), Proto: "tcp", DPort: 3306}, allowed: true,
			verdict: "allowed by security_groups[web].rules[4] (egress ipv6 any to any) and security_groups[db].rules[1] (ingress ipv6 tcp/3306 from group web)"},
		{name: "icmp-denied", req: TraceRequest{From: "db1", To: addr("10.0.0.11"), Proto: "icmp"},
			verdict: "dropped: no rule of web allows icmp from 10.0.0.21"},
		{name: "spoofed", req: TraceRequest{From: "web1", Src: addr("10.0.0.99"), To: addr("10.0.0.21"), Proto: "tcp", DPort: 3306},
			verdict: "dropped in table 10 (port_security): web1 may send only from its own MAC and addresses"},
		{name: "est-reply", req: TraceRequest{From: "db1", To: addr("10.0.0.11"), Proto: "tcp", SPort: 3306, DPort: 40000, State: "est"}, allowed: true,
			verdict: "allowed as a reply of the connection tcp 10.0.0.11:40000 -> 10.0.0.21:3306, whose first packet is allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)"},
		{name: "est-original", req: TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 3306, State: "est"}, allowed: true,
			verdict: "allowed as a packet of an established connection, whose first packet is allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)"},
		{name: "est-without-connection", req: TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", DPort: 22, State: "est"},
			verdict: "dropped: no connection it could belong to is allowed (as a first packet it is dropped: no rule of db allows tcp/22 from 10.0.0.11)"},
		{name: "reply-without-connection", req: TraceRequest{From: "web1", To: addr("10.0.0.21"), Proto: "tcp", SPort: 40000, DPort: 22, State: "reply"},
			verdict: "dropped: no connection it could be a reply of is allowed (the connection tcp 10.0.0.21:22 -> 10.0.0.11:40000 is dropped: no rule of web allows tcp/40000 from 10.0.0.21)"},
		{name: "est-either-way", req: TraceRequest{From: "db1", To: addr("203.0.113.5"), Proto: "tcp", SPort: 22, DPort: 40000, State: "est"}, allowed: true,
			verdict: "allowed as a packet of an established connection, whose first packet is allowed by security_groups[db].rules[3] (egress any to any)",
			note:    "--state reply traces it as the reply of the connection tcp 203.0.113.5:40000 -> 10.0.0.21:22"},
		{name: "outside-denied", req: TraceRequest{From: "uplink", Src: addr("198.51.100.7"), To: addr("10.0.0.21"), Proto: "tcp", DPort: 22},
			verdict: "dropped: no rule of db allows tcp/22 from 198.51.100.7"},
		{name: "admin-allowed", req: TraceRequest{From: "uplink", Src: addr("203.0.113.5"), To: addr("10.0.0.21"), Proto: "tcp", DPort: 22}, allowed: true,
			verdict: "allowed by security_groups[db].rules[2] (ingress tcp/22 from 203.0.113.0/24)"},
		{name: "port-forward", req: TraceRequest{From: "uplink", Src: addr("203.0.113.5"), To: addr("192.0.2.10"), Proto: "tcp", DPort: 2222}, allowed: true,
			verdict: "allowed by security_groups[db].rules[2] (ingress tcp/22 from 203.0.113.0/24)",
			note:    "nw_dst=192.0.2.10,tp_dst=2222 -> nw_src=203.0.113.5,tp_src=40000,nw_dst=10.0.0.21,tp_dst=22"},
		{name: "port-forward-denied", req: TraceRequest{From: "uplink", Src: addr("198.51.100.7"), To: addr("192.0.2.10"), Proto: "tcp", DPort: 2222},
			verdict: "dropped: no rule of db allows tcp/22 from 198.51.100.7"},
		{name: "reply-outside", req: TraceRequest{From: "db1", To: addr("203.0.113.5"), Proto: "tcp", SPort: 22, DPort: 40000, State: "reply"}, allowed: true,
			verdict: "allowed as a reply of the connection tcp 203.0.113.5:40000 -> 10.0.0.21:22, whose first packet is allowed by security_groups[db].rules[2] (ingress tcp/22 from 203.0.113.0/24)",
			note:    "ofproto/trace cannot replay the translation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := l.trace(tc.req)
			t.Logf("\n%s", res)
			if path := filepath.Join("testdata", tc.name+".trace"); *capture && exists(path) {
				if err := os.WriteFile(path, []byte(res.Raw), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if res.Allowed != tc.allowed || res.Verdict != tc.verdict {
				t.Errorf("allowed %v, verdict\n  %q\nwant allowed %v,\n  %q", res.Allowed, res.Verdict, tc.allowed, tc.verdict)
			}
			if tc.note != "" && !strings.Contains(strings.Join(res.Notes, "\n"), tc.note) {
				t.Errorf("notes %q lack %q", res.Notes, tc.note)
			}
		})
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
