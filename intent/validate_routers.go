package intent

import (
	"fmt"
	"net/netip"
)

// routerInfo is the state of one router while its NAT entries are checked.
type routerInfo struct {
	r        *Router
	path     string
	networks map[string]bool // names of the networks it joins
	extOK    bool            // External.IP and External.Gateway are valid
	snatTo   map[netip.Addr]bool
	fips     map[netip.Addr]string // floating IP -> its path
}

func (v *validator) routerList() {
	docs := v.doc.Routers
	names := make([]string, len(docs))
	for i := range docs {
		names[i] = docs[i].Name
	}
	l := nameList("routers", names)
	v.in.Routers = makeList[Router](len(docs))
	fipOfPort := map[string]string{} // port name -> path of its floating IP
	for i := range docs {
		v.checkName(l, i)
		d, r := &docs[i], &v.in.Routers[i]
		r.Name, r.Host = d.Name, d.Host
		if d.Host != "" {
			if p := HostProblem(d.Host); p != "" {
				v.add(join(l.paths[i], "host"), "%s", p)
			}
		}
		ri := &routerInfo{r: r, path: l.paths[i], networks: map[string]bool{},
			snatTo: map[netip.Addr]bool{}, fips: map[netip.Addr]string{}}
		v.routerNetworks(d, ri)
		v.external(d.External, ri)
		v.floatingIPs(d.FloatingIPs, ri, fipOfPort)
		v.snats(d.SNAT, ri)
		v.portForwards(d.PortForwards, ri)
	}
}

// routerNetworks checks the internal networks: each exists, has a gateway
// (the router's address there), belongs to no other router, and does not
// overlap another network of the same router (routing would be ambiguous).
func (v *validator) routerNetworks(d *RouterDoc, ri *routerInfo) {
	var joined []*networkInfo
	for i, name := range d.Networks {
		path := index(join(ri.path, "networks"), i)
		n := v.networks[name]
		switch {
		case n == nil:
			v.add(path, "unknown network %s", quote(name))
			continue
		case ri.networks[name]:
			v.add(path, "network %s is listed twice", name)
			continue
		case n.router != "":
			v.add(path, "network %s is already joined to %s", name, n.router)
		case !n.gatewayGiven:
			v.add(path, "network %s has no gateway (the router's address on it)", name)
		}
		for _, other := range joined {
			if overlaps(n.net.CIDR, other.net.CIDR) || overlaps(n.net.CIDR6, other.net.CIDR6) {
				v.add(path, "network %s overlaps network %s on the same router", name, other.net.Name)
			}
		}
		if n.router == "" {
			n.router = ri.path
		}
		ri.networks[name] = true
		joined = append(joined, n)
		ri.r.Networks = append(ri.r.Networks, name)
	}
}

func overlaps(a, b netip.Prefix) bool {
	return a.IsValid() && b.IsValid() && a.Overlaps(b)
}

func (v *validator) external(d *ExternalDoc, ri *routerInfo) {
	path := join(ri.path, "external")
	if d == nil {
		v.add(path, "required (port, mac, ip, gateway)")
		return
	}
	ext := &ri.r.External
	ext.Port = d.Port
	switch {
	case d.Port == "":
		v.add(join(path, "port"), "required (the iface-id of the uplink)")
	case nameProblem(d.Port, false) != "":
		v.add(join(path, "port"), "%s", nameProblem(d.Port, false))
	case v.ports[d.Port] != nil:
		v.add(join(path, "port"), "%s is declared in ports; an uplink is not a tenant port", d.Port)
	}

	if d.MAC == "" {
		v.add(join(path, "mac"), "required")
	} else if mac, err := parseUnicastMAC(d.MAC); err != nil {
		v.addErr(join(path, "mac"), err)
	} else {
		ext.MAC = mac
		v.claimMAC(join(path, "mac"), mac, path)
	}

	if d.GatewayMAC != "" {
		if mac, err := parseUnicastMAC(d.GatewayMAC); err != nil {
			v.addErr(join(path, "gateway_mac"), err)
		} else {
			ext.GatewayMAC = &mac
		}
	}

	v.externalIPv6(path, d, ri)
	ipOK := v.externalIP(join(path, "ip"), d.IP, ri)
	if d.Gateway == "" {
		v.add(join(path, "gateway"), "required (the next hop for everything not internal)")
		return
	}
	gw, err := parseAddr(d.Gateway)
	if err != nil {
		v.addErr(join(path, "gateway"), err)
		return
	}
	if !ipOK {
		return
	}
	prefix := ext.IP.Masked()
	switch {
	case !prefix.Contains(gw):
		v.add(join(path, "gateway"), "%s is outside the external prefix %s", gw, prefix)
	case gw == ext.IP.Addr():
		v.add(join(path, "gateway"), "%s is the router's own external address", gw)
	case reservedIn(gw, prefix) != "":
		v.add(join(path, "gateway"), "%s %s", gw, reservedIn(gw, prefix))
	default:
		ext.Gateway = gw
		ri.extOK = true
	}
}

