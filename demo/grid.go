package demo

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// A row is where probes start: a host speaking from its own address or,
// for the namespace that plays the outside world, from one of its
// loopback aliases (testbed.Row, by host name until the hosts exist).
type row struct {
	label string
	host  string
	src   netip.Addr // invalid: the host's own address in the column's family
}

// A matrix is one kind of probe from every row to every column, with the
// outcome the intent predicts for each cell written as a table in
// testbed.ParseTable's format:
//
//	ok        connected, and the far side saw the client's own address
//	10.0.0.1  connected, and the far side saw this address instead (NAT)
//	--        dropped (timed out)
//	rj        refused (RST or ICMP unreachable)
//	.         not probed
type matrix struct {
	title string
	probe testbed.Probe
	cols  []testbed.Column
	want  string
	note  string // printed under the table: why a cell is not probed
	rows  []row  // nil: every row of the demo
}

// probeTimeout bounds one probe. A dropped probe costs exactly this long;
// an allowed one answers in milliseconds, but on a busy 2-core machine
// the first packet of a flow can take a few hundred of them through the
// userspace datapath's upcall.
const probeTimeout = 2 * time.Second

// grid is a matrix's rows and its expected and observed tables.
type grid struct {
	m         matrix
	rows      []row
	want, got *testbed.Table
}

// parseWant reads the matrix's expected table; its header must name the
// columns and its rows the rows, in order.
func parseWant(m matrix, rows []row) (*testbed.Table, error) {
	want, err := testbed.ParseTable(m.want)
	if err != nil {
		return nil, fmt.Errorf("matrix %s: expected table: %w", m.title, err)
	}
	var cols, rowLabels []string
	for _, c := range m.cols {
		cols = append(cols, c.Label)
	}
	for _, r := range rows {
		rowLabels = append(rowLabels, r.label)
	}
	if strings.Join(want.Cols, " ") != strings.Join(cols, " ") {
		return nil, fmt.Errorf("matrix %s: expected table's header %v does not name the columns %v in order", m.title, want.Cols, cols)
	}
	if strings.Join(want.Rows, " ") != strings.Join(rowLabels, " ") {
		return nil, fmt.Errorf("matrix %s: expected table's rows %v are not the rows %v in order", m.title, want.Rows, rowLabels)
	}
	return want, nil
}

// probeAll runs every probed cell of every grid, concurrently.
func probeAll(ctx context.Context, hosts map[string]*testbed.Host, grids []*grid) error {
	tgrids := make([]testbed.Grid, len(grids))
	for k, g := range grids {
		tg := testbed.Grid{Probe: g.m.probe, Cols: g.m.cols, Skip: g.want.NotProbed, Timeout: probeTimeout}
		for _, r := range g.rows {
			tg.Rows = append(tg.Rows, testbed.Row{Label: r.label, Host: hosts[r.host], Src: r.src})
		}
		tgrids[k] = tg
	}
	tables, err := testbed.ProbeGrids(ctx, tgrids...)
	for k, g := range grids {
		g.got = tables[k]
	}
	return err
}

// differences lists the cells whose outcome is not the expected one.
func (g *grid) differences() []string {
	var diffs []string
	for _, d := range g.got.Diff(g.want) {
		diffs = append(diffs, g.m.title+" "+d)
	}
	return diffs
}

// print renders the observed table, each differing cell marked with "!".
func (g *grid) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n", g.m.title)
	for _, line := range strings.SplitAfter(g.got.Marked(g.want), "\n") {
		if line != "" {
			fmt.Fprint(w, "  "+line)
		}
	}
	if g.m.note != "" {
		fmt.Fprintf(w, "  (%s)\n", strings.ReplaceAll(g.m.note, "\n", "\n   "))
	}
}
