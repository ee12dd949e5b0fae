package bench

import (
	"context"
	"os"
	"testing"

	"github.com/flowgate/flowgate/intent/intentgen"
	"github.com/flowgate/flowgate/testbed"
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

// BenchmarkSwitchScenarioOnOVS prints the end-to-end figures of the full scale
// scenario on a private OVS with 1,000 dummy ports once; `make bench`
// runs it (as root).
func BenchmarkSwitchScenarioOnOVS(b *testing.B) {
	testbed.RequireRoot(b)
	r, err := Switch(context.Background(), intentgen.Default(), 100)
	if err != nil {
		b.Fatal(err)
	}
	r.Print(os.Stdout)
	for b.Loop() {
	}
}
