package intent

import "net/netip"

// networkInfo is what later checks need to know about a network.
type networkInfo struct {
	net  *Network
	path string
	// cidrGiven/cidr6Given are set when the document has the field, even if
	// it did not parse: then address checks against it are skipped instead
	// of reporting that the network "has no cidr".
	cidrGiven, cidr6Given bool
	gatewayGiven          bool   // gateway or gateway6, even if broken
	router                string // path of the router that joins it, if any
}

func (v *validator) networkList() {
	docs := v.doc.Networks
	names := make([]string, len(docs))
	for i := range docs {
		names[i] = docs[i].Name
	}
	l := nameList("networks", names)
	v.in.Networks = makeList[Network](len(docs))
	for i := range docs {
		v.checkName(l, i)
		info := v.network(&docs[i], &v.in.Networks[i], l.paths[i])
		if l.first[i] {
			v.networks[docs[i].Name] = info
		}
	}
}

func (v *validator) network(d *NetworkDoc, n *Network, path string) *networkInfo {
	n.Name = d.Name
	given := func(field, value string) bool {
		return value != "" || v.isBroken(join(path, field))
	}
	info := &networkInfo{net: n, path: path,
		cidrGiven:    given("cidr", d.CIDR),
		cidr6Given:   given("cidr6", d.CIDR6),
		gatewayGiven: given("gateway", d.Gateway) || given("gateway6", d.Gateway6),
	}
	n.CIDR = v.networkPrefix(join(path, "cidr"), d.CIDR, true)
	n.CIDR6 = v.networkPrefix(join(path, "cidr6"), d.CIDR6, false)
	n.Gateway = v.gateway(join(path, "gateway"), d.Gateway, n.CIDR, info.cidrGiven, true)
	n.Gateway6 = v.gateway(join(path, "gateway6"), d.Gateway6, n.CIDR6, info.cidr6Given, false)
	if n.Gateway.IsValid() {
		v.hostAddrs[n.Gateway] = "the gateway of " + path
	}
	if n.Gateway6.IsValid() {
		v.hostAddrs[n.Gateway6] = "the gateway of " + path
	}
	return info
}

// networkPrefix parses cidr (want4) or cidr6; absent gives an invalid Prefix.
func (v *validator) networkPrefix(path, s string, want4 bool) netip.Prefix {
	if s == "" {
		return netip.Prefix{}
	}
	p, err := parseNetwork(s, false)
	switch {
	case err != nil:
		v.addErr(path, err)
	case want4 && !p.Addr().Is4():
		v.add(path, "%s is not IPv4; put IPv6 prefixes in cidr6", p)
	case !want4 && !p.Addr().Is6():
		v.add(path, "%s is not IPv6; put IPv4 prefixes in cidr", p)
	default:
		return p
	}
	return netip.Prefix{}
}

// gateway parses a network's gateway (want4) or gateway6, which must be a
// host address inside the network's prefix of the same family.
func (v *validator) gateway(path, s string, p netip.Prefix, prefixGiven, want4 bool) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	field, other := "cidr", "gateway6"
	if !want4 {
		field, other = "cidr6", "gateway"
	}
	a, err := parseAddr(s)
	switch {
	case err != nil:
		v.addErr(path, err)
	case a.Is4() != want4:
		v.add(path, "%s is the wrong address family; use %s", a, other)
	case !prefixGiven:
		v.add(path, "the network has no %s for %s to be in", field, a)
	case !p.IsValid():
		// the prefix is broken and reported; nothing to check against
	case !p.Contains(a):
		v.add(path, "%s is outside %s", a, p)
	case reservedIn(a, p) != "":
		v.add(path, "%s %s", a, reservedIn(a, p))
	default:
		return a
	}
	return netip.Addr{}
}
