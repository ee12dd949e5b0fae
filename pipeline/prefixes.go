package pipeline

import (
	"cmp"
	"net/netip"
	"slices"
)

// minimalPrefixes returns the prefixes in canonical (masked) form, sorted,
// without duplicates and without prefixes another one already covers, so
// a remote set of /24 and its /16 costs one flow.
func minimalPrefixes(in []netip.Prefix) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if p.IsValid() {
			ps = append(ps, p.Masked())
		}
	}
	// Shorter prefixes first, so a covering prefix is kept before the
	// prefixes it covers are looked at.
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		return cmp.Or(cmp.Compare(a.Bits(), b.Bits()), a.Addr().Compare(b.Addr()))
	})
	var out []netip.Prefix
	for _, p := range ps {
		covered := slices.ContainsFunc(out, func(q netip.Prefix) bool {
			return q.Addr().Is4() == p.Addr().Is4() && q.Bits() <= p.Bits() && q.Contains(p.Addr())
		})
		if !covered {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return out
}

// addrPrefix is the single-address prefix of a.
func addrPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
