package pipeline

import (
	"fmt"
	"net/netip"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// classFlows compile one rule class (rule_classes.go) of a group that
// has bound, filtered members into a decision with three dimensions: the
// member ports (the rule's side's port register), the remote addresses of
// the class and its protocol with its port ranges or ICMP type. An allowed
// packet records the class id (reg3 egress, reg4 ingress) for the commit.
func (c *compiler) classFlows(cl ruleClass) (built, error) {
	if len(c.groupMembers[cl.group]) == 0 {
		return built{}, nil
	}
	side := sideOf(cl.service)
	dims := []dimension{c.portDimension(cl.group, side, prioACLRule, false), serviceDimension(cl.service, cl.ranges)}
	varying := uint64(1) // the members
	if remote, ok := c.remoteDimension(cl.service, cl.remotes, false); ok {
		dims = append(dims, remote)
		if cl.hasRemoteGroup() {
			varying |= 1 << 2
		}
	}
	b, err := conjunctive(decision{
		table: side.table, priority: prioACLRule,
		conjID: conjKindRule | cl.id, cookie: Cookie(KindRule, uint64(cl.id)),
		dims: dims, varying: varying,
		actions: []flows.Action{flows.Load{Field: side.ruleID, Value: uint64(cl.id)}, goTo(side.next)},
	})
	if err != nil {
		return built{}, fmt.Errorf("%s: %w", cl.describe(), err)
	}
	return b, nil
}

func sideOf(r intent.Rule) aclSide {
	if r.Direction == intent.Egress {
		return egressSide
	}
	return ingressSide
}

// portDimension is "the packet's port on this side is one of the
// group's members" (its stateful members only, if stateful), for
// decisions at prio. Every decision of the group in that table and
// priority shares it, so its clause flows are keyed once.
func (c *compiler) portDimension(group string, side aclSide, prio uint16, stateful bool) dimension {
	k := portDimKey{group, side.table, prio, stateful}
	if d, ok := c.portDims[k]; ok {
		return d
	}
	ports := c.groupMembers[group]
	if stateful {
		ports = c.statefulMembers[group]
	}
	d := make(dimension, 0, len(ports))
	for _, p := range ports {
		d = append(d, alternative{match: flows.Match{Regs: []flows.RegMatch{side.port(p.ofport)}}, cookie: p.cookie})
	}
	c.portDims[k] = d
	return d
}

type portDimKey struct {
	group    string
	table    Table
	prio     uint16
	stateful bool
}

func ethType(r intent.Rule) uint16 {
	if r.EtherType == intent.IPv6 {
		return flows.EthTypeIPv6
	}
	return flows.EthTypeIPv4
}

// serviceDimension is a service with its port ranges: the EtherType alone
// for "any", else the IP protocol with the ranges as value/mask matches,
// or the ICMP type and code.
func serviceDimension(service intent.Rule, ranges []portRange) dimension {
	base := flows.Match{EthType: ethType(service)}
	if service.Protocol == intent.ProtocolAny {
		return dimension{{match: base}}
	}
	base.IPProto = flows.U8(uint8(service.Protocol))
	switch service.Protocol {
	case intent.ProtoTCP, intent.ProtoUDP, intent.ProtoSCTP:
		masks := portRangesMasks(ranges)
		if len(masks) == 0 {
			return dimension{{match: base}} // all ports
		}
		var d dimension
		for _, pm := range masks {
			m := base
			m.TPDst = &pm
			d = append(d, alternative{match: m})
		}
		return d
	case intent.ProtoICMP, intent.ProtoICMPv6:
		base.ICMPType, base.ICMPCode = service.ICMPType, service.ICMPCode
	}
	return dimension{{match: base}}
}

// remoteDimension is the remote end of a class: its CIDRs and the
// addresses (IPs and allowed address pairs) of its remote groups' ports,
// of the service's family. The remote is the destination of egress rules
// and the source of ingress rules; originalTuple matches the conntrack
// original direction tuple instead of the packet (for established
// checks). ok is false when any remote is allowed. Remote groups without
// addresses and no CIDR give an empty dimension: the class matches
// nothing.
func (c *compiler) remoteDimension(service intent.Rule, remotes []remote, originalTuple bool) (d dimension, ok bool) {
	// Classes with the same remotes share the dimension (and so the keys
	// of its clause flows).
	k := remoteDimKey{remotesText(remotes), service.EtherType, service.Direction, originalTuple}
	if d, ok := c.remoteDims[k]; ok {
		return d, d != nil
	}
	d, ok = c.buildRemoteDimension(service, remotes, originalTuple)
	if !ok {
		d = nil
	}
	c.remoteDims[k] = d
	return d, ok
}

type remoteDimKey struct {
	remotes       string
	etherType     intent.EtherType
	direction     intent.Direction
	originalTuple bool
}

func (c *compiler) buildRemoteDimension(service intent.Rule, remotes []remote, originalTuple bool) (d dimension, ok bool) {
	var prefixes []netip.Prefix
	for _, rm := range remotes {
		switch {
		case rm.group != "":
			prefixes = append(prefixes, c.groupAddresses(rm.group, service.EtherType == intent.IPv6)...)
		case rm.cidr.IsValid() && rm.cidr.Bits() > 0:
			prefixes = append(prefixes, rm.cidr)
		default:
			return nil, false
		}
	}
	remoteIsDst := service.Direction == intent.Egress
	d = dimension{}
	for _, p := range minimalPrefixes(prefixes) {
		m := flows.Match{EthType: ethType(service)}
		switch {
		case originalTuple && remoteIsDst:
			m.CTNwDst = p
		case originalTuple:
			m.CTNwSrc = p
		case remoteIsDst:
			m.IPDst = p
		default:
			m.IPSrc = p
		}
		if originalTuple {
			// OVS requires a valid tracked state for the original tuple.
			m.CTState = flows.CTStateMatch{Set: flows.CTTrk, Clear: flows.CTInv}
		}
		d = append(d, alternative{match: m})
	}
	return d, true
}

// groupAddresses are the addresses of all ports of group in one family,
// bound or not (the intent says who is a member), as minimal prefixes.
// They are computed once per compiler.
func (c *compiler) groupAddresses(group string, v6 bool) []netip.Prefix {
	k := familyKey{group, v6}
	if ps, ok := c.addresses[k]; ok {
		return ps
	}
	var ps []netip.Prefix
	for _, i := range c.groupPorts[group] {
		p := &c.in.Ports[i]
		for _, ip := range p.IPs {
			if ip.Is6() == v6 {
				ps = append(ps, addrPrefix(ip))
			}
		}
		for _, ap := range p.AllowedAddressPairs {
			if ap.Prefix.Addr().Is6() == v6 {
				ps = append(ps, ap.Prefix)
			}
		}
	}
	ps = minimalPrefixes(ps)
	c.addresses[k] = ps
	return ps
}

// familyKey is a group and an address family.
type familyKey struct {
	group string
	v6    bool
}
