package intent

import "net/netip"

func (v *validator) serviceList() {
	docs := v.doc.Services
	names := make([]string, len(docs))
	for i := range docs {
		names[i] = docs[i].Name
	}
	l := nameList("services", names)
	v.in.Services = makeList[Service](len(docs))
	type frontend struct {
		proto int
		vip   netip.AddrPort
	}
	frontends := map[frontend]string{}
	for i := range docs {
		v.checkName(l, i)
		s := &v.in.Services[i]
		if !v.service(&docs[i], s, l.paths[i]) {
			continue
		}
		f := frontend{s.Protocol, netip.AddrPortFrom(s.VIP, s.Port)}
		if prev, dup := frontends[f]; dup {
			v.add(join(l.paths[i], "port"), "%s %s is also %s", protocolName(s.Protocol), f.vip, prev)
			continue
		}
		frontends[f] = l.paths[i]
	}
}

// service checks one load balancer and reports whether its frontend
// (protocol, vip, port) is valid enough to compare with others.
func (v *validator) service(d *ServiceDoc, s *Service, path string) bool {
	s.Name = d.Name
	ok := true
	if vip, valid := v.vip(join(path, "vip"), d.VIP); valid {
		s.VIP = vip
	} else {
		ok = false
	}
	proto, err := parseTCPOrUDP(d.Protocol)
	if err != nil {
		v.addErr(join(path, "protocol"), err)
		ok = false
	}
	s.Protocol = proto
	if d.Port == nil {
		v.add(join(path, "port"), "required")
		ok = false
	} else if port, err := checkPort(*d.Port); err != nil {
		v.addErr(join(path, "port"), err)
		ok = false
	} else {
		s.Port = port
	}
	// Affinity is kept in OpenFlow idle/hard timeouts, which are 16 bits.
	switch a := d.AffinitySeconds; {
	case a < 0:
		v.add(join(path, "affinity_seconds"), "%d is negative; 0 means no affinity", a)
	case a > 65535:
		v.add(join(path, "affinity_seconds"), "%d is more than 65535 (18 hours)", a)
	default:
		s.AffinitySeconds = uint32(a)
	}
	v.backends(d, s, path)
	return ok
}

// vip checks a service address: it must not be an address that something
// else already answers for, or the service would steal its traffic.
func (v *validator) vip(path, s string) (netip.Addr, bool) {
	if s == "" {
		v.add(path, "required")
		return netip.Addr{}, false
	}
	a, err := parseAddr(s)
	if err != nil {
		v.addErr(path, err)
		return a, false
	}
	if owner, taken := v.hostAddrs[a]; taken {
		v.add(path, "%s is %s", a, owner)
		return a, false
	}
	if owner, taken := v.routerAddrs[a]; taken {
		v.add(path, "%s is %s", a, owner)
		return a, false
	}
	return a, true
}

func (v *validator) backends(d *ServiceDoc, s *Service, path string) {
	type target struct {
		port string
		num  uint16
	}
	seen := map[target]int{}
	for i, bd := range d.Backends {
		bPath := index(join(path, "backends"), i)
		b := Backend{Port: bd.Port, TargetPort: s.Port, Weight: 1}
		ok := true
		switch p := v.ports[bd.Port]; {
		case bd.Port == "":
			v.add(join(bPath, "port"), "required")
			ok = false
		case p == nil:
			v.add(join(bPath, "port"), "unknown port %s", quote(bd.Port))
			ok = false
		case s.VIP.IsValid() && !p.hasFamily(s.VIP.Is4()):
			v.add(join(bPath, "port"), "port %s has no %s address for VIP %s",
				bd.Port, familyName(familyOf(s.VIP)), s.VIP)
			ok = false
		}
		if bd.TargetPort != nil {
			port, err := checkPort(*bd.TargetPort)
			if err != nil {
				v.addErr(join(bPath, "target_port"), err)
				ok = false
			}
			b.TargetPort = port
		}
		// Weights become select-group bucket weights, which are 16 bits.
		if bd.Weight != nil {
			if w := *bd.Weight; w < 1 || w > 65535 {
				v.add(join(bPath, "weight"), "%d is out of range 1-65535", w)
				ok = false
			} else {
				b.Weight = uint32(w)
			}
		}
		if !ok || b.TargetPort == 0 {
			continue
		}
		t := target{b.Port, b.TargetPort}
		if prev, dup := seen[t]; dup {
			v.add(bPath, "port %s target_port %d is already backends[%d]", b.Port, b.TargetPort, prev)
			continue
		}
		seen[t] = i
		s.Backends = append(s.Backends, b)
	}
}
