package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/internal/golden"
)

// flowsText is the flows in ovs-ofctl's add-flows form, one a line: what
// the goldens hold and what the labs install.
func flowsText(fs []flows.Flow) string {
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
	golden.Check(t, filepath.Join("testdata", "worked_example.golden"), []byte(flowsText(fs)))
	t.Logf("worked example: %d flows", len(fs))
}
