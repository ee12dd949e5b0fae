package intent

import (
	"slices"
	"strings"
)

// policyList checks the admin policies. It runs after the groups and
// ports, which applies_to and remote_group name.
func (v *validator) policyList() {
	docs := v.doc.Policies
	names := make([]string, len(docs))
	for i := range docs {
		names[i] = docs[i].Name
	}
	l := nameList("policies", names)
	v.in.Policies = makeList[Policy](len(docs))
	priorities := map[uint16]string{}
	for i := range docs {
		v.checkName(l, i)
		v.policy(&docs[i], &v.in.Policies[i], l.paths[i], priorities)
	}
}

func (v *validator) policy(d *PolicyDoc, p *Policy, path string, priorities map[uint16]string) {
	p.Name = d.Name
	switch prio := d.Priority; {
	case prio == nil:
		v.add(join(path, "priority"), "required (0-%d; lower wins)", MaxPolicyPriority)
	case *prio < 0 || *prio > MaxPolicyPriority:
		v.add(join(path, "priority"), "%d is out of range 0-%d", *prio, MaxPolicyPriority)
	default:
		p.Priority = uint16(*prio)
		if prev, dup := priorities[p.Priority]; dup {
			v.add(join(path, "priority"), "%d is also the priority of %s; give every policy its own", *prio, prev)
		} else {
			priorities[p.Priority] = path
		}
	}
	p.AppliesTo = v.policyTarget(d.AppliesTo, join(path, "applies_to"))

	if len(d.Rules) > MaxPolicyRules {
		v.add(join(path, "rules"), "%d rules; at most %d", len(d.Rules), MaxPolicyRules)
		return
	}
	p.Rules = makeList[PolicyRule](len(d.Rules))
	var good []int // rules without errors, which the shadow check compares
	for i := range d.Rules {
		rd := &d.Rules[i]
		rulePath := index(join(path, "rules"), i)
		before := len(v.errs)
		r := &p.Rules[i]
		switch a := PolicyAction(strings.ToLower(rd.Action)); a {
		case ActionAllow, ActionDeny, ActionReject, ActionPass:
			r.Action = a
		case "":
			v.add(join(rulePath, "action"), "required (allow, deny, reject or pass)")
		default:
			v.add(join(rulePath, "action"), "%s is not allow, deny, reject or pass", quote(rd.Action))
		}
		m := rd.match()
		r.Match = v.rule(&m, rulePath)
		r.Log = rd.Log
		if len(v.errs) > before {
			continue
		}
		// The first match decides, so a rule that an earlier one covers
		// never decides anything. The document still means something
		// definite (the rule is simply never reached), so it is accepted
		// with a warning: usually the order is the mistake.
		for _, j := range good {
			if covers(p.Rules[j].Match, r.Match) {
				v.warn(rulePath, "never matches: rules[%d] (%s) matches everything it does", j, p.Rules[j].Action)
				r.Shadowed = true
				break
			}
		}
		if !r.Shadowed {
			good = append(good, i)
		}
	}
}

func (v *validator) policyTarget(d *PolicyTargetDoc, path string) PolicyTarget {
	var t PolicyTarget
	if d == nil || !d.All && len(d.SecurityGroups) == 0 && len(d.Ports) == 0 {
		v.add(path, "required: all: true, or security_groups and/or ports")
		return t
	}
	t.All = d.All
	if d.All && (len(d.SecurityGroups) > 0 || len(d.Ports) > 0) {
		v.add(path, "all: true applies to every port; give no security_groups or ports with it")
		return t
	}
	for i, g := range d.SecurityGroups {
		p := index(join(path, "security_groups"), i)
		switch grp := v.groups[g]; {
		case slices.Index(d.SecurityGroups, g) < i:
			v.add(p, "group %s is listed twice", quote(g))
		case grp == nil:
			v.add(p, "unknown group %s", quote(g))
		case !grp.Stateful:
			v.add(p, "group %s is stateless; policies apply to stateful ports only", quote(g))
		default:
			t.Groups = append(t.Groups, g)
		}
	}
	for i, name := range d.Ports {
		p := index(join(path, "ports"), i)
		info := v.ports[name]
		switch {
		case slices.Index(d.Ports, name) < i:
			v.add(p, "port %s is listed twice", quote(name))
		case info == nil:
			v.add(p, "unknown port %s", quote(name))
		case !info.port.PortSecurity:
			v.add(p, "port %s has port_security: false; policies apply to filtered ports only", quote(name))
		case !v.statefulPort(info.port):
			v.add(p, "port %s is in stateless groups only; policies apply to stateful ports only", quote(name))
		default:
			t.Ports = append(t.Ports, name)
		}
	}
	return t
}

// statefulPort reports whether p's connections are tracked: it is in no
// group or in at least one stateful group.
func (v *validator) statefulPort(p *Port) bool {
	if len(p.SecurityGroups) == 0 {
		return true
	}
	for _, g := range p.SecurityGroups {
		if grp := v.groups[g]; grp != nil && grp.Stateful {
			return true
		}
	}
	return false
}

// covers reports whether every packet b matches is matched by a too.
func covers(a, b Rule) bool {
	if a.Direction != b.Direction || a.EtherType != b.EtherType {
		return false
	}
	if a.Protocol != ProtocolAny && a.Protocol != b.Protocol {
		return false
	}
	if a.Protocol != ProtocolAny {
		if a.PortMin != 0 && (b.PortMin == 0 || b.PortMin < a.PortMin || b.PortMax > a.PortMax) {
			return false
		}
		if a.ICMPType != nil && (b.ICMPType == nil || *b.ICMPType != *a.ICMPType) {
			return false
		}
		if a.ICMPCode != nil && (b.ICMPCode == nil || *b.ICMPCode != *a.ICMPCode) {
			return false
		}
	}
	switch {
	case a.RemoteGroup != "":
		return b.RemoteGroup == a.RemoteGroup
	case a.RemoteCIDR.IsValid():
		return b.RemoteCIDR.IsValid() && a.RemoteCIDR.Bits() <= b.RemoteCIDR.Bits() && a.RemoteCIDR.Contains(b.RemoteCIDR.Addr())
	}
	return true // any remote
}
