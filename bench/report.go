package bench

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// String prints the result as a table: one line per round, the medians
// and b/a, the filter check, and the datapath counters behind the figures.
func (r DatapathResult) String() string {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "datapath cost: %s -> %s tcp/%d, %s datapath, %d round(s) (iperf3 %s, connections %s per bridge and round, in turns)\n",
		r.Client, r.Server, r.Port, r.Datapath, len(r.Rounds), o.Throughput, o.Conns)
	fmt.Fprintf(&b, "  (a) %s: plain bridge, actions=NORMAL\n", plainBridge)
	fmt.Fprintf(&b, "  (b) %s: fail_mode=secure, flowgate's worked example (%s, %d flows)\n\n", flowgateBridge, o.IntentPath, r.Flows)

	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "round\tthroughput a\tthroughput b\tb/a\t\tconn/s a\tconn/s b\tb/a\t")
	for i, rd := range r.Rounds {
		first := "a first"
		if rd.FlowgateFirst {
			first = "b first"
		}
		fmt.Fprintf(w, "%d (%s)\t%s\t%s\t%.2f\t\t%.0f\t%.0f\t%.2f\t\n", i+1, first,
			formatBits(rd.Throughput.Plain.Value), formatBits(rd.Throughput.Flowgate.Value),
			ratio(rd.Throughput.Plain.Value, rd.Throughput.Flowgate.Value),
			rd.Conns.Plain.Value, rd.Conns.Flowgate.Value, ratio(rd.Conns.Plain.Value, rd.Conns.Flowgate.Value))
	}
	fmt.Fprintf(w, "median\t%s\t%s\t%.2f\t\t%.0f\t%.0f\t%.2f\t\n",
		formatBits(r.Throughput.Plain), formatBits(r.Throughput.Flowgate), r.Throughput.Ratio,
		r.ConnRate.Plain, r.ConnRate.Flowgate, r.ConnRate.Ratio)
	w.Flush()

	fmt.Fprintf(&b, "\ntarget b/a >= %.1f: throughput %s, connections/s %s\n",
		Target, verdict(r.Throughput.Ratio), verdict(r.ConnRate.Ratio))
	fmt.Fprintf(&b, "filter: %s -> %s tcp/%d (allowed only from 203.0.113.0/24): (a) %s, (b) %s\n",
		r.Client, r.Server, r.Forbidden.Port, r.Forbidden.Plain, r.Forbidden.Flowgate)

	sum := func(get func(DatapathRound) Sample) (st DPStats, retrans, failed, conns int) {
		for _, rd := range r.Rounds {
			s := get(rd)
			st = st.add(s.Stats)
			retrans += s.Retransmits
			failed += s.Failed
			conns += s.Conns
		}
		return
	}
	ta, _, _, _ := sum(func(d DatapathRound) Sample { return d.Throughput.Plain })
	tb, _, _, _ := sum(func(d DatapathRound) Sample { return d.Throughput.Flowgate })
	ca, _, _, _ := sum(func(d DatapathRound) Sample { return d.Conns.Plain })
	cb, _, _, _ := sum(func(d DatapathRound) Sample { return d.Conns.Flowgate })
	fmt.Fprintf(&b, "ovs-vswitchd CPU per packet (b/a): throughput %s vs %s (%.2f), connections %s vs %s (%.2f)\n",
		micros(ta.CPUPerPacket()), micros(tb.CPUPerPacket()), ratio(float64(ta.CPUPerPacket()), float64(tb.CPUPerPacket())),
		micros(ca.CPUPerPacket()), micros(cb.CPUPerPacket()), ratio(float64(ca.CPUPerPacket()), float64(cb.CPUPerPacket())))

	fmt.Fprintf(&b, "\ndatapath counters, all rounds (dpif-netdev/pmd-stats-show; CPU: all ovs-vswitchd threads):\n")
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "run\tpackets\tpasses/pkt\tEMC hits\tmegaflow hits\tsubtables/hit\tupcalls\tCPU/pkt\tCPU/conn\tretransmits\tfailed conns\t")
	for _, row := range []struct {
		name string
		get  func(DatapathRound) Sample
	}{
		{"throughput a", func(d DatapathRound) Sample { return d.Throughput.Plain }},
		{"throughput b", func(d DatapathRound) Sample { return d.Throughput.Flowgate }},
		{"conns a", func(d DatapathRound) Sample { return d.Conns.Plain }},
		{"conns b", func(d DatapathRound) Sample { return d.Conns.Flowgate }},
	} {
		st, retrans, failed, conns := sum(row.get)
		perConn := "-"
		if conns > 0 {
			perConn = micros(st.VswitchdCPU / time.Duration(conns))
		}
		fmt.Fprintf(w, "%s\t%d\t%.2f\t%d\t%d\t%.2f\t%d\t%s\t%s\t%d\t%d\t\n", row.name, st.Packets, st.Passes(),
			st.EMCHits, st.MegaflowHits, st.LookupsPerHit(), st.Upcalls+st.FailedUpcalls, micros(st.CPUPerPacket()), perConn, retrans, failed)
	}
	w.Flush()
	if r.DatapathFlows != "" {
		fmt.Fprintf(&b, "\n%s", r.DatapathFlows)
	}
	return b.String()
}

func verdict(ratio float64) string {
	if ratio >= Target {
		return fmt.Sprintf("%.2f met", ratio)
	}
	return fmt.Sprintf("%.2f NOT met", ratio)
}

func (s DPStats) add(t DPStats) DPStats {
	return DPStats{
		Packets: s.Packets + t.Packets, Recirculations: s.Recirculations + t.Recirculations,
		EMCHits: s.EMCHits + t.EMCHits, SMCHits: s.SMCHits + t.SMCHits, MegaflowHits: s.MegaflowHits + t.MegaflowHits,
		Upcalls: s.Upcalls + t.Upcalls, FailedUpcalls: s.FailedUpcalls + t.FailedUpcalls,
		SubtableLookups: s.SubtableLookups + t.SubtableLookups, VswitchdCPU: s.VswitchdCPU + t.VswitchdCPU,
	}
}

// micros prints a duration in microseconds: "11.3µs".
func micros(d time.Duration) string {
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

// formatBits prints a rate in bits/s with an SI prefix: "9.41 Gbit/s".
func formatBits(bps float64) string {
	for _, u := range []struct {
		div  float64
		unit string
	}{{1e9, "Gbit/s"}, {1e6, "Mbit/s"}, {1e3, "kbit/s"}} {
		if bps >= u.div {
			return fmt.Sprintf("%.2f %s", bps/u.div, u.unit)
		}
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}
