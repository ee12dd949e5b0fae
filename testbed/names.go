package testbed

import (
	"fmt"
	"regexp"
)

// ifName matches names that are valid Linux interface names (at most 15
// bytes, IFNAMSIZ-1) and unremarkable in ovs-vsctl and shell commands.
var ifName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)

// reservedNames already exist in the ovs-vswitchd namespace.
var reservedNames = map[string]bool{"lo": true, "ovs-netdev": true, "ovs-system": true}

// reservedNetnsNames are the testbed's own namespaces, <prefix>-<name>,
// which a host's or node's namespace of the same name would collide with.
// "underlay" is also the name of the Linux bridge in the underlay
// namespace and of each node's underlay port.
var reservedNetnsNames = map[string]bool{"ovs": true, underlayName: true}

// checkName validates a switch, host or node name. Switch and host names
// become interface names in the ovs-vswitchd namespace (a bridge's tap
// device, a host's veth end); host and node names become namespace names
// (<prefix>-<name>), and a node's name is its port's name on the
// underlay bridge. So all three share one namespace of names and the
// IFNAMSIZ limit. The caller holds tb.mu.
func (tb *Testbed) checkName(kind, name string) error {
	switch {
	case !ifName.MatchString(name):
		return fmt.Errorf("%s name %q: want 1-15 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
	case reservedNames[name]:
		return fmt.Errorf("%s name %q: reserved", kind, name)
	case kind != "switch" && reservedNetnsNames[name]:
		return fmt.Errorf("%s name %q: reserved (a namespace of the testbed's own)", kind, name)
	case tb.switches[name] != nil:
		return fmt.Errorf("%s name %q: a switch has that name", kind, name)
	case tb.hosts[name] != nil:
		return fmt.Errorf("%s name %q: a host has that name", kind, name)
	case tb.nodes[name] != nil:
		return fmt.Errorf("%s name %q: a node has that name", kind, name)
	}
	return nil
}
