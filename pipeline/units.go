package pipeline

import (
	"hash/maphash"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// The compile is split into units: each unit builds the flows of one
// object (a port, a network's flooding, one rule class of a group, a
// group's established checks, the routers) from a known set of inputs,
// and carries a fingerprint of exactly those inputs. Compile builds every
// unit; Incremental (incremental.go) builds only the units whose
// fingerprint changed since the last commit, which is what makes the cost
// of a change proportional to what it touches.
//
// A unit's fingerprint must cover everything its build reads. The test
// that replays random edits through Incremental and compares the result
// with Compile byte for byte is what catches an input left out.

// unitKind orders units; flows of different units meet only in finish.
type unitKind uint8

const (
	unitInfra unitKind = iota
	unitPort
	unitFlood
	unitRuleClass
	unitEstablished
	unitPolicies
	unitRouters
	unitServices
	unitOverlay
	unitOnLink
)

// unitID names a unit; it is stable across compiles for the same object.
type unitID struct {
	kind unitKind
	name string // port, network, group or router name, or a rule class key
}

type unit struct {
	id    unitID
	fp    uint64
	build func() (built, error)
}

// units lists every unit of c's intent and bindings.
func (c *compiler) units() []unit {
	var out []unit
	out = append(out, unit{id: unitID{kind: unitInfra}, fp: 1, build: func() (built, error) {
		var fs []flows.Flow
		fs = append(fs, tableMissFlows(false)...)
		fs = append(fs, conntrackFlows()...)
		fs = append(fs, portSecurityInfraFlows()...)
		fs = append(fs, aclInfraFlows()...)
		return built{flows: fs}, nil
	}})
	for _, p := range c.ports {
		out = append(out, unit{id: unitID{unitPort, p.Name}, fp: p.fingerprint(), build: func() (built, error) {
			return built{flows: portFlows(p)}, nil
		}})
	}
	for i := range c.in.Networks {
		n := c.in.Networks[i]
		out = append(out, unit{id: unitID{unitFlood, n.Name}, fp: c.floodFingerprint(n), build: func() (built, error) {
			return built{flows: c.floodFlows(n)}, nil
		}})
	}
	for _, g := range c.in.SecurityGroups {
		if len(c.groupMembers[g.Name]) == 0 {
			continue // no bound, filtered member: its rules compile to nothing
		}
		for _, cl := range c.ids.classes[g.Name] {
			out = append(out, unit{id: unitID{unitRuleClass, cl.key()}, fp: c.classFingerprint(cl), build: func() (built, error) {
				return c.classFlows(cl)
			}})
		}
		if len(c.statefulMembers[g.Name]) > 0 {
			out = append(out, unit{id: unitID{unitEstablished, g.Name}, fp: c.establishedFingerprint(g.Name), build: func() (built, error) {
				return c.groupEstablishedFlows(g.Name)
			}})
		}
	}
	if len(c.in.Policies) > 0 {
		out = append(out, unit{id: unitID{kind: unitPolicies}, fp: c.policiesFingerprint(), build: c.policyFlows})
	}
	if c.overlay.TunnelPort != 0 {
		out = append(out, unit{id: unitID{kind: unitOverlay}, fp: c.overlayFingerprint(), build: c.overlayFlows})
	}
	if len(c.in.Services) > 0 {
		out = append(out, unit{id: unitID{kind: unitServices}, fp: c.servicesFingerprint(), build: c.servicesFlows})
	}
	out = append(out, unit{id: unitID{kind: unitRouters}, fp: c.routersFingerprint(), build: func() (built, error) {
		fs := c.routerSeamFlows()
		rs, err := compileRoutersOn(c.in, c.bindings, c.ids, c.hops, c.remoteEndpoint, c.routerAway)
		return built{flows: append(fs, rs...)}, err
	}})
	for i := range c.in.Routers {
		r := &c.in.Routers[i]
		if _, away := c.routerAway(r); away {
			continue
		}
		uplink := c.bindings[r.External.Port]
		out = append(out, unit{id: unitID{unitOnLink, r.Name}, fp: onLinkFingerprint(r, uplink, c.hops), build: func() (built, error) {
			return built{flows: onLinkNeighbourFlows(r, uplink, c.hops)}, nil
		}})
	}
	return out
}

// portFlows are every flow that serves one bound port.
func portFlows(p boundPort) []flows.Flow {
	var out []flows.Flow
	out = append(out, classifyPort(p))
	out = append(out, portSecurityFlows(p)...)
	out = append(out, l2PortFlows(p)...)
	out = append(out, aclPortModeFlows(p)...)
	out = append(out, commitFlows(p)...)
	out = append(out, outputPort(p))
	out = append(out, outputHairpin(p)...)
	out = append(out, serviceNeighbour(p)...)
	return out
}

// fingerprint covers everything portFlows reads: the port as written,
// its OpenFlow port, network zone, cookie, mode and whether it is routed.
func (p boundPort) fingerprint() uint64 {
	return newFingerprint().value(*p.Port).u64(uint64(p.ofport)).u64(uint64(p.zone)).
		u64(p.cookie).bool(p.stateful).bool(p.routed).u64(uint64(p.egressMeter)).u64(uint64(p.ingressMeter)).bool(p.services).sum()
}

// floodFingerprint covers floodFlows(n): the network, its zone, whether
// it is routed, and its bound ports in flood order.
func (c *compiler) floodFingerprint(n intent.Network) uint64 {
	f := newFingerprint().value(n).u64(uint64(c.ids.zone[n.Name])).bool(c.routed(n)).u64(uint64(c.overlay.TunnelPort))
	for _, ep := range c.remoteEndpoints(n.Name) {
		f.str(ep.String())
	}
	for _, p := range c.ports {
		if p.Network == n.Name {
			f.u64(uint64(p.ofport))
		}
	}
	return f.sum()
}

// membersFingerprint covers what a rule reads of its group's members
// (stateful ones only, if stateful): their port numbers and cookies, in
// order. It is computed once per group and compile.
func (c *compiler) membersFingerprint(group string, stateful bool) uint64 {
	k := portDimKey{group: group, stateful: stateful}
	if fp, ok := c.memberFPs[k]; ok {
		return fp
	}
	ports := c.groupMembers[group]
	if stateful {
		ports = c.statefulMembers[group]
	}
	f := newFingerprint().u64(uint64(len(ports)))
	for _, p := range ports {
		f.u64(uint64(p.ofport)).u64(p.cookie)
	}
	c.memberFPs[k] = f.sum()
	return c.memberFPs[k]
}

// remotesFingerprint covers the addresses of the remote groups of a
// class, in the class's family.
func (c *compiler) remotesFingerprint(f *fingerprint, cl ruleClass) {
	v6 := cl.service.EtherType == intent.IPv6
	for _, rm := range cl.remotes {
		if rm.group != "" {
			f.str(rm.group).u64(c.addressesFingerprint(rm.group, v6))
		}
	}
}

// addressesFingerprint covers groupAddresses(group, v6), once per compile.
func (c *compiler) addressesFingerprint(group string, v6 bool) uint64 {
	k := familyKey{group, v6}
	if fp, ok := c.addressFPs[k]; ok {
		return fp
	}
	f := newFingerprint()
	for _, p := range c.groupAddresses(group, v6) {
		f.u64(maphash.Comparable(fpSeed, p))
	}
	c.addressFPs[k] = f.sum()
	return c.addressFPs[k]
}

// classFingerprint covers classFlows(cl): the class (its text says its
// service, ranges and remotes), its id, its group's filtered members and
// its remote groups' addresses.
func (c *compiler) classFingerprint(cl ruleClass) uint64 {
	f := newFingerprint().str(cl.key()).u64(uint64(cl.id)).u64(c.membersFingerprint(cl.group, false))
	c.remotesFingerprint(f, cl)
	return f.sum()
}

// establishedFingerprint covers groupEstablishedFlows(g): the group's id,
// its classes with their ids and remotes' addresses, and its stateful
// members.
func (c *compiler) establishedFingerprint(g string) uint64 {
	f := newFingerprint().str(g).u64(uint64(c.ids.group[g])).u64(c.membersFingerprint(g, true))
	for _, cl := range c.ids.classes[g] {
		f.str(cl.key()).u64(uint64(cl.id))
		c.remotesFingerprint(f, cl)
	}
	return f.sum()
}

// policiesFingerprint covers policyFlows: the policies as written, their
// rules' ids, the ports each applies to (number, cookie; in port order)
// and the addresses of the remote groups their rules name.
func (c *compiler) policiesFingerprint() uint64 {
	f := newFingerprint().value(c.in.Policies)
	for _, p := range c.in.Policies {
		for _, bp := range c.policyPorts(&p) {
			f.u64(uint64(bp.ofport)).u64(bp.cookie)
		}
		f.u64(0) // ends the policy's ports
		for _, r := range p.Rules {
			f.u64(uint64(c.ids.policyRule[policyRuleKey(p.Name, r)]))
			if r.Match.RemoteGroup != "" {
				f.u64(c.addressesFingerprint(r.Match.RemoteGroup, r.Match.EtherType == intent.IPv6))
			}
		}
	}
	return f.sum()
}

// routersFingerprint covers the router seam and every router: routers
// and networks as written, the networks' zones, and every port a router
// routes to or translates for, with its binding; the uplinks' bindings
// and the learned next hops.
func (c *compiler) routersFingerprint() uint64 {
	f := newFingerprint().value(c.in.Routers)
	if len(c.in.Routers) == 0 {
		return f.sum()
	}
	f.value(c.in.Networks)
	for _, n := range c.in.Networks {
		f.u64(uint64(c.ids.zone[n.Name]))
	}
	routed := map[string]bool{}
	for _, r := range c.in.Routers {
		for _, n := range r.Networks {
			routed[n] = true
		}
		for _, fip := range r.FloatingIPs {
			routed["\x00"+fip.Port] = true
		}
		for _, pf := range r.PortForwards {
			routed["\x00"+pf.Port] = true
		}
		ofport, bound := c.bindings[r.External.Port]
		ep, away := c.routerAway(&r)
		f.str(r.External.Port).bool(bound).u64(uint64(ofport)).str(ep.String()).bool(away)
		for _, v6 := range []bool{false, true} {
			mac, learned := c.hops[NextHopKey{Router: r.Name, IPv6: v6}]
			f.bool(learned).str(string(mac[:]))
		}
	}
	for i := range c.in.Ports {
		p := &c.in.Ports[i]
		if !routed[p.Network] && !routed["\x00"+p.Name] {
			continue
		}
		ofport, bound := c.bindings[p.Name]
		f.value(*p).bool(bound).u64(uint64(ofport)).u64(uint64(c.ids.port[p.Name])).str(c.remoteEndpoint(p.Name).String())
	}
	f.u64(uint64(c.overlay.TunnelPort))
	return f.sum()
}
