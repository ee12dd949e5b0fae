package demo

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/testbed"
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
		if m.probe.Run == nil {
			t.Errorf("matrix %s has no probe", m.title)
		}
	}
}

func TestParseWantRefusesMalformedTables(t *testing.T) {
	cols := []testbed.Column{{Label: "a"}, {Label: "b"}}
	two := []row{{label: "a"}, {label: "c"}}
	for _, tc := range []struct {
		name, want, err string
	}{
		{"well formed", "a b\na . ok\nc 192.0.2.10 .", ""},
		{"missing row", "a b\na . ok", "are not the rows [a c]"},
		{"header out of order", "b a\na . ok\nc -- .", "does not name the columns"},
		{"extra column", "a b d\na . ok --\nc -- . ok", "does not name the columns"},
		{"row out of order", "a b\nc -- .\na . ok", "are not the rows"},
		{"short row", "a b\na .\nc -- .", "row a has 1 cells, want 2"},
		{"unknown cell", "a b\na . yes\nc -- .", `"yes" is not one of`},
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
	want, _ := testbed.ParseTable("db1 internet\nweb1 -- 192.0.2.11")
	got, _ := testbed.ParseTable("db1 internet\nweb1 ok 192.0.2.11")
	g := &grid{m: matrix{title: "tcp/22"}, want: want, got: got}
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
