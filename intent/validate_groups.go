package intent

import (
	"net/netip"
	"strconv"
	"strings"
)

func (v *validator) groupList() {
	docs := v.doc.SecurityGroups
	names := make([]string, len(docs))
	for i := range docs {
		names[i] = docs[i].Name
	}
	l := nameList("security_groups", names)
	v.in.SecurityGroups = makeList[SecurityGroup](len(docs))
	// Register every group before checking rules: a rule may name a group
	// declared after its own, or its own group.
	for i := range docs {
		if l.first[i] {
			v.groups[docs[i].Name] = &v.in.SecurityGroups[i]
		}
	}
	total := 0
	for i := range docs {
		total += len(docs[i].Rules)
	}
	if total > MaxRules {
		v.add("security_groups", "%d rules in all; at most %d", total, MaxRules)
		return
	}
	for i := range docs {
		v.checkName(l, i)
		v.group(&docs[i], &v.in.SecurityGroups[i], l.paths[i])
	}
}

func (v *validator) group(d *SecurityGroupDoc, g *SecurityGroup, path string) {
	g.Name = d.Name
	g.Stateful = d.Stateful == nil || *d.Stateful
	g.Rules = make([]Rule, len(d.Rules))
	firstSeen := map[RuleKey]int{}
	for i := range d.Rules {
		rulePath := index(join(path, "rules"), i)
		before := len(v.errs)
		g.Rules[i] = v.rule(&d.Rules[i], rulePath)
		if len(v.errs) > before {
			continue // a broken rule is no useful duplicate of anything
		}
		// Two identical allow rules are harmless to enforce but always a
		// mistake to write (Neutron refuses them too); usually one of them
		// was meant to say something else.
		key := g.Rules[i].Key()
		if prev, dup := firstSeen[key]; dup {
			v.add(rulePath, "same rule as rules[%d]", prev)
			continue
		}
		firstSeen[key] = i
	}
}

func (v *validator) rule(d *RuleDoc, path string) Rule {
	var r Rule
	switch dir := Direction(strings.ToLower(d.Direction)); dir {
	case Ingress, Egress:
		r.Direction = dir
	case "":
		v.add(join(path, "direction"), "required (ingress or egress)")
	default:
		v.add(join(path, "direction"), "%s is not ingress or egress", quote(d.Direction))
	}

	if d.RemoteCIDR != "" {
		p, err := parseNetwork(d.RemoteCIDR, true)
		if err != nil {
			v.addErr(join(path, "remote_cidr"), err)
		}
		r.RemoteCIDR = p
	}
	if d.RemoteGroup != "" {
		if d.RemoteCIDR != "" {
			v.add(path, "has both remote_cidr and remote_group; give at most one")
		} else if v.groups[d.RemoteGroup] == nil {
			v.add(join(path, "remote_group"), "unknown group %s", quote(d.RemoteGroup))
		}
		r.RemoteGroup = d.RemoteGroup
	}

	proto, protoOK := v.ruleProtocol(join(path, "protocol"), d.Protocol)
	r.Protocol = proto
	r.EtherType = v.ruleEtherType(path, d, r)
	if protoOK {
		v.protocolFamily(join(path, "protocol"), r)
		r.PortMin, r.PortMax = v.rulePorts(join(path, "ports"), d.Ports, r.Protocol)
		r.ICMPType, r.ICMPCode = v.ruleICMP(path, d, r.Protocol)
	}
	return r
}

// ruleProtocol parses a protocol name or number; absent means any.
func (v *validator) ruleProtocol(path, s string) (int, bool) {
	switch strings.ToLower(s) {
	case "", "any":
		return ProtocolAny, true
	case "tcp":
		return ProtoTCP, true
	case "udp":
		return ProtoUDP, true
	case "sctp":
		return ProtoSCTP, true
	case "icmp":
		return ProtoICMP, true
	case "icmpv6":
		return ProtoICMPv6, true
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return int(n), true
	}
	v.add(path, "%s is not tcp, udp, sctp, icmp, icmpv6, any or a protocol number 0-255", quote(s))
	return ProtocolAny, false
}

// ruleEtherType is the given ethertype, or else the family of the remote
// CIDR, or else the family the protocol implies (icmpv6 is IPv6), or else
// IPv4; a remote CIDR of the other family than the one given is an error.
func (v *validator) ruleEtherType(path string, d *RuleDoc, r Rule) EtherType {
	et := EtherType(strings.ToLower(d.EtherType))
	switch {
	case et == IPv4 || et == IPv6:
	case et != "":
		v.add(join(path, "ethertype"), "%s is not ipv4 or ipv6", quote(d.EtherType))
		return IPv4
	case r.RemoteCIDR.IsValid():
		return familyOf(r.RemoteCIDR.Addr())
	case r.Protocol == ProtoICMPv6:
		return IPv6
	default:
		return IPv4
	}
	if r.RemoteCIDR.IsValid() && familyOf(r.RemoteCIDR.Addr()) != et {
		v.add(join(path, "remote_cidr"), "%s is not %s, the rule's ethertype", r.RemoteCIDR, familyName(et))
	}
	return et
}

// protocolFamily refuses ICMP in an IPv6 rule and ICMPv6 in an IPv4 rule:
// they are different protocols (1 and 58), and such a rule never matches.
func (v *validator) protocolFamily(path string, r Rule) {
	switch {
	case r.Protocol == ProtoICMP && r.EtherType == IPv6:
		v.add(path, "icmp is IPv4 only; use icmpv6 for IPv6")
	case r.Protocol == ProtoICMPv6 && r.EtherType == IPv4:
		v.add(path, "icmpv6 is IPv6 only; use icmp for IPv4")
	}
}

func hasPorts(proto int) bool {
	return proto == ProtoTCP || proto == ProtoUDP || proto == ProtoSCTP
}

func isICMP(proto int) bool {
	return proto == ProtoICMP || proto == ProtoICMPv6
}

// rulePorts parses a destination port range; absent means all ports (0, 0).
func (v *validator) rulePorts(path, s string, proto int) (uint16, uint16) {
	if s == "" {
		return 0, 0
	}
	if !hasPorts(proto) {
		v.add(path, "only tcp, udp and sctp have ports, not %s", protocolName(proto))
		return 0, 0
	}
	lo, hi, err := parsePortRange(s)
	if err != nil {
		v.addErr(path, err)
	}
	return lo, hi
}

func (v *validator) ruleICMP(path string, d *RuleDoc, proto int) (typ, code *uint8) {
	if d.ICMPType == nil && d.ICMPCode == nil {
		return nil, nil
	}
	if !isICMP(proto) {
		field := "icmp_type"
		if d.ICMPType == nil {
			field = "icmp_code"
		}
		v.add(join(path, field), "only icmp and icmpv6 have types and codes, not %s", protocolName(proto))
		return nil, nil
	}
	typ = v.uint8Field(join(path, "icmp_type"), d.ICMPType)
	code = v.uint8Field(join(path, "icmp_code"), d.ICMPCode)
	if d.ICMPCode != nil && d.ICMPType == nil {
		v.add(join(path, "icmp_code"), "requires icmp_type")
	}
	return typ, code
}

func (v *validator) uint8Field(path string, n *int64) *uint8 {
	if n == nil {
		return nil
	}
	if *n < 0 || *n > 255 {
		v.add(path, "%d is out of range 0-255", *n)
		return nil
	}
	b := uint8(*n)
	return &b
}

func familyOf(a netip.Addr) EtherType {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

func familyName(et EtherType) string {
	if et == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}
