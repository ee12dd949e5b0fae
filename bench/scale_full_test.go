package bench

import (
	"os"
	"testing"

	"github.com/flowgate/flowgate/intent/intentgen"
)

// BenchmarkCompileScenario prints the compile figures of the full scale
// scenario (intentgen.Default) once; `make bench` runs it.
func BenchmarkCompileScenario(b *testing.B) {
	r, err := Compile(intentgen.Default(), 5)
	if err != nil {
		b.Fatal(err)
	}
	r.Print(os.Stdout)
	for b.Loop() {
	}
}
