package testbed

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Family picks which of a host's addresses a probe targets.
type Family int

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// addr is the host's address in the family.
func (f Family) addr(h *Host) (netip.Addr, error) {
	a := h.IP4()
	if f == IPv6 {
		a = h.IP6()
	}
	if !a.IsValid() {
		return netip.Addr{}, fmt.Errorf("host %s has no IPv%d address", h.state.Name, f)
	}
	return a, nil
}

// A Row is where a matrix's probes start: a host, speaking from its own
// address or, when Src is valid, from Src (one of its loopback aliases,
// for a namespace that plays several outside machines at once).
type Row struct {
	Label string
	Host  *Host
	Src   netip.Addr
}

// A Column is where a matrix's probes go: Addr when it is valid (a
// floating IP, a server behind the uplink), otherwise Host's address in
// the probe's family. Port, when not 0, replaces the port of a TCP or UDP
// probe (a port forward's external port); a ping ignores it.
type Column struct {
	Label string
	Host  *Host
	Addr  netip.Addr
	Port  uint16
}

// HostRows and HostColumns make each host a row (a column), labelled with
// its name: the rows and columns of a host-to-host matrix.
func HostRows(hosts []*Host) []Row {
	rows := make([]Row, len(hosts))
	for i, h := range hosts {
		rows[i] = Row{Label: h.state.Name, Host: h}
	}
	return rows
}

// HostColumns: see HostRows.
func HostColumns(hosts []*Host) []Column {
	cols := make([]Column, len(hosts))
	for i, h := range hosts {
		cols[i] = Column{Label: h.state.Name, Host: h}
	}
	return cols
}

// dst is where a probe in family f goes.
func (c Column) dst(f Family) (netip.Addr, error) {
	if c.Addr.IsValid() {
		return c.Addr, nil
	}
	if c.Host == nil {
		return netip.Addr{}, fmt.Errorf("column %s has neither an address nor a host", c.Label)
	}
	return f.addr(c.Host)
}

// port is the column's port, or the probe's.
func (c Column) port(p uint16) uint16 {
	if c.Port != 0 {
		return c.Port
	}
	return p
}

// Probe is one kind of check from a row to a column.
type Probe struct {
	Name string // e.g. "tcp4/8080"
	Run  func(ctx context.Context, from Row, to Column) (Result, error)
}

// PingProbe pings the column's address (a host column: its address in
// family f).
func PingProbe(f Family) Probe {
	return Probe{Name: "ping" + strconv.Itoa(int(f)), Run: func(ctx context.Context, from Row, to Column) (Result, error) {
		dst, err := to.dst(f)
		if err != nil {
			return Result{}, err
		}
		return ping(ctx, from.Host, from.Src, dst)
	}}
}

// TCPProbe connects to port (or the column's own) on the column's address;
// the destination must run ServeTCP on it.
func TCPProbe(f Family, port uint16) Probe { return portProbe("tcp", f, port, tcpConnect) }

// UDPProbe exchanges a datagram with port (or the column's own) on the
// column's address; the destination must run ServeUDP on it.
func UDPProbe(f Family, port uint16) Probe { return portProbe("udp", f, port, udpExchange) }

// portProbe is a TCP or UDP probe: exchange with the echo server at the
// column's address and port.
func portProbe(proto string, f Family, port uint16, exchange func(context.Context, *Host, dialOpts, netip.AddrPort) (Result, error)) Probe {
	return Probe{Name: fmt.Sprintf("%s%d/%d", proto, f, port), Run: func(ctx context.Context, from Row, to Column) (Result, error) {
		dst, err := to.dst(f)
		if err != nil {
			return Result{}, err
		}
		return exchange(ctx, from.Host, dialOpts{src: from.Src}, netip.AddrPortFrom(dst, to.port(port)))
	}}
}

// A Grid is one probe from each of its rows to each of its columns.
type Grid struct {
	Probe Probe
	Rows  []Row
	Cols  []Column
	// Skip, when set, names the cells not to probe (for an expected
	// table: its NotProbed). Without it, every cell is probed except a
	// host's own column (same host, no address of its own).
	Skip func(row, col int) bool
	// Timeout bounds each probe; 0 means DefaultProbeTimeout. A dropped
	// probe costs exactly this long.
	Timeout time.Duration
}

func (g Grid) skip(i, j int) bool {
	if g.Skip != nil {
		return g.Skip(i, j)
	}
	return g.Rows[i].Host == g.Cols[j].Host && !g.Cols[j].Addr.IsValid()
}

