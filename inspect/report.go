package inspect

import (
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/pipeline"
)

// FlowFilter selects installed flows; zero values select everything.
type FlowFilter struct {
	Group string // flows of the group's rules and the group itself
	Port  string // flows of the port (its cookie)
	Table string // a table number or name
}

// WriteFlows lists the installed flows that pass f, table by table, each
// with the object behind it and its counters, then the per-rule counters.
func (s *Snapshot) WriteFlows(w io.Writer, f FlowFilter) error {
	table := -1
	if f.Table != "" {
		if n, err := strconv.Atoi(f.Table); err == nil {
			table = n
		} else {
			for t := 0; t < 256; t++ {
				if pipeline.Table(t).Name() == f.Table {
					table = t
				}
			}
			if table < 0 {
				return fmt.Errorf("no table named %q", f.Table)
			}
		}
	}
	type row struct {
		flow  flows.Flow
		stats flows.FlowStats
		obj   string
	}
	var rows []row
	for i, fl := range s.Installed {
		obj := pipeline.DescribeCookie(s.Intent, fl.Cookie)
		if table >= 0 && int(fl.Table) != table {
			continue
		}
		if f.Group != "" && !belongsToGroup(obj, f.Group) {
			continue
		}
		if f.Port != "" && obj != "ports["+f.Port+"]" {
			continue
		}
		rows = append(rows, row{fl, s.Stats[i], obj})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].flow.Table < rows[j].flow.Table })
	last := -1
	for _, r := range rows {
		if int(r.flow.Table) != last {
			last = int(r.flow.Table)
			fmt.Fprintf(w, "table %d (%s)\n", last, pipeline.Table(last).Name())
		}
		fmt.Fprintf(w, "  %-60s n_packets=%d n_bytes=%d\n      %s\n", r.obj, r.stats.Packets, r.stats.Bytes, r.flow.String())
	}
	fmt.Fprintf(w, "%d flows\n", len(rows))
	return s.writeRuleCounters(w, f.Group)
}

func belongsToGroup(obj, group string) bool {
	p := "security_groups[" + group + "]"
	return len(obj) >= len(p) && obj[:len(p)] == p
}

// writeRuleCounters sums packets and bytes per security-group rule.
func (s *Snapshot) writeRuleCounters(w io.Writer, group string) error {
	refs := pipeline.RuleCookies(s.Intent)
	type counts struct{ pkts, bytes uint64 }
	sum := map[uint64]*counts{}
	for i, fl := range s.Installed {
		c := fl.Cookie & pipeline.CookieObjectMask
		if _, ok := refs[c]; !ok {
			continue
		}
		if sum[c] == nil {
			sum[c] = &counts{}
		}
		sum[c].pkts += s.Stats[i].Packets
		sum[c].bytes += s.Stats[i].Bytes
	}
	cookies := make([]uint64, 0, len(sum))
	for c := range sum {
		if group == "" || refs[c].Group == group {
			cookies = append(cookies, c)
		}
	}
	sort.Slice(cookies, func(i, j int) bool {
		a, b := refs[cookies[i]], refs[cookies[j]]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Index < b.Index
	})
	fmt.Fprintf(w, "\nper-rule counters\n")
	for _, c := range cookies {
		fmt.Fprintf(w, "  %-70s packets=%d bytes=%d\n", pipeline.DescribeCookie(s.Intent, c), sum[c].pkts, sum[c].bytes)
	}
	return nil
}

// WriteDiff prints what the switch lacks (+), holds in excess (-) and
// holds differently (~), and reports whether anything differs.
func (s *Snapshot) WriteDiff(w io.Writer) bool {
	cs := flows.Diff(s.Desired, s.Installed)
	for _, l := range []struct {
		mark string
		fs   []flows.Flow
	}{{"+", cs.Add}, {"~", cs.Modify}, {"-", cs.Delete}} {
		for _, f := range l.fs {
			fmt.Fprintf(w, "%s %s\n    # %s\n", l.mark, f.String(), pipeline.DescribeCookie(s.Intent, f.Cookie))
		}
	}
	fmt.Fprintf(w, "%d desired, %d installed: %d to add, %d to modify, %d to delete\n",
		len(s.Desired), len(s.Installed), len(cs.Add), len(cs.Modify), len(cs.Delete))
	return !cs.Empty()
}
