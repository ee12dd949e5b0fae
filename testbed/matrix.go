package testbed

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
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

// Probe is one kind of check from one host to another.
type Probe struct {
	Name string // e.g. "tcp4/8080"
	Run  func(ctx context.Context, from, to *Host) (Result, error)
}

// PingProbe pings the destination's address in family f.
func PingProbe(f Family) Probe {
	return Probe{Name: "ping" + strconv.Itoa(int(f)), Run: func(ctx context.Context, from, to *Host) (Result, error) {
		dst, err := f.addr(to)
		if err != nil {
			return Result{}, err
		}
		return Ping(ctx, from, dst)
	}}
}

// TCPProbe connects to port on the destination's address in family f; the
// destination must run ServeTCP(port).
func TCPProbe(f Family, port uint16) Probe {
	return Probe{Name: fmt.Sprintf("tcp%d/%d", f, port), Run: func(ctx context.Context, from, to *Host) (Result, error) {
		dst, err := f.addr(to)
		if err != nil {
			return Result{}, err
		}
		return TCPConnect(ctx, from, dst, port)
	}}
}

// UDPProbe exchanges a datagram with port on the destination's address in
// family f; the destination must run ServeUDP(port).
func UDPProbe(f Family, port uint16) Probe {
	return Probe{Name: fmt.Sprintf("udp%d/%d", f, port), Run: func(ctx context.Context, from, to *Host) (Result, error) {
		dst, err := f.addr(to)
		if err != nil {
			return Result{}, err
		}
		return UDPExchange(ctx, from, dst, port)
	}}
}

// matrixParallelism bounds the probes in flight: enough that a matrix of
// denied probes costs about one timeout, not one per pair.
const matrixParallelism = 16

// Matrix runs the probe from every host to every other host, concurrently,
// and returns the table of outcomes. Errors are probes that could not be
// made; the table is complete only when the error is nil.
func Matrix(ctx context.Context, hosts []*Host, p Probe) (*Table, error) {
	t := &Table{Cells: make([][]Outcome, len(hosts))}
	for i, h := range hosts {
		t.Hosts = append(t.Hosts, h.state.Name)
		t.Cells[i] = make([]Outcome, len(hosts))
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, matrixParallelism)
	)
	for i, from := range hosts {
		for j, to := range hosts {
			if i == j {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				res, err := p.Run(ctx, from, to)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s -> %s: %w", p.Name, from.state.Name, to.state.Name, err))
					return
				}
				t.Cells[i][j] = res.Outcome
			}()
		}
	}
	wg.Wait()
	return t, errors.Join(errs...)
}

// Table is a reachability matrix: Cells[i][j] is the outcome from Hosts[i]
// to Hosts[j]; the diagonal is not probed and stays zero.
type Table struct {
	Hosts []string
	Cells [][]Outcome
}

// Symbols used by String and ParseTable.
var cellSymbols = map[Outcome]string{0: ".", OK: "ok", Refused: "rj", TimedOut: "--"}

// UniformTable is the table in which every host reaches every other with
// outcome o: the expectation for a flat network.
func UniformTable(hosts []*Host, o Outcome) *Table {
	t := &Table{Cells: make([][]Outcome, len(hosts))}
	for i, h := range hosts {
		t.Hosts = append(t.Hosts, h.state.Name)
		t.Cells[i] = make([]Outcome, len(hosts))
		for j := range hosts {
			if i != j {
				t.Cells[i][j] = o
			}
		}
	}
	return t
}

// String renders the table with sources as rows and destinations as
// columns: "ok" reached, "rj" refused, "--" timed out, "." not probed.
//
//	    h1  h2  h3
//	h1  .   ok  --
//	h2  ok  .   rj
//	h3  --  rj  .
func (t *Table) String() string {
	width := 2
	for _, h := range t.Hosts {
		width = max(width, len(h))
	}
	var b strings.Builder
	cell := func(s string) { fmt.Fprintf(&b, "%-*s  ", width, s) }
	cell("")
	for _, h := range t.Hosts {
		cell(h)
	}
	for i, h := range t.Hosts {
		b.WriteString("\n")
		cell(h)
		for j := range t.Hosts {
			sym, ok := cellSymbols[t.Cells[i][j]]
			if !ok {
				sym = "?"
			}
			cell(sym)
		}
	}
	lines := strings.Split(b.String(), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

// ParseTable reads a table in String's format, so that tests can write the
// matrix they expect as text. Blank lines and surrounding space are
// ignored; rows must follow the column order.
func ParseTable(text string) (*Table, error) {
	var lines [][]string
	for _, line := range strings.Split(text, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 {
			lines = append(lines, fields)
		}
	}
	if len(lines) == 0 {
		return nil, errors.New("parse table: empty")
	}
	t := &Table{Hosts: lines[0]}
	if len(lines)-1 != len(t.Hosts) {
		return nil, fmt.Errorf("parse table: %d columns but %d rows", len(t.Hosts), len(lines)-1)
	}
	symbols := map[string]Outcome{}
	for o, s := range cellSymbols {
		symbols[s] = o
	}
	for i, row := range lines[1:] {
		if row[0] != t.Hosts[i] {
			return nil, fmt.Errorf("parse table: row %d is %q, want %q (rows follow the column order)", i+1, row[0], t.Hosts[i])
		}
		if len(row)-1 != len(t.Hosts) {
			return nil, fmt.Errorf("parse table: row %s has %d cells, want %d", row[0], len(row)-1, len(t.Hosts))
		}
		cells := make([]Outcome, len(t.Hosts))
		for j, sym := range row[1:] {
			o, ok := symbols[sym]
			if !ok {
				return nil, fmt.Errorf("parse table: row %s column %s: %q is not one of ok, rj, --, .", row[0], t.Hosts[j], sym)
			}
			if (i == j) != (o == 0) {
				return nil, fmt.Errorf("parse table: row %s column %s: %q; '.' belongs on the diagonal and only there", row[0], t.Hosts[j], sym)
			}
			cells[j] = o
		}
		t.Cells = append(t.Cells, cells)
	}
	return t, nil
}

// Diff lists the cells in which t differs from want, as
// "h1 -> h3: got timed out, want ok"; nil means equal.
func (t *Table) Diff(want *Table) []string {
	if strings.Join(t.Hosts, " ") != strings.Join(want.Hosts, " ") {
		return []string{fmt.Sprintf("hosts: got %v, want %v", t.Hosts, want.Hosts)}
	}
	var diffs []string
	for i, from := range t.Hosts {
		for j, to := range t.Hosts {
			if got, w := t.Cells[i][j], want.Cells[i][j]; got != w {
				diffs = append(diffs, fmt.Sprintf("%s -> %s: got %s, want %s", from, to, got, w))
			}
		}
	}
	return diffs
}
