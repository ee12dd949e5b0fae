package bench

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// TestDatapathOnOVS runs the datapath bench briefly on a private
// OVS (root, Open vSwitch and iperf3) and checks that it measured
// something on both bridges and that the flowgate bridge really ran the
// pipeline: the forbidden connection is dropped there, and its packets
// went through conntrack (two datapath passes each). Timings are printed,
// never asserted.
func TestDatapathOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	if _, err := exec.LookPath("iperf3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot run in CI: %v", err)
		}
		t.Skipf("skipping: iperf3 not installed (run 'make deps')")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := Datapath(ctx, DatapathOptions{Rounds: 1, Throughput: time.Second, Conns: 500 * time.Millisecond,
		Progress: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v\n%s", time.Since(start), res)

	if res.Flows < 100 {
		t.Errorf("%d flows installed on %s, want the whole worked example", res.Flows, flowgateBridge)
	}
	if len(res.Rounds) != 1 {
		t.Fatalf("%d rounds, want 1", len(res.Rounds))
	}
	r := res.Rounds[0]
	for name, s := range map[string]Sample{
		"throughput a": r.Throughput.Plain, "throughput b": r.Throughput.Flowgate,
		"connections a": r.Conns.Plain, "connections b": r.Conns.Flowgate,
	} {
		if s.Value <= 0 {
			t.Errorf("%s: %v, want > 0", name, s.Value)
		}
	}
	for name, s := range map[string]Sample{"a": r.Conns.Plain, "b": r.Conns.Flowgate} {
		if s.Conns == 0 || s.Failed != 0 {
			t.Errorf("connections %s: %d completed, %d failed; want some and none", name, s.Conns, s.Failed)
		}
	}
	if res.Throughput.Ratio <= 0 || res.ConnRate.Ratio <= 0 {
		t.Errorf("ratios %v and %v, want > 0", res.Throughput.Ratio, res.ConnRate.Ratio)
	}
	if res.Forbidden.Plain != testbed.OK || res.Forbidden.Flowgate != testbed.TimedOut {
		t.Errorf("tcp/%d %s -> %s: (a) %s, (b) %s; want ok on the plain bridge and dropped (timed out) by flowgate",
			res.Forbidden.Port, res.Client, res.Server, res.Forbidden.Plain, res.Forbidden.Flowgate)
	}
	if res.Datapath == testbed.DatapathNetdev {
		a, b := r.Throughput.Plain.Stats, r.Throughput.Flowgate.Stats
		if a.Packets == 0 || b.Packets == 0 {
			t.Errorf("datapath counters: %d and %d packets, want both > 0", a.Packets, b.Packets)
		}
		// NORMAL is one pass; ct(table=...) recirculates every packet
		// once more.
		if a.Passes() > 1.05 || b.Passes() < 1.9 {
			t.Errorf("datapath passes per packet: (a) %.2f, (b) %.2f; want 1 and 2 (b's packets through conntrack)", a.Passes(), b.Passes())
		}
	}
	for _, want := range []string{"median", "throughput a", "b/a", "timed out"} {
		if !strings.Contains(res.String(), want) {
			t.Errorf("the table has no %q", want)
		}
	}
}

// logWriter sends Datapath's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func TestParseIperf(t *testing.T) {
	got, err := parseIperf([]byte(`{"start": {}, "intervals": [],
		"end": {"sum_sent": {"bytes": 1, "bits_per_second": 9.5e8, "retransmits": 42},
		        "sum_received": {"bytes": 1, "bits_per_second": 9.4e8}}}`))
	if err != nil || got.BitsPerSecond != 9.4e8 || got.Retransmits != 42 {
		t.Errorf("parseIperf = %+v, %v; want 9.4e8 bit/s received, 42 retransmits", got, err)
	}
	for _, bad := range []string{
		`{"start": {}, "intervals": [], "end": {}, "error": "unable to connect to server: Connection refused"}`,
		`{"end": {"sum_received": {"bits_per_second": 0}}}`,
		`iperf3: error`,
	} {
		if got, err := parseIperf([]byte(bad)); err == nil {
			t.Errorf("parseIperf(%s) = %+v, want an error", bad, got)
		}
	}
}

