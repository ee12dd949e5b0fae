package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// A row is where probes start: a host speaking from its own address or,
// for the namespace that plays the outside world, from one of its
// loopback aliases.
type row struct {
	label string
	host  string
	src   netip.Addr // invalid: the host's own address in the column's family
}

// A column is where probes go: an address and, in a TCP matrix, a port.
type column struct {
	label string
	dst   netip.Addr
	port  uint16 // 0: ICMP echo
}

// A matrix is one kind of probe from every row to every column, with the
// outcome the intent predicts for each cell written as a table:
//
//	ok        connected, and the far side saw the client's own address
//	10.0.0.1  connected, and the far side saw this address instead (NAT)
//	--        dropped (timed out)
//	rj        refused (RST or ICMP unreachable)
//	.         not probed
type matrix struct {
	title string
	cols  []column
	want  string
	note  string // printed under the table: why a cell is not probed
	rows  []row  // nil: every row of the demo
}

// cell symbols for outcomes other than a connection.
const (
	cellDropped    = "--"
	cellRefused    = "rj"
	cellNotProbed  = "."
	cellConnected  = "ok"
	cellDifference = "!"
)

// probeTimeout bounds one probe. A dropped probe costs exactly this long;
// an allowed one answers in milliseconds, but on a busy 2-core machine
// the first packet of a flow can take a few hundred of them through the
// userspace datapath's upcall.
const probeTimeout = 2 * time.Second

// probeParallelism bounds the probes in flight, so that the dropped ones
// cost a few timeouts in all, not one each.
const probeParallelism = 16

// grid is a matrix's expected and observed cells, rows × columns.
type grid struct {
	m         matrix
	rows      []row
	want, got [][]string
}

// parseWant reads the matrix's expected table; its header must name the
// columns and its rows the rows, in order.
func parseWant(m matrix, rows []row) ([][]string, error) {
	var lines [][]string
	for _, line := range strings.Split(m.want, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			lines = append(lines, f)
		}
	}
	if len(lines) != len(rows)+1 {
		return nil, fmt.Errorf("matrix %s: expected table has %d lines, want a header and %d rows", m.title, len(lines), len(rows))
	}
	if strings.Join(lines[0], " ") != strings.Join(labels(m.cols), " ") {
		return nil, fmt.Errorf("matrix %s: expected table's header %v does not name the columns %v in order", m.title, lines[0], labels(m.cols))
	}
	want := make([][]string, len(rows))
	for i, r := range rows {
		line := lines[i+1]
		if line[0] != r.label || len(line) != len(m.cols)+1 {
			return nil, fmt.Errorf("matrix %s: expected row %d is %v, want %s and %d cells", m.title, i, line, r.label, len(m.cols))
		}
		for _, cell := range line[1:] {
			if _, err := netip.ParseAddr(cell); err != nil && !strings.Contains(" ok -- rj . ", " "+cell+" ") {
				return nil, fmt.Errorf("matrix %s: row %s: cell %q is not ok, --, rj, . or an address", m.title, r.label, cell)
			}
		}
		want[i] = line[1:]
	}
	return want, nil
}

// probeAll runs every probed cell of every grid, concurrently.
func probeAll(ctx context.Context, hosts map[string]*testbed.Host, grids []*grid) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, probeParallelism)
	)
	for _, g := range grids {
		g.got = make([][]string, len(g.rows))
		for i, r := range g.rows {
			g.got[i] = make([]string, len(g.m.cols))
			for j, c := range g.m.cols {
				if g.want[i][j] == cellNotProbed {
					g.got[i][j] = cellNotProbed
					continue
				}
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					cell, err := probe(ctx, hosts[r.host], r.src, c)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, fmt.Errorf("%s %s -> %s: %w", g.m.title, r.label, c.label, err))
					}
					g.got[i][j] = cell
				})
			}
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// probe makes one attempt from h (from src when valid) to the column and
// describes the outcome as a cell.
func probe(ctx context.Context, h *testbed.Host, src netip.Addr, c column) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	own := src
	switch {
	case own.IsValid():
	case c.dst.Is6():
		own = h.IP6()
	default:
		own = h.IP4()
	}
	var res testbed.Result
	var err error
	switch {
	case c.port == 0 && src.IsValid():
		res, err = pingFrom(ctx, h, src, c.dst)
	case c.port == 0:
		res, err = testbed.Ping(ctx, h, c.dst)
	default:
		res, err = testbed.TCPConnectFrom(ctx, h, own, c.dst, c.port)
	}
	if err != nil {
		return "error", err
	}
	switch res.Outcome {
	case testbed.OK:
		if res.Seen.IsValid() && res.Seen.Addr() != own {
			return res.Seen.Addr().String(), nil
		}
		return cellConnected, nil
	case testbed.Refused:
		return cellRefused, nil
	}
	return cellDropped, nil
}

// pingFrom pings dst from one of h's alias addresses (testbed.Ping always
// uses the host's primary address).
func pingFrom(ctx context.Context, h *testbed.Host, src, dst netip.Addr) (testbed.Result, error) {
	out, err := h.Exec(ctx, "ping", "-n", "-c", "1", "-i", "0.2", "-w", "1", "-I", src.String(), dst.String())
	switch {
	case err == nil:
		return testbed.Result{Outcome: testbed.OK}, nil
	case ctx.Err() != nil:
		return testbed.Result{}, ctx.Err()
	case strings.Contains(out, "nreachable"):
		return testbed.Result{Outcome: testbed.Refused, Detail: out}, nil
	}
	return testbed.Result{Outcome: testbed.TimedOut, Detail: out}, nil
}

// differences lists the cells whose outcome is not the expected one.
func (g *grid) differences() []string {
	var diffs []string
	for i, r := range g.rows {
		for j, c := range g.m.cols {
			if g.got[i][j] != g.want[i][j] {
				diffs = append(diffs, fmt.Sprintf("%s %s -> %s: got %s, want %s", g.m.title, r.label, c.label, g.got[i][j], g.want[i][j]))
			}
		}
	}
	return diffs
}

// print renders the observed table, each differing cell marked with "!".
func (g *grid) print(w io.Writer) {
	cells := make([][]string, len(g.rows)+1)
	cells[0] = append([]string{""}, labels(g.m.cols)...)
	for i, r := range g.rows {
		cells[i+1] = []string{r.label}
		for j := range g.m.cols {
			cell := g.got[i][j]
			if cell != g.want[i][j] {
				cell += cellDifference
			}
			cells[i+1] = append(cells[i+1], cell)
		}
	}
	widths := make([]int, len(cells[0]))
	for _, line := range cells {
		for j, cell := range line {
			widths[j] = max(widths[j], len(cell))
		}
	}
	fmt.Fprintf(w, "\n%s\n", g.m.title)
	for _, line := range cells {
		var b strings.Builder
		for j, cell := range line {
			fmt.Fprintf(&b, "  %-*s", widths[j], cell)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	if g.m.note != "" {
		fmt.Fprintf(w, "  (%s)\n", strings.ReplaceAll(g.m.note, "\n", "\n   "))
	}
}

func labels(cols []column) []string {
	var l []string
	for _, c := range cols {
		l = append(l, c.label)
	}
	return l
}