// externalIPv6 checks the router's optional IPv6 uplink: its address
// with its on-link prefix, and the IPv6 next hop.
func (v *validator) externalIPv6(path string, d *ExternalDoc, ri *routerInfo) {
	ext := &ri.r.External
	if d.IP6 == "" {
		if d.Gateway6 != "" {
			v.add(join(path, "gateway6"), "needs ip6, the router's IPv6 address on the uplink")
		}
		return
	}
	p, err := parseInterfacePrefix(d.IP6)
	if err != nil {
		v.addErr(join(path, "ip6"), err)
		return
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		v.add(join(path, "ip6"), "%s is not IPv6", p)
		return
	}
	for _, name := range ri.r.Networks {
		if n := v.networks[name]; n != nil && overlaps(p.Masked(), n.net.CIDR6) {
			v.add(join(path, "ip6"), "%s overlaps network %s (%s), which this router joins", p, name, n.net.CIDR6)
			return
		}
	}
	ext.IP6 = p
	if d.Gateway6 == "" {
		return
	}
	gw, err := parseAddr(d.Gateway6)
	switch {
	case err != nil:
		v.addErr(join(path, "gateway6"), err)
	case !gw.Is6() || gw.Is4In6():
		v.add(join(path, "gateway6"), "%s is not IPv6", gw)
	case gw == p.Addr():
		v.add(join(path, "gateway6"), "%s is the router's own address", gw)
	case !p.Masked().Contains(gw) && !gw.IsLinkLocalUnicast():
		v.add(join(path, "gateway6"), "%s is neither inside %s nor link-local", gw, p.Masked())
	default:
		ext.Gateway6 = gw
	}
}

// externalIP checks the router's own address with its on-link prefix.
func (v *validator) externalIP(path, s string, ri *routerInfo) bool {
	if s == "" {
		v.add(path, "required, the router's address with its prefix length (e.g. 192.0.2.10/24)")
		return false
	}
	p, err := parseInterfacePrefix(s)
	if err != nil {
		v.addErr(path, err)
		return false
	}
	if !p.Addr().Is4() {
		v.add(path, "%s is not IPv4; NAT is IPv4 only", p)
		return false
	}
	for _, name := range ri.r.Networks {
		if n := v.networks[name]; overlaps(p.Masked(), n.net.CIDR) {
			v.add(path, "%s overlaps network %s (%s), which this router joins", p, name, n.net.CIDR)
			return false
		}
	}
	if !v.claimRouterAddr(path, p.Addr(), routerAddr{ri.path, "the external address"}) {
		return false
	}
	ri.r.External.IP = p
	return true
}

// claimRouterAddr records that a router answers for a; the same external
// address answered by two owners would make both unreachable.
func (v *validator) claimRouterAddr(path string, a netip.Addr, owner routerAddr) bool {
	if prev, taken := v.routerAddrs[a]; taken {
		v.add(path, "%s is already %s", a, prev)
		return false
	}
	v.routerAddrs[a] = owner
	return true
}

