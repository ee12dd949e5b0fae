package pipeline

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Admin policies (docs/intent-reference.md, "policies[]") sit above the
// security groups. In each ACL table, a port that policies apply to goes
// first to the side's policy table (prioACLPolicy), which holds every
// policy rule at a priority of its own, derived from the policy's
// priority and the rule's index, so the first matching rule wins:
//
//	allow   load the rule id for the commit (ct_label records it), go on
//	        past the groups (pre_lb / commit)
//	deny    drop
//	reject  drop; a new connection's first packet goes to the controller,
//	        which answers the sender with a TCP RST or an ICMP port
//	        unreachable (package reject)
//
// A rule with log: true also sends a new connection's first packet to the
// controller, which logs it.
//	pass    set the side's "policies done" flag in reg2, resubmit to the
//	        ACL table, which now skips the policy entry and applies the
//	        groups; clear the flag when the resubmit returns, so the next
//	        receiver of a flood is judged by its own policies
//
// and the table's miss flow passes too. Policies judge every packet of a
// connection, not only the first: a rule matches the originator's packets
// (-rpl, new or established) on its own side by the packet's fields, and
// the replies (+rpl) on the other side by the same fields reversed (the
// remote is the source of an egress rule's replies, the rule's ports
// their source ports). So a deny added under a live connection drops its
// next packet in either direction, and a connection an allow admitted is
// passed without the groups' label checks (its ct_label names the policy
// rule, which no group knows: once no allow matches it any more, the
// groups' stale check ends it).
//
// Only stateful, filtered ports take policies (validation sees to the
// ports it names; all and groups select only those).

// Policy rule priorities: two per rule (conjunctive flows, and plain ones
// one above, conjunction.go), from prioPolicyTop down in policy-priority
// then rule order: the top rule is 60000, the lowest possible 10002.
// They depend only on the policy's priority and the rule's index, so
// adding or removing a policy never moves another's flows.
const prioPolicyTop uint16 = 60000

func policyRulePriority(p *intent.Policy, i int) uint16 {
	return prioPolicyTop - 2*uint16(int(p.Priority)*intent.MaxPolicyRules+i)
}

// policyRuleKey identifies a policy rule by its policy and content (not
// its index): its id, cookie and ct_label. Two rules of a policy with the
// same content share it; validation marks the later one Shadowed (with a
// warning) and it gets no flows, so the key names one live rule.
func policyRuleKey(policy string, r intent.PolicyRule) string {
	return "\x01policy\x00" + policy + "\x00" + string(r.Action) + " " + describeRule(r.Match)
}

// describePolicyRule names a policy rule as traces and dumps show it.
func describePolicyRule(policy string, i int, r intent.PolicyRule) string {
	return fmt.Sprintf("policies[%s].rules[%d] (%s %s)", policy, i, r.Action, describeRule(r.Match))
}

// policiesInOrder are the intent's policies, lowest priority number first.
func policiesInOrder(in *intent.Intent) []*intent.Policy {
	out := make([]*intent.Policy, len(in.Policies))
	for i := range in.Policies {
		out[i] = &in.Policies[i]
	}
	slices.SortStableFunc(out, func(a, b *intent.Policy) int { return cmp.Compare(a.Priority, b.Priority) })
	return out
}

// policyPorts are the bound ports p applies to, in port order.
func (c *compiler) policyPorts(p *intent.Policy) []boundPort {
	var out []boundPort
	for _, bp := range c.ports {
		if !bp.PortSecurity || !bp.stateful {
			continue
		}
		if p.AppliesTo.All || slices.Contains(p.AppliesTo.Ports, bp.Name) ||
			slices.ContainsFunc(bp.SecurityGroups, func(g string) bool { return slices.Contains(p.AppliesTo.Groups, g) }) {
			out = append(out, bp)
		}
	}
	return out
}