// matrixParallelism bounds the probes in flight: enough that a matrix of
// denied probes costs a few timeouts in all, not one per cell.
const matrixParallelism = 16

// Matrix runs the probe from every host to every other host and returns
// the table of outcomes. Errors are probes that could not be made; the
// table is complete only when the error is nil.
func Matrix(ctx context.Context, hosts []*Host, p Probe) (*Table, error) {
	tables, err := ProbeGrids(ctx, Grid{Probe: p, Rows: HostRows(hosts), Cols: HostColumns(hosts)})
	return tables[0], err
}

// ProbeGrids runs every probed cell of every grid concurrently, at most
// matrixParallelism at a time, and returns one table per grid. Errors are
// probes that could not be made (and the context's end); the tables are
// complete only when the error is nil.
func ProbeGrids(ctx context.Context, grids ...Grid) ([]*Table, error) {
	tables := make([]*Table, len(grids))
	var (
		g    errgroup.Group
		mu   sync.Mutex
		errs []error
	)
	g.SetLimit(matrixParallelism)
	for k, grid := range grids {
		t := newTable(grid.Rows, grid.Cols)
		tables[k] = t
		for i, from := range grid.Rows {
			for j, to := range grid.Cols {
				if grid.skip(i, j) {
					continue
				}
				// A failed probe is collected, not returned: one cell that
				// cannot be probed must not cancel the others.
				g.Go(func() error {
					pctx, cancel := ctx, context.CancelFunc(func() {})
					if grid.Timeout > 0 {
						pctx, cancel = context.WithTimeout(ctx, grid.Timeout)
					}
					defer cancel()
					res, err := grid.Probe.Run(pctx, from, to)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, fmt.Errorf("%s %s -> %s: %w", grid.Probe.Name, from.Label, to.Label, err))
						t.Cells[i][j] = cellError
						return nil
					}
					t.Cells[i][j] = CellOf(res)
					return nil
				})
			}
		}
	}
	_ = g.Wait() // every Go returns nil
	if err := ctx.Err(); err != nil {
		return tables, err // the probes' errors are its consequences
	}
	return tables, errors.Join(errs...)
}

// A Cell is what one probe found, in the words of a table:
//
//	ok        reached; a TCP/UDP echo saw the client's own address
//	10.0.0.1  reached, and the echo server saw this source instead (NAT)
//	--        dropped: nothing came back in time
//	rj        refused: a RST or an ICMP unreachable came back
//	.         not probed
type Cell string

// The cells that are not an address.
const (
	CellOK        Cell = "ok"
	CellDropped   Cell = "--"
	CellRefused   Cell = "rj"
	CellNotProbed Cell = "."
	cellError     Cell = "error" // the probe could not be made
)

// CellOf describes a probe's result as a cell.
func CellOf(r Result) Cell {
	switch r.Outcome {
	case OK:
		if r.Seen.IsValid() && r.Local.IsValid() && r.Seen.Addr() != r.Local.Addr() {
			return Cell(r.Seen.Addr().String())
		}
		return CellOK
	case Refused:
		return CellRefused
	case TimedOut:
		return CellDropped
	}
	return CellNotProbed
}

// valid reports whether c is one of the cells a table may hold.
func (c Cell) valid() bool {
	switch c {
	case CellOK, CellDropped, CellRefused, CellNotProbed:
		return true
	}
	_, err := netip.ParseAddr(string(c))
	return err == nil
}

// Table is a reachability matrix: Cells[i][j] is what the probe from
// Rows[i] to Cols[j] found.
type Table struct {
	Rows, Cols []string
	Cells      [][]Cell
}

// newTable is a table of the labels with every cell not probed.
func newTable(rows []Row, cols []Column) *Table {
	t := &Table{Cells: make([][]Cell, len(rows))}
	for _, c := range cols {
		t.Cols = append(t.Cols, c.Label)
	}
	for i, r := range rows {
		t.Rows = append(t.Rows, r.Label)
		t.Cells[i] = make([]Cell, len(cols))
		for j := range cols {
			t.Cells[i][j] = CellNotProbed
		}
	}
	return t
}

// UniformTable is the table in which every host reaches every other with
// outcome o: the expectation for a flat network.
func UniformTable(hosts []*Host, o Outcome) *Table {
	t := newTable(HostRows(hosts), HostColumns(hosts))
	for i := range hosts {
		for j := range hosts {
			if i != j {
				t.Cells[i][j] = CellOf(Result{Outcome: o})
			}
		}
	}
	return t
}

