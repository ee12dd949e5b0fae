package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/internal/golden"
)

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
	golden.Check(t, filepath.Join("testdata", "worked_example.golden"), []byte(compileText(t, fs)))
	t.Logf("worked example: %d flows", len(fs))
}
