package golden

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLineDiff(t *testing.T) {
	for _, c := range []struct{ want, got, diff string }{
		{"a\nb\n", "a\nb\n", ""},
		{"a\nb\n", "a\nc\n", "- b\n+ c\n"},
		{"a\nb\n", "b\na\n", "(the same lines in another order or number)\n"},
	} {
		if d := LineDiff(c.want, c.got); d != c.diff {
			t.Errorf("LineDiff(%q, %q) = %q, want %q", c.want, c.got, d, c.diff)
		}
	}
}

// A file equal to the output passes; a differing one fails (seen through a
// testing.TB that records instead of failing this test).
func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	if err := os.WriteFile(path, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	Check(t, path, []byte("one\ntwo\n"))
	rec := &recorder{TB: t}
	Check(rec, path, []byte("one\nthree\n"))
	if !rec.failed {
		t.Error("Check passed output that differs from the file")
	}
}

type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