// externalAddr checks an additional address the router will own (a
// floating or masquerade address): IPv4, inside the external prefix and
// none of the prefix's reserved addresses or the next hop.
func (v *validator) externalAddr(path, s string, ri *routerInfo) (netip.Addr, bool) {
	a, err := parseAddr(s)
	if err != nil {
		v.addErr(path, err)
		return a, false
	}
	if !ri.extOK {
		return a, false // the external side is broken and reported
	}
	ext := ri.r.External
	prefix := ext.IP.Masked()
	switch {
	case !prefix.Contains(a):
		v.add(path, "%s is outside the external prefix %s", a, prefix)
	case a == ext.Gateway:
		v.add(path, "%s is the external gateway", a)
	case reservedIn(a, prefix) != "":
		v.add(path, "%s %s", a, reservedIn(a, prefix))
	default:
		return a, true
	}
	return a, false
}

// routedPort resolves a port that NAT translates to: it must exist, sit on
// one of the router's networks and have an IPv4 address (NAT is IPv4 only).
func (v *validator) routedPort(path, name string, ri *routerInfo) (*portInfo, bool) {
	p := v.ports[name]
	switch {
	case name == "":
		v.add(path, "required")
	case p == nil:
		v.add(path, "unknown port %s", quote(name))
	case p.network == nil:
		// the port's unknown network is reported on the port
	case !ri.networks[p.port.Network]:
		v.add(path, "port %s is on network %s, which %s does not join", name, p.port.Network, ri.path)
	case !p.firstIPv4().IsValid():
		v.add(path, "port %s has no IPv4 address to translate to", name)
	default:
		return p, true
	}
	return p, false
}

// floatingIPs checks 1:1 mappings. A port has at most one floating IP: the
// reverse direction (the port's traffic leaving as the floating IP) has to
// pick exactly one.
func (v *validator) floatingIPs(docs []FloatingIPDoc, ri *routerInfo, fipOfPort map[string]string) {
	for i, d := range docs {
		path := index(join(ri.path, "floating_ips"), i)
		fip := FloatingIP{Port: d.Port}
		ok := true
		if d.IP == "" {
			v.add(join(path, "ip"), "required")
			ok = false
		} else if a, valid := v.externalAddr(join(path, "ip"), d.IP, ri); !valid {
			ok = false
		} else if !v.claimRouterAddr(join(path, "ip"), a, routerAddr{ri.path, fmt.Sprintf("floating_ips[%d]", i)}) {
			ok = false
		} else {
			fip.IP = a
			ri.fips[a] = path
		}
		if _, valid := v.routedPort(join(path, "port"), d.Port, ri); valid {
			if prev, has := fipOfPort[d.Port]; has {
				v.add(join(path, "port"), "port %s already has floating IP %s", d.Port, prev)
				ok = false
			} else {
				fipOfPort[d.Port] = path
			}
		} else {
			ok = false
		}
		if ok {
			ri.r.FloatingIPs = append(ri.r.FloatingIPs, fip)
		}
	}
}

// snats checks masquerade entries: one per internal IPv4 network, to the
// router's external address (the default) or another external address
// that is not a floating IP.
func (v *validator) snats(docs []SNATDoc, ri *routerInfo) {
	byNetwork := map[string]int{}
	for i, d := range docs {
		path := index(join(ri.path, "snat"), i)
		s := SNAT{Network: d.Network, PortMin: 1024, PortMax: 65535}
		ok := true
		switch n := v.networks[d.Network]; {
		case d.Network == "":
			v.add(join(path, "network"), "required")
			ok = false
		case !ri.networks[d.Network]:
			v.add(join(path, "network"), "network %s is not one of %s's networks", quote(d.Network), ri.path)
			ok = false
		case n.cidrGiven && !n.net.CIDR.IsValid():
			ok = false // broken cidr, reported on the network
		case !n.cidrGiven:
			v.add(join(path, "network"), "network %s has no IPv4 cidr; SNAT is IPv4 only", d.Network)
			ok = false
		default:
			if prev, dup := byNetwork[d.Network]; dup {
				v.add(join(path, "network"), "network %s already has snat[%d]", d.Network, prev)
				ok = false
			}
			byNetwork[d.Network] = i
		}

		if !v.snatTo(join(path, "to"), d.To, ri, &s) {
			ok = false
		}
		if d.Ports != "" {
			lo, hi, err := parsePortRange(d.Ports)
			if err != nil {
				v.addErr(join(path, "ports"), err)
				ok = false
			}
			s.PortMin, s.PortMax = lo, hi
		}
		if ok {
			ri.r.SNAT = append(ri.r.SNAT, s)
		}
	}
}

