package pipeline

import (
	"math/rand"
	"testing"
)

// TestPortRangeMasksExhaustive checks the decomposition against brute
// force: every port is covered by exactly one match iff it is in range.
func TestPortRangeMasksExhaustive(t *testing.T) {
	ranges := [][2]uint16{{0, 0}, {0, 1}, {1, 1}, {22, 22}, {1000, 1999}, {1024, 65535}, {0, 65534},
		{1, 65535}, {8000, 8100}, {32768, 32768}, {65535, 65535}, {443, 444}, {3, 12}}
	r := rand.New(rand.NewSource(1))
	for range 300 {
		lo := uint16(r.Intn(65536))
		hi := lo + uint16(r.Intn(65536-int(lo)))
		ranges = append(ranges, [2]uint16{lo, hi})
	}
	for _, rg := range ranges {
		lo, hi := rg[0], rg[1]
		ms := portRangeMasks(lo, hi)
		if len(ms) > 30 {
			t.Errorf("%d-%d: %d matches, want at most 30", lo, hi, len(ms))
		}
		for p := 0; p <= 65535; p++ {
			n := 0
			if ms == nil { // the whole range: no tp_dst match at all
				n = 1
			}
			for _, m := range ms {
				mask := m.Mask
				if mask == 0 {
					mask = 0xffff
				}
				if uint16(p)&mask == m.Port {
					n++
				}
			}
			if in := p >= int(lo) && p <= int(hi); (in && n != 1) || (!in && n != 0) {
				t.Fatalf("%d-%d: port %d matched by %d of %v", lo, hi, p, n, ms)
			}
		}
	}
}

func TestPortRangeMasksWholeRangeIsNoMatch(t *testing.T) {
	if ms := portRangeMasks(0, 65535); ms != nil {
		t.Errorf("0-65535 = %v, want nil (no tp_dst match)", ms)
	}
	if ms := portRangeMasks(1000, 1999); len(ms) != 7 {
		t.Errorf("1000-1999 = %d matches, want 7: %v", len(ms), ms)
	}
}
