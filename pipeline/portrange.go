package pipeline

import "github.com/flowgate/flowgate/flows"

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
