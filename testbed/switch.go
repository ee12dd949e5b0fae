package testbed

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Switch is an OVS bridge in the testbed's private OVS, or a node's
// integration bridge in that node's OVS. Its bridge name is the switch
// name, so `ovs-ofctl dump-flows <name>` against Switch.OVS reads it.
type Switch struct {
	tb     *Testbed
	name   string
	secure bool
	node   *Node // nil: a bridge of the testbed's own OVS
}

// SwitchOpts configure a new switch.
type SwitchOpts struct {
	// Secure creates the bridge with fail_mode=secure and no flows: it
	// forwards nothing until a controller programs it. Otherwise the bridge
	// is standalone with OVS's default priority-0 NORMAL flow, a learning
	// switch for plain L2 tests.
	Secure bool
}

// Name is the switch's (and its bridge's) name.
func (s *Switch) Name() string { return s.name }

// Secure reports whether the bridge was created with fail_mode=secure.
func (s *Switch) Secure() bool { return s.secure }

// Node is the node whose integration bridge this is, or nil for a switch
// of the testbed's own OVS.
func (s *Switch) Node() *Node { return s.node }

// OVS is the Open vSwitch the bridge belongs to: its node's, or the
// testbed's own.
func (s *Switch) OVS() *OVS {
	if s.node != nil {
		return s.node.ovs
	}
	return s.tb.ovs
}

// netns is where the bridge's ovs-vswitchd runs and where the switch ends
// of its links live.
func (s *Switch) netns() string {
	if s.node != nil {
		return s.node.state.Netns
	}
	return s.tb.state.OVSNetns
}

// openFlowVersions are enabled on every bridge: 1.0 so that a plain
// `ovs-ofctl dump-flows` works, 1.3 for the controller, 1.4+ for bundles.
const openFlowVersions = "OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15"

// AddSwitch creates a bridge named name with the testbed's datapath type.
func (tb *Testbed) AddSwitch(ctx context.Context, name string, opts SwitchOpts) (*Switch, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if err := tb.checkName("switch", name); err != nil {
		return nil, err
	}
	failMode := "standalone"
	if opts.Secure {
		failMode = "secure"
	}
	if _, err := tb.ovs.Vsctl(ctx, "add-br", name, "--", "set", "Bridge", name,
		"datapath_type="+tb.ovs.Datapath, "fail_mode="+failMode, "protocols="+openFlowVersions); err != nil {
		return nil, fmt.Errorf("add switch %s: %w", name, err)
	}
	s := &Switch{tb: tb, name: name, secure: opts.Secure}
	tb.switches[name] = s
	tb.state.Switches = append(tb.state.Switches, SwitchState{Name: name, Secure: opts.Secure})
	return s, nil
}

// LinkSwitches joins two switches with a pair of OVS patch ports named
// patch-<a>-<b> and patch-<b>-<a>. Patch ports live in OVS alone (no
// kernel device), so the link costs nothing and works on every datapath.
// Both switches must be in the same OVS: nodes are joined by tunnels.
func (tb *Testbed) LinkSwitches(ctx context.Context, a, b *Switch) error {
	if a.node != b.node {
		return fmt.Errorf("link switches %s and %s: not in the same OVS (patch ports cannot cross nodes)", a.name, b.name)
	}
	ab, ba := "patch-"+a.name+"-"+b.name, "patch-"+b.name+"-"+a.name
	if _, err := a.OVS().Vsctl(ctx,
		"add-port", a.name, ab, "--", "set", "Interface", ab, "type=patch", "options:peer="+ba, "--",
		"add-port", b.name, ba, "--", "set", "Interface", ba, "type=patch", "options:peer="+ab); err != nil {
		return fmt.Errorf("link switches %s and %s: %w", a.name, b.name, err)
	}
	return nil
}

// AddDummyPorts adds one interface of type dummy per name to the switch,
// each bound the way Link binds a host (external_ids:iface-id=<name>), in
// one transaction, and returns their ofports in the order of names. A
// dummy interface is a port to OVS and nothing to the kernel: it makes
// scale tests cheap (a thousand ports, no devices) but carries no
// traffic. Every OVS the testbed starts has the type (--enable-dummy).
func (s *Switch) AddDummyPorts(ctx context.Context, names ...string) ([]uint32, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var add, get []string
	for _, name := range names {
		add = append(add, "--", "add-port", s.name, name, "--", "set", "Interface", name,
			"type=dummy", "external_ids:iface-id="+name)
		get = append(get, "--", "get", "Interface", name, "ofport")
	}
	o := s.OVS()
	if _, err := o.Vsctl(ctx, add[1:]...); err != nil {
		return nil, fmt.Errorf("switch %s: add %d dummy ports: %w", s.name, len(names), err)
	}
	// add-port returns once ovs-vswitchd has configured the ports, so
	// the ofports are final (-1 would mean it failed).
	out, err := o.Vsctl(ctx, get[1:]...)
	if err != nil {
		return nil, fmt.Errorf("switch %s: ofports of dummy ports: %w", s.name, err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) != len(names) {
		return nil, fmt.Errorf("switch %s: %d ofports for %d dummy ports:\n%s", s.name, len(lines), len(names), out)
	}
	ofports := make([]uint32, len(names))
	for i, line := range lines {
		ofport, err := strconv.ParseInt(line, 10, 32)
		if err != nil || ofport <= 0 {
			return nil, fmt.Errorf("switch %s: dummy port %s got no ofport (%q)", s.name, names[i], line)
		}
		ofports[i] = uint32(ofport)
	}
	return ofports, nil
}
