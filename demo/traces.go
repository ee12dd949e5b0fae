package demo

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/flowgate/flowgate/inspect"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/testbed"
)

// A traced connection and the verdict the intent predicts, word for word.
type traceCase struct {
	from    string
	to      netip.Addr
	dport   uint16
	verdict string
}

var traces = []traceCase{
	{"web1", netip.MustParseAddr("10.0.0.21"), 3306,
		"allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)"},
	{"web1", netip.MustParseAddr("10.0.0.21"), 22,
		"dropped: no rule of db allows tcp/22 from 10.0.0.11"},
	{"db1", netip.MustParseAddr("10.0.0.100"), 80,
		"allowed by security_groups[db].rules[3] (egress any to any) and security_groups[web].rules[0] (ingress tcp/8080 from 0.0.0.0/0), load balanced by services[web] to backend web1:8080"},
}

// runTraces prints `flowgate trace` of each case and returns the verdicts
// and the cases whose verdict is not the predicted one.
func runTraces(ctx context.Context, w io.Writer, in *intent.Intent, tb *testbed.Testbed, hosts map[string]*testbed.Host) (verdicts, diffs []string, err error) {
	b := pipeline.Bindings{}
	for name, h := range hosts {
		b[name] = h.OFPort()
	}
	for _, tc := range traces {
		fmt.Fprintf(w, "\n$ flowgate trace --from %s --to %s --proto tcp --dport %d\n", tc.from, tc.to, tc.dport)
		res, err := inspect.Trace(ctx, inspect.TraceRequest{Intent: in, Bindings: b, Bridge: bridge,
			Rundir: tb.OVS().Dir, From: tc.from, To: tc.to, Proto: "tcp", DPort: tc.dport})
		if err != nil {
			return verdicts, diffs, fmt.Errorf("trace %s -> %s:%d: %w", tc.from, tc.to, tc.dport, err)
		}
		fmt.Fprint(w, res)
		verdicts = append(verdicts, res.Verdict)
		if res.Verdict != tc.verdict {
			d := fmt.Sprintf("trace %s -> %s tcp/%d: verdict %q, want %q", tc.from, tc.to, tc.dport, res.Verdict, tc.verdict)
			diffs = append(diffs, d)
			fmt.Fprintf(w, "  ! differs from the intent: want %q\n", tc.verdict)
		}
	}
	return verdicts, diffs, nil
}