// NotProbed reports whether the cell is "." (a Grid's Skip for the
// table of what a matrix should find).
func (t *Table) NotProbed(row, col int) bool { return t.Cells[row][col] == CellNotProbed }

// String renders the table with sources as rows and destinations as
// columns, each column as wide as its widest cell:
//
//	    h1  h2  h3
//	h1  .   ok  --
//	h2  ok  .   rj
//	h3  --  rj  .
func (t *Table) String() string { return t.render(nil) }

// Marked is String with every cell that differs from want's marked "!".
// The tables must have the same rows and columns.
func (t *Table) Marked(want *Table) string { return t.render(want) }

func (t *Table) render(want *Table) string {
	lines := make([][]string, len(t.Rows)+1)
	lines[0] = append([]string{""}, t.Cols...)
	for i, r := range t.Rows {
		lines[i+1] = []string{r}
		for j := range t.Cols {
			cell := string(t.Cells[i][j])
			if want != nil && t.Cells[i][j] != want.Cells[i][j] {
				cell += "!"
			}
			lines[i+1] = append(lines[i+1], cell)
		}
	}
	widths := make([]int, len(lines[0]))
	for _, line := range lines {
		for j, cell := range line {
			widths[j] = max(widths[j], len(cell))
		}
	}
	var b strings.Builder
	for _, line := range lines {
		var l strings.Builder
		for j, cell := range line {
			fmt.Fprintf(&l, "%-*s  ", widths[j], cell)
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	return b.String()
}

// ParseTable reads a table in String's format, so that tests can write the
// matrix they expect as text: a header of column labels, then one line
// per row, its label and a cell per column. Blank lines and surrounding
// space are ignored. A table whose rows and columns carry the same labels
// is a host-to-host matrix: its rows follow the column order, and "."
// belongs on the diagonal and only there (a host does not probe itself,
// every other cell is probed).
func ParseTable(text string) (*Table, error) {
	var lines [][]string
	for _, line := range strings.Split(text, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 {
			lines = append(lines, fields)
		}
	}
	if len(lines) < 2 {
		return nil, errors.New("parse table: want a header and at least one row")
	}
	t := &Table{Cols: lines[0]}
	for _, row := range lines[1:] {
		t.Rows = append(t.Rows, row[0])
	}
	hosts := sameLabels(t.Rows, t.Cols)
	for i, row := range lines[1:] {
		if hosts && row[0] != t.Cols[i] {
			return nil, fmt.Errorf("parse table: row %d is %q, want %q (rows follow the column order)", i+1, row[0], t.Cols[i])
		}
		if len(row)-1 != len(t.Cols) {
			return nil, fmt.Errorf("parse table: row %s has %d cells, want %d", row[0], len(row)-1, len(t.Cols))
		}
		cells := make([]Cell, len(t.Cols))
		for j, sym := range row[1:] {
			c := Cell(sym)
			if !c.valid() {
				return nil, fmt.Errorf("parse table: row %s column %s: %q is not one of ok, rj, --, . or an address", row[0], t.Cols[j], sym)
			}
			if hosts && (i == j) != (c == CellNotProbed) {
				return nil, fmt.Errorf("parse table: row %s column %s: %q; '.' belongs on the diagonal and only there", row[0], t.Cols[j], sym)
			}
			cells[j] = c
		}
		t.Cells = append(t.Cells, cells)
	}
	return t, nil
}

// sameLabels reports whether a and b hold the same labels, in any order.
func sameLabels(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[string]bool{}
	for _, l := range b {
		in[l] = true
	}
	for _, l := range a {
		if !in[l] {
			return false
		}
	}
	return true
}

// Diff lists the cells in which t differs from want, as
// "h1 -> h3: got --, want ok"; nil means equal.
func (t *Table) Diff(want *Table) []string {
	if strings.Join(t.Rows, " ") != strings.Join(want.Rows, " ") {
		return []string{fmt.Sprintf("rows: got %v, want %v", t.Rows, want.Rows)}
	}
	if strings.Join(t.Cols, " ") != strings.Join(want.Cols, " ") {
		return []string{fmt.Sprintf("columns: got %v, want %v", t.Cols, want.Cols)}
	}
	var diffs []string
	for i, from := range t.Rows {
		for j, to := range t.Cols {
			if got, w := t.Cells[i][j], want.Cells[i][j]; got != w {
				diffs = append(diffs, fmt.Sprintf("%s -> %s: got %s, want %s", from, to, got, w))
			}
		}
	}
	return diffs
}
