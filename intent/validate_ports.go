package intent

import (
	"math"
	"net/netip"
)

// portInfo is what routers and services need to know about a port.
type portInfo struct {
	port    *Port
	path    string
	network *networkInfo // nil when the port's network is unknown
}

// firstIPv4 is the address floating IPs and port forwards translate to.
func (p *portInfo) firstIPv4() netip.Addr {
	for _, a := range p.port.IPs {
		if a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

func (p *portInfo) hasFamily(is4 bool) bool {
	for _, a := range p.port.IPs {
		if a.Is4() == is4 {
			return true
		}
	}
	return false
}

func (v *validator) portList() {
	docs := v.doc.Ports
	names := make([]string, len(docs))
	for i := range docs {
		names[i] = docs[i].Name
	}
	l := nameList("ports", names)
	v.in.Ports = makeList[Port](len(docs))
	// ipOwners finds addresses used twice on one network.
	ipOwners := map[*networkInfo]map[netip.Addr]string{}
	for i := range docs {
		v.checkName(l, i)
		info := v.port(&docs[i], &v.in.Ports[i], l.paths[i], ipOwners)
		if l.first[i] {
			v.ports[docs[i].Name] = info
		}
	}
}

func (v *validator) port(d *PortDoc, p *Port, path string, ipOwners map[*networkInfo]map[netip.Addr]string) *portInfo {
	p.Name = d.Name
	p.Network = d.Network
	p.PortSecurity = d.PortSecurity == nil || *d.PortSecurity
	info := &portInfo{port: p, path: path}

	switch {
	case d.Network == "":
		v.add(join(path, "network"), "required")
	case v.networks[d.Network] == nil:
		v.add(join(path, "network"), "unknown network %s", quote(d.Network))
	default:
		info.network = v.networks[d.Network]
	}

	if d.MAC == "" {
		v.add(join(path, "mac"), "required")
	} else if mac, err := parseUnicastMAC(d.MAC); err != nil {
		v.addErr(join(path, "mac"), err)
	} else {
		p.MAC = mac
		v.claimMAC(join(path, "mac"), mac, path)
	}

	for i, s := range d.IPs {
		ipPath := index(join(path, "ips"), i)
		a, ok := v.portIP(ipPath, s, info.network)
		if !ok {
			continue
		}
		owners := ipOwners[info.network]
		if owners == nil {
			owners = map[netip.Addr]string{}
			ipOwners[info.network] = owners
		}
		if prev, dup := owners[a]; dup {
			v.add(ipPath, "%s is also used by %s", a, prev)
			continue
		}
		owners[a] = ipPath
		v.hostAddrs[a] = "an address of " + path
		p.IPs = append(p.IPs, a)
	}

	v.portGroups(d, p, path)
	v.addressPairs(d, p, path)
	p.QoS = QoS{
		IngressKbps: v.qosValue(join(path, "qos.ingress_kbps"), d.QoS, func(q *QoSDoc) int64 { return q.IngressKbps }),
		EgressKbps:  v.qosValue(join(path, "qos.egress_kbps"), d.QoS, func(q *QoSDoc) int64 { return q.EgressKbps }),
		BurstKb:     v.qosValue(join(path, "qos.burst_kb"), d.QoS, func(q *QoSDoc) int64 { return q.BurstKb }),
	}
	return info
}

// portIP parses a fixed IP, which must be a host address inside the
// network's prefix of its family and not the network's gateway.
func (v *validator) portIP(path, s string, n *networkInfo) (netip.Addr, bool) {
	a, err := parseAddr(s)
	if err != nil {
		v.addErr(path, err)
		return a, false
	}
	if n == nil {
		return a, false // the unknown network is reported on the port
	}
	prefix, gateway, given, field := n.net.CIDR, n.net.Gateway, n.cidrGiven, "cidr"
	if a.Is6() {
		prefix, gateway, given, field = n.net.CIDR6, n.net.Gateway6, n.cidr6Given, "cidr6"
	}
	switch {
	case !given:
		v.add(path, "%s is %s but network %s has no %s", a, familyName(familyOf(a)), n.net.Name, field)
	case !prefix.IsValid():
		// the network's prefix is broken and reported there
	case !prefix.Contains(a):
		v.add(path, "%s is outside network %s (%s)", a, n.net.Name, prefix)
	case reservedIn(a, prefix) != "":
		v.add(path, "%s %s", a, reservedIn(a, prefix))
	case a == gateway:
		v.add(path, "%s is the gateway of network %s", a, n.net.Name)
	default:
		return a, true
	}
	return a, false
}

func (v *validator) portGroups(d *PortDoc, p *Port, path string) {
	groupsPath := join(path, "security_groups")
	if !p.PortSecurity && len(d.SecurityGroups) > 0 {
		// Neutron refuses this too: with port_security off nothing is
		// filtered, so the groups would silently do nothing.
		v.add(groupsPath, "must be empty when port_security is false (the port is not filtered)")
	}
	var stateful, stateless string
	seen := map[string]bool{}
	for i, name := range d.SecurityGroups {
		g := v.groups[name]
		switch {
		case g == nil:
			v.add(index(groupsPath, i), "unknown group %s", quote(name))
			continue
		case seen[name]:
			v.add(index(groupsPath, i), "group %s is listed twice", name)
			continue
		}
		seen[name] = true
		p.SecurityGroups = append(p.SecurityGroups, name)
		if g.Stateful && stateful == "" {
			stateful = name
		}
		if !g.Stateful && stateless == "" {
			stateless = name
		}
	}
	// A connection is either tracked or not: a stateful group would commit
	// it to conntrack and a stateless one would expect its replies to need
	// rules of their own, and no flow table can honour both.
	if stateful != "" && stateless != "" {
		v.add(groupsPath, "mixes stateful group %s and stateless group %s; a port's groups must all be one kind", stateful, stateless)
	}
}

func (v *validator) addressPairs(d *PortDoc, p *Port, path string) {
	if !p.PortSecurity && len(d.AllowedAddressPairs) > 0 {
		v.add(join(path, "allowed_address_pairs"), "must be empty when port_security is false (the port may send from any address)")
	}
	seen := map[AddressPair]int{}
	for i, pd := range d.AllowedAddressPairs {
		pairPath := index(join(path, "allowed_address_pairs"), i)
		pair := AddressPair{MAC: p.MAC}
		ok := true
		if pd.IP == "" {
			v.add(join(pairPath, "ip"), "required")
			ok = false
		} else if prefix, err := parseNetwork(pd.IP, true); err != nil {
			v.addErr(join(pairPath, "ip"), err)
			ok = false
		} else {
			pair.Prefix = prefix
		}
		if pd.MAC != "" {
			mac, err := parseUnicastMAC(pd.MAC)
			if err != nil {
				v.addErr(join(pairPath, "mac"), err)
				ok = false
			}
			pair.MAC = mac
		}
		if !ok {
			continue
		}
		if prev, dup := seen[pair]; dup {
			v.add(pairPath, "same pair as allowed_address_pairs[%d]", prev)
			continue
		}
		seen[pair] = i
		p.AllowedAddressPairs = append(p.AllowedAddressPairs, pair)
	}
}

func (v *validator) qosValue(path string, q *QoSDoc, field func(*QoSDoc) int64) uint32 {
	if q == nil {
		return 0
	}
	n := field(q)
	switch {
	case n < 0:
		v.add(path, "%d is negative; 0 means unlimited", n)
	case n > math.MaxUint32:
		v.add(path, "%d is more than %d", n, uint32(math.MaxUint32))
	default:
		return uint32(n)
	}
	return 0
}
