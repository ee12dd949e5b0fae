// Package golden compares a test's output with a file under testdata/
// and, with -update, rewrites the file instead: the one way flowgate's
// golden tests are written and regenerated.
//
//	go test ./pipeline -run Golden -update   # then review git diff testdata/
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files (testdata/*.golden) from the current output")

// Check fails the test unless got equals the file at path, byte for byte,
// and names the first lines that differ. With -update it writes got to
// path (creating its directory) first, so the check passes and git shows
// the change for review.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (run with -update after checking the change):\n%s", path, LineDiff(string(want), string(got)))
	}
}

// LineDiff lists the lines only in want (-) and only in got (+), in their
// order; equal texts give "".
func LineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	if b.Len() == 0 && want != got {
		// Same lines, other order or count.
		return "(the same lines in another order or number)\n"
	}
	return b.String()
}