func (v *validator) snatTo(path, to string, ri *routerInfo, s *SNAT) bool {
	if to == "" {
		s.To = ri.r.External.IP.Addr()
		return ri.extOK
	}
	a, ok := v.externalAddr(path, to, ri)
	if !ok {
		return false
	}
	s.To = a
	if a == ri.r.External.IP.Addr() || ri.snatTo[a] {
		return true
	}
	if fip, isFIP := ri.fips[a]; isFIP {
		v.add(path, "%s is the address of %s; a floating IP belongs to its port alone", a, fip)
		return false
	}
	if !v.claimRouterAddr(path, a, routerAddr{ri.path, "an snat address"}) {
		return false
	}
	ri.snatTo[a] = true
	return true
}

// portForwards checks external ip:port -> port:port entries. The external
// address must be one the router already owns for masquerade (its external
// address, the default, or an snat "to" address), so that the router answers
// ARP for it anyway; a floating IP already forwards every port of its own.
func (v *validator) portForwards(docs []PortForwardDoc, ri *routerInfo) {
	type key struct {
		proto int
		ip    netip.Addr
		port  uint16
	}
	seen := map[key]int{}
	for i, d := range docs {
		path := index(join(ri.path, "port_forwards"), i)
		pf := PortForward{Port: d.Port}
		ok := true
		proto, err := parseTCPOrUDP(d.Protocol)
		if err != nil {
			v.addErr(join(path, "protocol"), err)
			ok = false
		}
		pf.Protocol = proto
		if ip, valid := v.forwardIP(join(path, "ip"), d.IP, ri); valid {
			pf.IP = ip
		} else {
			ok = false
		}
		if d.ExternalPort == nil {
			v.add(join(path, "external_port"), "required")
			ok = false
		} else if port, err := checkPort(*d.ExternalPort); err != nil {
			v.addErr(join(path, "external_port"), err)
			ok = false
		} else {
			pf.ExternalPort = port
		}
		pf.InternalPort = pf.ExternalPort
		if d.InternalPort != nil {
			port, err := checkPort(*d.InternalPort)
			if err != nil {
				v.addErr(join(path, "internal_port"), err)
				ok = false
			}
			pf.InternalPort = port
		}
		if _, valid := v.routedPort(join(path, "port"), d.Port, ri); !valid {
			ok = false
		}
		if !ok {
			continue
		}
		k := key{pf.Protocol, pf.IP, pf.ExternalPort}
		if prev, dup := seen[k]; dup {
			v.add(join(path, "external_port"), "%s %s is already forwarded by port_forwards[%d]",
				protocolName(pf.Protocol), netip.AddrPortFrom(pf.IP, pf.ExternalPort), prev)
			continue
		}
		seen[k] = i
		ri.r.PortForwards = append(ri.r.PortForwards, pf)
	}
}

func (v *validator) forwardIP(path, s string, ri *routerInfo) (netip.Addr, bool) {
	if s == "" {
		return ri.r.External.IP.Addr(), ri.extOK
	}
	a, err := parseAddr(s)
	if err != nil {
		v.addErr(path, err)
		return a, false
	}
	if !ri.extOK {
		return a, false
	}
	switch {
	case a == ri.r.External.IP.Addr() || ri.snatTo[a]:
		return a, true
	case ri.fips[a] != "":
		v.add(path, "%s is the address of %s, which already forwards every port to its own port", a, ri.fips[a])
	default:
		v.add(path, "%s is not an address of %s; use its external address %s or an snat address",
			a, ri.path, ri.r.External.IP.Addr())
	}
	return a, false
}
