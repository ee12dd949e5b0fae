package demo

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"

	"github.com/flowgate/flowgate/testbed"
)

// check is one connection attempt and what the intent says about it.
type check struct {
	from     string // host
	src      string // source address to bind (the outside's loopbacks); "" = the host's own
	dst      string
	port     uint16
	want     bool   // connects
	wantSeen string // the source address the server must see; "" = not checked
	why      string
}

var checks = []check{
	{"web2", "", "10.0.0.11", 8080, true, "", "web: tcp/8080 from anywhere"},
	{"db1", "", "10.0.0.11", 8080, true, "", "web: tcp/8080 from anywhere"},
	{"web1", "", "10.0.0.21", 3306, true, "", "db: tcp/3306 from members of web"},
	{"db1", "", "10.0.0.12", 3306, false, "", "web has no rule for 3306"},
	{"web1", "", "10.0.0.21", 22, false, "", "db: ssh only from 203.0.113.0/24"},
	{"uplink", "203.0.113.5", "192.0.2.10", 2222, true, "", "forward to db1:22, from the admin network"},
	{"uplink", "198.51.100.10", "192.0.2.10", 2222, false, "", "forward to db1:22, but not from the internet"},
	{"uplink", "198.51.100.10", "192.0.2.11", 8080, true, "", "floating IP of web1, 8080 open to all"},
	{"uplink", "198.51.100.10", "192.0.2.11", 22, false, "", "floating IP of web1, ssh only from admin"},
	{"web1", "", "198.51.100.10", 80, true, "192.0.2.11", "web1 leaves from its floating IP"},
	{"web2", "", "198.51.100.10", 80, true, "192.0.2.10", "masquerade"},
	{"db1", "", "198.51.100.10", 80, true, "192.0.2.10", "masquerade"},
	{"web2", "", "192.0.2.11", 8080, true, "", "hairpin: web1's floating IP from inside"},
}

// checkReachability runs every check, prints the table and returns how
// many differ from the intent. It also prints the tenant matrices.
func checkReachability(ctx context.Context, w io.Writer, hosts map[string]*testbed.Host) int {
	got := make([]string, len(checks))
	ok := make([]bool, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { got[i], ok[i] = run(ctx, hosts, c) })
	}
	wg.Wait()
	fmt.Fprintf(w, "who reaches whom (ok = connected, -- = dropped):\n")
	fmt.Fprintf(w, "  %-24s %-18s %-18s %-18s %s\n", "FROM", "TO", "WANT", "GOT", "WHY")
	failed := 0
	for i, c := range checks {
		from := c.from
		if c.src != "" {
			from = c.src + " (outside)"
		} else {
			from += " " + hosts[c.from].IP4().String()
		}
		want := "--"
		if c.want {
			want = "ok"
			if c.wantSeen != "" {
				want += " as " + c.wantSeen
			}
		}
		mark := ""
		if !ok[i] {
			mark, failed = "   <-- UNEXPECTED", failed+1
		}
		fmt.Fprintf(w, "  %-24s %-18s %-18s %-18s %s%s\n", from, c.dst+":"+strconv.Itoa(int(c.port)), want, got[i], c.why, mark)
	}

	tenant := []*testbed.Host{hosts["web1"], hosts["web2"], hosts["db1"]}
	for _, p := range []testbed.Probe{testbed.TCPProbe(testbed.IPv4, 8080), testbed.TCPProbe(testbed.IPv6, 3306), testbed.TCPProbe(testbed.IPv4, 22)} {
		tbl, err := testbed.Matrix(ctx, tenant, p)
		if err != nil {
			fmt.Fprintf(w, "\n%s: %v\n", p.Name, err)
			failed++
			continue
		}
		fmt.Fprintf(w, "\ntenant matrix %s (rows from, columns to):\n%s", p.Name, tbl)
	}
	return failed
}

// run makes one attempt and reports what happened and whether it is what
// the intent says.
func run(ctx context.Context, hosts map[string]*testbed.Host, c check) (string, bool) {
	h := hosts[c.from]
	dst := netip.MustParseAddr(c.dst)
	if c.src != "" {
		// The outside namespace has several addresses; nc binds the one
		// this check speaks for.
		_, err := h.Exec(ctx, "nc", "-z", "-w", "2", "-s", c.src, c.dst, strconv.Itoa(int(c.port)))
		connected := err == nil
		return outcome(connected), connected == c.want
	}
	res, err := testbed.TCPConnect(ctx, h, dst, c.port)
	if err != nil {
		return "error: " + err.Error(), false
	}
	connected := res.Outcome == testbed.OK
	if !connected {
		return res.Outcome.String(), !c.want && res.Outcome == testbed.TimedOut
	}
	seen := res.Seen.Addr().String()
	if c.wantSeen != "" {
		return "ok as " + seen, c.want && seen == c.wantSeen
	}
	return "ok", c.want
}

func outcome(connected bool) string {
	if connected {
		return "ok"
	}
	return "--"
}