// policyFlows are every flow of the admin policies: the policy tables'
// rules and miss flows, and the entry of each port they apply to.
func (c *compiler) policyFlows() (built, error) {
	if len(c.in.Policies) == 0 {
		return built{}, nil
	}
	var out built
	for _, side := range []aclSide{egressSide, ingressSide} {
		out.flows = append(out.flows, flows.Flow{Table: uint8(side.policy), Priority: 0,
			Cookie: infraCookie(side.policy), Actions: passActions(side)})
	}
	entered := map[string]boundPort{}
	for _, p := range policiesInOrder(c.in) {
		ports := c.policyPorts(p)
		if len(ports) == 0 {
			continue
		}
		for _, bp := range ports {
			entered[bp.Name] = bp
		}
		portDims := map[Table]dimension{}
		for _, side := range []aclSide{egressSide, ingressSide} {
			d := make(dimension, 0, len(ports))
			for _, bp := range ports {
				d = append(d, alternative{match: flows.Match{Regs: []flows.RegMatch{side.port(bp.ofport)}}, cookie: bp.cookie})
			}
			portDims[side.table] = d
		}
		for i, r := range p.Rules {
			if r.Shadowed {
				continue // an earlier rule matches all it does: it never decides
			}
			id := c.ids.policyRule[policyRuleKey(p.Name, r)]
			own := sideOf(r.Match)
			for _, side := range []aclSide{own, otherSide(own)} {
				reverse := side.table != own.table
				service, remoteRule := policyMatch(r.Match, reverse)
				// Not +trk: a filtered flood runs each receiver's ACLs in
				// turn, and after the first commit the later receivers see
				// the packet untracked (a ct action clears ct_state for the
				// rest of the translation); they must still be judged.
				state := flows.CTStateMatch{Clear: flows.CTInv | flows.CTRpl}
				if reverse {
					state = flows.CTStateMatch{Set: flows.CTTrk | flows.CTRpl, Clear: flows.CTInv}
				}
				dims := []dimension{portDims[side.table], service, {{match: flows.Match{CTState: state}}}}
				if rd, ok := c.remoteDimension(remoteRule, []remote{remoteOf(r.Match)}, false); ok {
					dims = append(dims, rd)
				}
				b, err := conjunctive(decision{
					table: side.policy, priority: policyRulePriority(p, i),
					conjID: conjKindPolicy | id, cookie: Cookie(KindPolicyRule, uint64(id)),
					dims:    dims,
					actions: policyActions(r.Action, side, reverse, id),
				})
				if err != nil {
					return built{}, fmt.Errorf("%s: %w", describePolicyRule(p.Name, i, r), err)
				}
				if !reverse && (r.Action == intent.ActionReject || r.Log) {
					b.flows = newConnectionFlows(b.flows, r)
				}
				out.add(b)
			}
		}
	}
	for _, bp := range c.ports {
		if _, ok := entered[bp.Name]; !ok {
			continue
		}
		for _, side := range []aclSide{egressSide, ingressSide} {
			out.flows = append(out.flows, side.flow(prioACLPolicy, bp.cookie,
				flows.Match{Regs: []flows.RegMatch{side.port(bp.ofport), flows.Reg(regNetwork, 0, side.policiesFlag)}},
				goTo(side.policy)))
		}
	}
	return out, nil
}

// newConnectionFlows split the decision flows of a rule that tells the
// controller about new connections (a reject, which the controller
// answers, or a rule with log: true) in two: a new connection's packet
// also goes to the controller, any other packet only gets the rule's
// actions. The controller action comes first, so the controller sees the
// packet as it arrived; the bridge's controller meter (openflow's
// PacketInRate) bounds how many reach it.
func newConnectionFlows(decided []flows.Flow, r intent.PolicyRule) []flows.Flow {
	var out []flows.Flow
	for _, f := range decided {
		first, rest := f, f
		first.Match.CTState.Set |= flows.CTNew
		first.Actions = append([]flows.Action{flows.Controller{Reason: flows.PacketInAction}}, f.Actions...)
		rest.Match.CTState.Clear |= flows.CTNew
		out = append(out, first, rest)
	}
	return out
}

func otherSide(s aclSide) aclSide {
	if s.table == egressSide.table {
		return ingressSide
	}
	return egressSide
}

// passActions hand a packet back to the side's ACL table for the groups.
func passActions(side aclSide) []flows.Action {
	return []flows.Action{
		flows.Load{Field: side.policiesDone, Value: 1},
		flows.Resubmit{Table: uint8(side.table)},
		flows.Load{Field: side.policiesDone, Value: 0},
	}
}

// policyActions is what a policy rule does on side (reverse: with the
// replies of the connections it matches).
func policyActions(a intent.PolicyAction, side aclSide, reverse bool, id uint32) []flows.Action {
	switch a {
	case intent.ActionAllow:
		if reverse {
			return []flows.Action{goTo(side.next)}
		}
		return []flows.Action{flows.Load{Field: side.ruleID, Value: uint64(id)}, goTo(side.next)}
	case intent.ActionPass:
		return passActions(side)
	}
	return nil // deny, reject: drop
}

// policyMatch is the service dimension of a policy rule's match, and the
// rule to read its remote from: as written, or reversed for the replies
// (destination ports become source ports, the remote the other address,
// an echo request an echo reply; other ICMP types are matched by
// protocol alone, since their replies have types of their own).
func policyMatch(r intent.Rule, reverse bool) (dimension, intent.Rule) {
	var ranges []portRange
	if hasPortRange(r) {
		ranges = []portRange{rangeOf(r)}
	}
	service := serviceOf(r)
	if reverse && service.ICMPType != nil {
		switch t := *service.ICMPType; {
		case service.Protocol == intent.ProtoICMP && t == 8:
			service.ICMPType, service.ICMPCode = flows.U8(0), nil
		case service.Protocol == intent.ProtoICMPv6 && t == 128:
			service.ICMPType, service.ICMPCode = flows.U8(129), nil
		default:
			service.ICMPType, service.ICMPCode = nil, nil
		}
	}
	d := serviceDimension(service, ranges)
	remote := r
	if reverse {
		for i := range d {
			d[i].match.TPSrc, d[i].match.TPDst = d[i].match.TPDst, nil
		}
		remote.Direction = intent.Ingress
		if r.Direction == intent.Ingress {
			remote.Direction = intent.Egress
		}
	}
	return d, remote
}
