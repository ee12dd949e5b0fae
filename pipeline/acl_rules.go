package pipeline

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// ruleFlows compile every rule of every group that has bound, filtered
// members into a decision with three dimensions: the member ports (the
// rule's side's port register), the remote addresses and the protocol
// with its port range or ICMP type. An allowed packet records the rule id
// (reg3 egress, reg4 ingress) for the commit.
func (c *compiler) ruleFlows() ([]flows.Flow, error) {
	var out []flows.Flow
	for _, g := range c.in.SecurityGroups {
		members := c.members(g.Name)
		if len(members) == 0 {
			continue
		}
		done := map[uint32]bool{}
		for i, r := range g.Rules {
			id := c.ids.rule[ruleKey(g.Name, r)]
			if done[id] {
				continue // an identical rule earlier in the group
			}
			done[id] = true
			side := sideOf(r)
			dims := []dimension{portDimension(side, members), serviceDimension(r)}
			if remote, ok := c.remoteDimension(r, r.Direction == intent.Egress, false); ok {
				dims = append(dims, remote)
			}
			fs, err := conjunctive(decision{
				table: side.table, priority: prioACLRule,
				conjID: conjKindRule | id, cookie: Cookie(KindRule, uint64(id)),
				dims:    dims,
				actions: []flows.Action{flows.Load{Field: side.ruleID, Value: uint64(id)}, goTo(side.next)},
			})
			if err != nil {
				return nil, fmt.Errorf("security_groups[%s].rules[%d] (%s): %w", g.Name, i, describeRule(r), err)
			}
			out = append(out, fs...)
		}
	}
	return out, nil
}

func sideOf(r intent.Rule) aclSide {
	if r.Direction == intent.Egress {
		return egressSide
	}
	return ingressSide
}

// portDimension is "the packet's port on this side is one of ports".
func portDimension(side aclSide, ports []boundPort) dimension {
	var d dimension
	for _, p := range ports {
		d = append(d, alternative{match: flows.Match{Regs: []flows.RegMatch{side.port(p.ofport)}}, cookie: p.cookie})
	}
	return d
}

func ethType(r intent.Rule) uint16 {
	if r.EtherType == intent.IPv6 {
		return flows.EthTypeIPv6
	}
	return flows.EthTypeIPv4
}

// serviceDimension is the rule's protocol: the EtherType alone for "any",
// else the IP protocol with the port range as value/mask matches, or the
// ICMP type and code.
func serviceDimension(r intent.Rule) dimension {
	base := flows.Match{EthType: ethType(r)}
	if r.Protocol == intent.ProtocolAny {
		return dimension{{match: base}}
	}
	base.IPProto = flows.U8(uint8(r.Protocol))
	switch r.Protocol {
	case intent.ProtoTCP, intent.ProtoUDP, intent.ProtoSCTP:
		if !hasPortRange(r) {
			return dimension{{match: base}}
		}
		var d dimension
		for _, pm := range portRangeMasks(r.PortMin, max(r.PortMin, r.PortMax)) {
			m := base
			m.TPDst = &pm
			d = append(d, alternative{match: m})
		}
		return d
	case intent.ProtoICMP, intent.ProtoICMPv6:
		base.ICMPType, base.ICMPCode = r.ICMPType, r.ICMPCode
	}
	return dimension{{match: base}}
}

// remoteDimension is the rule's remote end: a CIDR, or the addresses
// (IPs and allowed address pairs) of the remote group's ports of the
// rule's family. The remote is the destination of egress rules and the
// source of ingress rules; originalTuple matches the conntrack original
// direction tuple instead of the packet (for established checks). ok is
// false when the rule allows any remote. A remote group without
// addresses gives an empty dimension: the rule matches nothing.
func (c *compiler) remoteDimension(r intent.Rule, remoteIsDst, originalTuple bool) (d dimension, ok bool) {
	var prefixes []netip.Prefix
	switch {
	case r.RemoteGroup != "":
		prefixes = c.groupAddresses(r.RemoteGroup, r.EtherType == intent.IPv6)
	case r.RemoteCIDR.IsValid() && r.RemoteCIDR.Bits() > 0:
		prefixes = []netip.Prefix{r.RemoteCIDR.Masked()}
	default:
		return nil, false
	}
	d = dimension{}
	for _, p := range prefixes {
		m := flows.Match{EthType: ethType(r)}
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
func (c *compiler) groupAddresses(group string, v6 bool) []netip.Prefix {
	var ps []netip.Prefix
	for _, p := range c.in.Ports {
		if !slices.Contains(p.SecurityGroups, group) {
			continue
		}
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
	return minimalPrefixes(ps)
}
