package testbed

import (
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
		"          h1        h2        longname\n" +
		"h1        .         ok        --\n" +
		"h2        rj        .         ok\n" +
		"longname  --        ok        .\n"
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
	if tbl.Cells[0][2] != TimedOut || tbl.Cells[1][0] != Refused || tbl.Cells[2][1] != OK {
		t.Errorf("cells parsed as %v", tbl.Cells)
	}
}

func TestParseTableErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"", "empty"},
		{"a b\na . ok", "2 columns but 1 rows"},
		{"a b\nb . ok\na ok .", `row 1 is "b", want "a"`},
		{"a b\na . ok ok\nb ok .", "row a has 3 cells, want 2"},
		{"a b\na . yes\nb ok .", `"yes" is not one of`},
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
	wantDiff := []string{"a -> c: got timed out, want ok", "c -> b: got refused, want ok"}
	if strings.Join(d, "\n") != strings.Join(wantDiff, "\n") {
		t.Errorf("Diff = %q, want %q", d, wantDiff)
	}
	if d := want.Diff(want); d != nil {
		t.Errorf("a table differs from itself: %v", d)
	}
	other, _ := ParseTable("a b\na . ok\nb ok .")
	if d := want.Diff(other); len(d) != 1 || !strings.HasPrefix(d[0], "hosts:") {
		t.Errorf("Diff of tables over other hosts = %v", d)
	}
}
