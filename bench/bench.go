// Package bench holds the measurements that `make bench` prints: what
// flowgate costs, measured end to end on a private Open vSwitch rather
// than asserted in tests. Datapath compares traffic through a plain
// NORMAL bridge with traffic through flowgate's compiled worked example
// on the same datapath.
package bench

import (
	"os"
	"path/filepath"
	"slices"
)

// IntentPath finds the worked example, examples/intent.yaml, in the
// working directory or the nearest directory above it that has one, so
// that both `go run ./cmd/flowgate` at the top of the tree and the tests of
// a package find it. The path is relative to the working directory. It
// returns "examples/intent.yaml" when there is none (and loading it then
// says so).
func IntentPath() string {
	const rel = "examples/intent.yaml"
	wd, err := os.Getwd()
	if err != nil {
		return rel
	}
	for dir := wd; ; {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil {
				return r
			}
			return p
		}
		up := filepath.Dir(dir)
		if up == dir {
			return rel
		}
		dir = up
	}
}

// median returns the median of xs (the mean of the two middle values for
// an even count), or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio is b/a, or 0 when a is 0.
func ratio(a, b float64) float64 {
	if a == 0 {
		return 0
	}
	return b / a
}
