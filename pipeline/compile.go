package pipeline

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Bindings maps a port name (= external_ids:iface-id) to its OpenFlow port
// number. A port not in the map is not bound yet: it gets no flows, and
// nothing can be sent to it.
type Bindings map[string]uint32

// Compile returns the complete flow set of the pipeline for in and b,
// sorted by table, priority (highest first) and text. It is pure and
// deterministic: the same input gives byte-identical output. Cookies are of
// round 0; the controller sets the round with WithRound.
func Compile(in *intent.Intent, b Bindings) ([]flows.Flow, error) {
	c := newCompiler(in, b)
	var out []flows.Flow
	add := func(fs []flows.Flow, err error) error {
		out = append(out, fs...)
		return err
	}
	out = append(out, tableMissFlows()...)
	out = append(out, conntrackFlows()...)
	out = append(out, portSecurityInfraFlows()...)
	out = append(out, aclInfraFlows()...)
	for _, p := range c.ports {
		out = append(out, classifyPort(p))
		out = append(out, portSecurityFlows(p)...)
		out = append(out, l2PortFlows(p)...)
		out = append(out, aclPortModeFlows(p)...)
		out = append(out, commitFlows(p)...)
		out = append(out, outputPort(p))
	}
	for _, n := range in.Networks {
		out = append(out, c.floodFlows(n)...)
	}
	if err := add(c.ruleFlows()); err != nil {
		return nil, err
	}
	if err := add(c.establishedFlows()); err != nil {
		return nil, err
	}
	out = append(out, c.routerSeamFlows()...)
	if err := add(compileRouters(in, b, c.ids)); err != nil {
		return nil, err
	}
	return finish(out)
}

// finish merges shared conjunction flows, settles rules that compiled to
// the same plain flow, validates every flow and sorts them.
func finish(fs []flows.Flow) ([]flows.Flow, error) {
	fs = mergeConjunctions(fs)
	fs = settleDuplicateRuleFlows(fs)
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("compiled flow %q is invalid: %w", f.String(), err)
		}
	}
	return flows.Dedupe(fs)
}

// settleDuplicateRuleFlows keeps one of several rule flows that have the
// same table, priority and match (two rules allowing exactly the same
// traffic on a port): the one whose text sorts first. Both are allows, so
// the verdict is the same; the connection is labelled with the kept rule.
func settleDuplicateRuleFlows(fs []flows.Flow) []flows.Flow {
	best := map[string]flows.Flow{}
	var order []string
	var out []flows.Flow
	for _, f := range fs {
		if cookieKind(f.Cookie) != KindRule || onlyConjunctions(f) {
			out = append(out, f)
			continue
		}
		k := f.Key()
		prev, seen := best[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || f.String() < prev.String() {
			best[k] = f
		}
	}
	for _, k := range order {
		out = append(out, best[k])
	}
	return out
}

// compiler holds what the builders share: the intent, its ids and the
// bound ports.
type compiler struct {
	in     *intent.Intent
	ids    ids
	ports  []boundPort
	byName map[string]boundPort
}

// boundPort is an intent port with an OpenFlow port number.
type boundPort struct {
	*intent.Port
	ofport uint32
	zone   uint16 // its network's ct zone = network id
	cookie uint64
	// stateful: filtered and at least one of its groups is stateful (or
	// it has none): the port's connections are committed and its
	// established packets are checked against live rules. A port whose
	// groups are all stateless is judged packet by packet.
	stateful bool
}

func newCompiler(in *intent.Intent, b Bindings) *compiler {
	c := &compiler{in: in, ids: assignIDs(in), byName: map[string]boundPort{}}
	for i := range in.Ports {
		p := &in.Ports[i]
		ofport, ok := b[p.Name]
		if !ok {
			continue
		}
		bp := boundPort{
			Port:   p,
			ofport: ofport,
			zone:   c.ids.zone[p.Network],
			cookie: Cookie(KindPort, uint64(c.ids.port[p.Name])),
		}
		bp.stateful = p.PortSecurity && (len(p.SecurityGroups) == 0 || slices.ContainsFunc(p.SecurityGroups, func(g string) bool {
			sg := in.SecurityGroup(g)
			return sg != nil && sg.Stateful
		}))
		c.ports = append(c.ports, bp)
		c.byName[p.Name] = bp
	}
	// Port order decides the order of flood actions: by port number.
	slices.SortFunc(c.ports, func(a, b boundPort) int {
		return cmp.Or(cmp.Compare(a.ofport, b.ofport), cmp.Compare(a.Name, b.Name))
	})
	return c
}

// members returns the bound ports of group g for which the compiler
// applies filtering, in port order.
func (c *compiler) members(group string) []boundPort {
	var out []boundPort
	for _, p := range c.ports {
		if p.PortSecurity && slices.Contains(p.SecurityGroups, group) {
			out = append(out, p)
		}
	}
	return out
}

func goTo(t Table) flows.Action { return flows.Goto{Table: uint8(t)} }