func TestParseDPStats(t *testing.T) {
	out := `pmd thread numa_id 0 core_id 1:
  packets received: 100
  packet recirculations: 100
  avg. datapath passes per packet: 2.00
  emc hits: 150
  smc hits: 0
  megaflow hits: 40
  avg. subtable lookups per megaflow hit: 2.00
  miss with success upcall: 10
  miss with failed upcall: 0
  processing cycles: 123456 (1.00%)
main thread:
  packets received: 50
  packet recirculations: 0
  avg. datapath passes per packet: 1.00
  emc hits: 0
  smc hits: 0
  megaflow hits: 40
  avg. subtable lookups per megaflow hit: 1.00
  miss with success upcall: 10
  miss with failed upcall: 1
`
	s := parseDPStats(out)
	want := DPStats{Packets: 150, Recirculations: 100, EMCHits: 150, MegaflowHits: 80, Upcalls: 20, FailedUpcalls: 1, SubtableLookups: 120}
	if s != want {
		t.Errorf("parseDPStats = %+v, want %+v", s, want)
	}
	if got := s.Passes(); got != 250.0/150 {
		t.Errorf("Passes = %v", got)
	}
	if got := s.LookupsPerHit(); got != 1.5 {
		t.Errorf("LookupsPerHit = %v, want 1.5", got)
	}
}

func TestInterleaveTakesTurns(t *testing.T) {
	a, b := pair{label: "a"}, pair{label: "b"}
	for _, tc := range []struct {
		fgFirst bool
		want    string
	}{{false, "abbaab"}, {true, "baabba"}} {
		var got strings.Builder
		err := interleave(a, b, tc.fgFirst, 3, func(p pair, x int) (bool, error) {
			if want := map[string]int{"a": 0, "b": 1}[p.label]; x != want {
				t.Errorf("pair %s with x=%d", p.label, x)
			}
			got.WriteString(p.label)
			return true, nil
		})
		if err != nil || got.String() != tc.want {
			t.Errorf("fgFirst=%v: order %q, %v; want %q", tc.fgFirst, got.String(), err, tc.want)
		}
	}
}

func TestCompareTakesMedianOfPairedRatios(t *testing.T) {
	rounds := []DatapathRound{
		{Conns: Pair{Plain: Sample{Value: 100}, Flowgate: Sample{Value: 90}}},  // 0.9
		{Conns: Pair{Plain: Sample{Value: 200}, Flowgate: Sample{Value: 190}}}, // 0.95
		{Conns: Pair{Plain: Sample{Value: 50}, Flowgate: Sample{Value: 60}}},   // 1.2
	}
	c := compare(rounds, func(r DatapathRound) Pair { return r.Conns })
	if c.Plain != 100 || c.Flowgate != 90 || c.Ratio != 0.95 {
		t.Errorf("compare = %+v, want medians 100 and 90, ratio 0.95", c)
	}
}

func TestDatapathResultString(t *testing.T) {
	res := DatapathResult{
		Options:  DatapathOptions{Throughput: 5 * time.Second, Conns: 3 * time.Second, IntentPath: "examples/intent.yaml"},
		Datapath: testbed.DatapathNetdev, Flows: 218, Client: "web1", Server: "web2", Port: 8080,
		Rounds: []DatapathRound{{
			Throughput: Pair{Plain: Sample{Value: 600e6, Stats: DPStats{Packets: 1000, VswitchdCPU: 10 * time.Millisecond}},
				Flowgate: Sample{Value: 500e6, Stats: DPStats{Packets: 1000, Recirculations: 1000, VswitchdCPU: 12 * time.Millisecond}}},
			Conns: Pair{Plain: Sample{Value: 2000, Conns: 6000}, Flowgate: Sample{Value: 1900, Conns: 5700}},
		}},
		Throughput: Comparison{Plain: 600e6, Flowgate: 500e6, Ratio: 500.0 / 600},
		ConnRate:   Comparison{Plain: 2000, Flowgate: 1900, Ratio: 0.95},
		Forbidden:  Probe{Port: 22, Plain: testbed.OK, Flowgate: testbed.TimedOut},
	}
	out := res.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"1 (a first)  600.00 Mbit/s  500.00 Mbit/s  0.83",
		"throughput 0.83 NOT met, connections/s 0.95 met",
		"(a) ok, (b) timed out",
		"throughput 10.0µs vs 12.0µs (1.20)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the table", want)
		}
	}
}

func TestFormatBits(t *testing.T) {
	for bps, want := range map[float64]string{9.41e9: "9.41 Gbit/s", 523.4e6: "523.40 Mbit/s", 12e3: "12.00 kbit/s", 5: "5 bit/s"} {
		if got := formatBits(bps); got != want {
			t.Errorf("formatBits(%v) = %q, want %q", bps, got, want)
		}
	}
}
