package pipeline

import (
	"fmt"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Established connections of stateful ports pass without re-evaluating
// the rules, but only while the rule that allowed them lives: the commit
// recorded the egress rule id in ct_label[0..31] and the ingress rule id
// in ct_label[32..63], and these checks match those ids against the rules
// that exist and apply to the port now. Which half is checked depends on
// the packet's direction:
//
//	table        packet from/to     -rpl (originator sends)   +rpl (responder sends)
//	egress_acl   sender reg0        egress half: its rule     ingress half: its rule
//	ingress_acl  receiver reg1      ingress half: its rule    egress half: its rule
//
// The ids are those of rule classes (rule_classes.go); a class of one rule
// has the rule's id. For every group, one decision covers its classes
// without a remote group: {label = one of their ids} × {port = one of its
// stateful members}. A class with a remote group gets its own decision
// with a third dimension: the remote end of the connection's original
// tuple (ct_nw_dst for egress rules, ct_nw_src for ingress rules) must be
// an address of a current member of the remote group (or one of the
// class's CIDRs), so a port that leaves the group loses the connections
// its membership allowed. Anything established that no check passes hits
// prioACLStale and drops.
//
// groupEstablishedFlows builds these checks for one group's stateful
// members.
func (c *compiler) groupEstablishedFlows(group string) (built, error) {
	if len(c.statefulMembers[group]) == 0 {
		return built{}, nil
	}
	var out built
	for _, side := range []aclSide{egressSide, ingressSide} {
		var labels dimension
		for _, cl := range c.ids.classes[group] {
			label := labelAlternative(side, cl.service, cl.id)
			if !cl.hasRemoteGroup() {
				labels = append(labels, label) // its remotes never change
				continue
			}
			remote, ok := c.remoteDimension(cl.service, cl.remotes, true)
			if !ok {
				labels = append(labels, label) // any remote: no membership to lose
				continue
			}
			b, err := conjunctive(decision{
				table: side.table, priority: prioACLEstablished,
				conjID: conjKindRemoteCheck | cl.id, cookie: Cookie(KindRule, uint64(cl.id)),
				dims:    []dimension{{label}, c.portDimension(group, side, prioACLEstablished, true), remote},
				varying: 1<<1 | 1<<2, // the members, the remote group's addresses
				actions: []flows.Action{goTo(side.next)},
			})
			if err != nil {
				return built{}, fmt.Errorf("%s: established check: %w", cl.describe(), err)
			}
			out.add(b)
		}
		if len(labels) == 0 {
			continue
		}
		gid := c.ids.group[group]
		b, err := conjunctive(decision{
			table: side.table, priority: prioACLEstablished,
			conjID: conjKindGroupCheck | gid, cookie: Cookie(KindSecurityGroup, uint64(gid)),
			dims:    []dimension{labels, c.portDimension(group, side, prioACLEstablished, true)},
			varying: 1 << 1, // the members
			actions: []flows.Action{goTo(side.next)},
		})
		if err != nil {
			return built{}, fmt.Errorf("security_groups[%s]: established check: %w", group, err)
		}
		out.add(b)
	}
	return out, nil
}

// labelAlternative matches established/related packets of connections
// that the rule (class) id of service r allowed, seen from side (see the
// table above).
func labelAlternative(side aclSide, r intent.Rule, id uint32) alternative {
	ofs := labelIngressOfs
	if r.Direction == intent.Egress {
		ofs = labelEgressOfs
	}
	state := flows.CTStateMatch{Set: flows.CTTrk, Clear: flows.CTNew | flows.CTInv}
	if sideOf(r).table != side.table {
		state.Set |= flows.CTRpl // the port is the other end of the rule's connection
	} else {
		state.Clear |= flows.CTRpl
	}
	return alternative{
		match:  flows.Match{CTState: state, CTLabel: matchLabelRule(ofs, id)},
		cookie: Cookie(KindRule, uint64(id)),
	}
}
