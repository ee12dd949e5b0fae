package pipeline

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the compiler's output")

func compileText(t *testing.T, fs []flows.Flow) string {
	t.Helper()
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestCompileWorkedExampleGolden(t *testing.T) {
	fs, err := Compile(workedExample(), workedBindings())
	if err != nil {
		t.Fatal(err)
	}
	got := compileText(t, fs)
	path := filepath.Join("testdata", "worked_example.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("compiled flows differ from %s (run with -update after checking the change):\n%s", path, lineDiff(string(want), got))
	}
	t.Logf("worked example: %d flows", len(fs))
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
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
	return b.String()
}
