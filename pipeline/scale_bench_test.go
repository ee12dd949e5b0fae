package pipeline

import (
	"testing"

	"github.com/flowgate/flowgate/intent/intentgen"
)

// BenchmarkCompileScale is the full compile of the scale scenario
// (intentgen.Default: 1,000 ports, 100 groups, 10,100 rules).
func BenchmarkCompileScale(b *testing.B) {
	in, err := intentgen.Intent(intentgen.Params{})
	if err != nil {
		b.Fatal(err)
	}
	bind := intentgen.Bindings(intentgen.Params{})
	var n int
	b.ReportAllocs()
	for b.Loop() {
		fs, err := Compile(in, bind)
		if err != nil {
			b.Fatal(err)
		}
		n = len(fs)
	}
	b.ReportMetric(float64(n), "flows")
}
