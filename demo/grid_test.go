package demo

import (
	"net/netip"
	"strings"
	"testing"
)

// Every expected table of the worked example is well formed, so a typo
// shows up here rather than as a failed demo on a root machine.
func TestWorkedExampleExpectationsParse(t *testing.T) {
	for _, m := range workedExample {
		r := m.rows
		if r == nil {
			r = rows
		}
		if _, err := parseWant(m, r); err != nil {
			t.Error(err)
		}
	}
}

func TestParseWantRefusesMalformedTables(t *testing.T) {
	cols := []column{{label: "a", dst: netip.MustParseAddr("10.0.0.1")}, {label: "b", dst: netip.MustParseAddr("10.0.0.2")}}
	two := []row{{label: "a"}, {label: "b"}}
	for _, tc := range []struct {
		name, want, err string
	}{
		{"well formed", "a b\na . ok\nb 192.0.2.10 .", ""},
		{"missing row", "a b\na . ok", "want a header and 2 rows"},
		{"header out of order", "b a\na . ok\nb -- .", "does not name the columns"},
		{"extra column", "a b c\na . ok\nb -- .", "does not name the columns"},
		{"row out of order", "a b\nb -- .\na . ok", "want a and 2 cells"},
		{"short row", "a b\na .\nb -- .", "want a and 2 cells"},
		{"unknown cell", "a b\na . yes\nb -- .", `cell "yes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseWant(matrix{title: "m", cols: cols, want: tc.want}, two)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// A cell that differs is listed and marked; equal cells are not.
func TestGridDifferencesAndPrint(t *testing.T) {
	g := &grid{
		m:    matrix{title: "tcp/22", cols: []column{{label: "db1"}, {label: "internet"}}},
		rows: []row{{label: "web1"}},
		want: [][]string{{"--", "192.0.2.11"}},
		got:  [][]string{{"ok", "192.0.2.11"}},
	}
	diffs := g.differences()
	if len(diffs) != 1 || diffs[0] != "tcp/22 web1 -> db1: got ok, want --" {
		t.Errorf("differences %q", diffs)
	}
	var b strings.Builder
	g.print(&b)
	if want := "\ntcp/22\n        db1  internet\n  web1  ok!  192.0.2.11\n"; b.String() != want {
		t.Errorf("printed\n%q\nwant\n%q", b.String(), want)
	}
}
