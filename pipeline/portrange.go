package pipeline

import (
	"slices"

	"github.com/flowgate/flowgate/flows"
)

// portRangeMasks covers the inclusive range lo..hi with the fewest
// value/mask matches: at each step the largest aligned power-of-two block
// that starts at lo and stays inside the range. 1000-1999 becomes seven
// matches rather than a thousand flows. The whole range 0-65535 yields
// nil: no tp_dst match at all.
func portRangeMasks(lo, hi uint16) []flows.PortMatch {
	if lo == 0 && hi == 0xffff {
		return nil
	}
	var out []flows.PortMatch
	for v := uint32(lo); v <= uint32(hi); {
		size := uint32(1)
		for v%(size*2) == 0 && v+size*2-1 <= uint32(hi) {
			size *= 2
		}
		m := flows.PortMatch{Port: uint16(v)}
		if size > 1 {
			m.Mask = uint16(^(size - 1))
		}
		out = append(out, m)
		v += size
	}
	return out
}

// portRangesMasks covers the union of ranges (each lo..max(lo, hi), as a
// rule reads) with value/mask matches: overlapping and adjacent ranges are
// joined first, so the masks of one class never overlap. A union that is
// every port yields nil.
func portRangesMasks(ranges []portRange) []flows.PortMatch {
	spans := make([]portRange, len(ranges))
	for i, pr := range ranges {
		spans[i] = portRange{pr.min, max(pr.min, pr.max)}
	}
	slices.SortFunc(spans, compareRanges)
	var joined []portRange
	for _, s := range spans {
		if n := len(joined); n > 0 && uint32(s.min) <= uint32(joined[n-1].max)+1 {
			joined[n-1].max = max(joined[n-1].max, s.max)
			continue
		}
		joined = append(joined, s)
	}
	var out []flows.PortMatch
	for _, s := range joined {
		out = append(out, portRangeMasks(s.min, s.max)...)
	}
	return out
}
