package testbed

import (
	"net/netip"
	"strings"
	"testing"
)

func TestTableTextRoundTrip(t *testing.T) {
	text := `
	         h1       h2  longname
	h1       .        ok  --
	h2       rj       .   ok
	longname --       ok  .
	`
	tbl, err := ParseTable(text)
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"          h1  h2  longname\n" +
		"h1        .   ok  --\n" +
		"h2        rj  .   ok\n" +
		"longname  --  ok  .\n"
	if got := tbl.String(); got != want {
		t.Errorf("String:\n%s\nwant:\n%s", got, want)
	}
	again, err := ParseTable(tbl.String())
	if err != nil {
		t.Fatal(err)
	}
	if d := again.Diff(tbl); d != nil {
		t.Errorf("round trip differs: %v", d)
	}
	if tbl.Cells[0][2] != CellDropped || tbl.Cells[1][0] != CellRefused || tbl.Cells[2][1] != CellOK {
		t.Errorf("cells parsed as %v", tbl.Cells)
	}
}

func TestParseTableErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"", "want a header and at least one row"},
		{"a b", "want a header and at least one row"},
		{"a b\nb . ok\na ok .", `row 1 is "b", want "a"`},
		{"a b\na . ok ok\nb ok .", "row a has 3 cells, want 2"},
		{"a b\na . yes\nb ok .", `"yes" is not one of`},
		{"a b\nc . 10.0.0.300", `"10.0.0.300" is not one of`},
		{"a b\na ok ok\nb ok .", "'.' belongs on the diagonal"},
		{"a b\na . .\nb ok .", "'.' belongs on the diagonal"},
	} {
		_, err := ParseTable(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseTable(%q) = %v, want an error containing %q", c.text, err, c.want)
		}
	}
}

func TestTableDiff(t *testing.T) {
	got, _ := ParseTable("a b c\na . ok --\nb ok . ok\nc ok rj .")
	want, _ := ParseTable("a b c\na . ok ok\nb ok . ok\nc ok ok .")
	d := got.Diff(want)
	wantDiff := []string{"a -> c: got --, want ok", "c -> b: got rj, want ok"}
	if strings.Join(d, "\n") != strings.Join(wantDiff, "\n") {
		t.Errorf("Diff = %q, want %q", d, wantDiff)
	}
	if d := want.Diff(want); d != nil {
		t.Errorf("a table differs from itself: %v", d)
	}
	other, _ := ParseTable("a b\na . ok\nb ok .")
	if d := want.Diff(other); len(d) != 1 || !strings.HasPrefix(d[0], "rows:") {
		t.Errorf("Diff of tables over other hosts = %v", d)
	}
}

// A table of rows towards addresses: "." anywhere (not probed), an address
// where NAT showed the far side another source; Marked flags differences.
func TestAddressTable(t *testing.T) {
	want, err := ParseTable(`
		          web1  192.0.2.11  internet
		web1      .     .           192.0.2.11
		admin     ok    ok          .
	`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ParseTable("web1 192.0.2.11 internet\nweb1 . . 192.0.2.10\nadmin ok -- .")
	if d := got.Diff(want); strings.Join(d, "\n") != "web1 -> internet: got 192.0.2.10, want 192.0.2.11\nadmin -> 192.0.2.11: got --, want ok" {
		t.Errorf("Diff = %q", d)
	}
	wantMarked := "" +
		"       web1  192.0.2.11  internet\n" +
		"web1   .     .           192.0.2.10!\n" +
		"admin  ok    --!         .\n"
	if m := got.Marked(want); m != wantMarked {
		t.Errorf("Marked:\n%s\nwant:\n%s", m, wantMarked)
	}
	if !want.NotProbed(0, 1) || want.NotProbed(1, 1) {
		t.Error("NotProbed does not follow the '.' cells")
	}
}

// A result is described as the cell a table shows: NAT (the echo server
// saw another source than the client's own) as the address it saw.
func TestCellOf(t *testing.T) {
	own := netip.MustParseAddrPort("10.0.0.11:40000")
	for _, c := range []struct {
		r    Result
		want Cell
	}{
		{Result{Outcome: OK}, CellOK},
		{Result{Outcome: OK, Local: own, Seen: own}, CellOK},
		{Result{Outcome: OK, Local: own, Seen: netip.MustParseAddrPort("192.0.2.10:1024")}, "192.0.2.10"},
		{Result{Outcome: Refused}, CellRefused},
		{Result{Outcome: TimedOut}, CellDropped},
	} {
		if got := CellOf(c.r); got != c.want {
			t.Errorf("CellOf(%+v) = %s, want %s", c.r, got, c.want)
		}
	}
}
