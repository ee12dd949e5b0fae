package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// DPStats are the userspace datapath's counters (ovs-appctl
// dpif-netdev/pmd-stats-show, summed over its threads), cleared before
// each run and summed over runs. Both bridges share the datapath, but runs
// take turns, so each run's counters are its own traffic. On the kernel
// datapath there are none and every field stays 0.
type DPStats struct {
	Packets        uint64 // received from ports
	Recirculations uint64 // extra passes: ct(table=...) sends a packet round again
	EMCHits        uint64 // exact-match cache
	SMCHits        uint64 // signature-match cache
	MegaflowHits   uint64 // datapath classifier (dpcls)
	Upcalls        uint64 // misses handled by ofproto (slow path), successful
	FailedUpcalls  uint64
	// SubtableLookups is the classifier's subtable lookups over all
	// megaflow hits (OVS prints the average per hit).
	SubtableLookups float64
	// VswitchdCPU is the CPU time all of ovs-vswitchd's threads ran
	// (datapath, handlers, revalidators; its system calls included).
	// Unlike a rate, it barely depends on what else the machine runs.
	VswitchdCPU time.Duration
}

// CPUPerPacket is ovs-vswitchd's CPU time per received packet.
func (s DPStats) CPUPerPacket() time.Duration {
	if s.Packets == 0 {
		return 0
	}
	return s.VswitchdCPU / time.Duration(s.Packets)
}

// Passes is the number of datapath passes per received packet: 1 without
// recirculation.
func (s DPStats) Passes() float64 {
	if s.Packets == 0 {
		return 0
	}
	return float64(s.Packets+s.Recirculations) / float64(s.Packets)
}

// LookupsPerHit is the datapath classifier's subtable lookups per
// megaflow hit: 1 when the first subtable tried matches.
func (s DPStats) LookupsPerHit() float64 {
	if s.MegaflowHits == 0 {
		return 0
	}
	return s.SubtableLookups / float64(s.MegaflowHits)
}

// dpCounter takes the counters of one run: start before the run, stop
// after it.
type dpCounter struct {
	o   *testbed.OVS
	cpu time.Duration
}

func startDPStats(ctx context.Context, o *testbed.OVS) *dpCounter {
	if o.Datapath == testbed.DatapathNetdev {
		_, _ = o.Appctl(ctx, "dpif-netdev/pmd-stats-clear")
	}
	return &dpCounter{o: o, cpu: processCPU(o.VswitchdPID())}
}

func (c *dpCounter) stop(ctx context.Context) DPStats {
	cpu := processCPU(c.o.VswitchdPID()) - c.cpu
	var s DPStats
	if c.o.Datapath == testbed.DatapathNetdev {
		if out, err := c.o.Appctl(ctx, "dpif-netdev/pmd-stats-show"); err == nil {
			s = parseDPStats(out)
		}
	}
	s.VswitchdCPU = max(0, cpu)
	return s
}

// processCPU is the time all threads of pid have run on a CPU
// (/proc/PID/task/TID/schedstat: nanoseconds on the CPU first), or 0
// when it cannot be read.
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total time.Duration
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		first, _, _ := strings.Cut(string(data), " ")
		if ns, err := strconv.ParseInt(first, 10, 64); err == nil {
			total += time.Duration(ns)
		}
	}
	return total
}

// parseDPStats sums the counters of every thread in pmd-stats-show's
// output ("  packets received: 123", "  processing cycles: 456 (7.8%)").
func parseDPStats(out string) DPStats {
	var s DPStats
	fields := map[string]*uint64{
		"packets received":         &s.Packets,
		"packet recirculations":    &s.Recirculations,
		"emc hits":                 &s.EMCHits,
		"smc hits":                 &s.SMCHits,
		"megaflow hits":            &s.MegaflowHits,
		"miss with success upcall": &s.Upcalls,
		"miss with failed upcall":  &s.FailedUpcalls,
	}
	var lookups []float64 // per thread, in order, with its megaflow hits
	var hits []uint64
	for _, line := range strings.Split(out, "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(strings.TrimSpace(val), " ")
		if key == "avg. subtable lookups per megaflow hit" {
			if f, err := strconv.ParseFloat(num, 64); err == nil {
				lookups = append(lookups, f)
			}
			continue
		}
		p := fields[key]
		if p == nil {
			continue
		}
		if n, err := strconv.ParseUint(num, 10, 64); err == nil {
			*p += n
			if key == "megaflow hits" {
				hits = append(hits, n)
			}
		}
	}
	for i := range min(len(lookups), len(hits)) {
		s.SubtableLookups += lookups[i] * float64(hits[i])
	}
	return s
}
