package testbed

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Link connects a host to a switch with a veth pair: eth0 in the host's
// namespace, and an end named after the host in the namespace of the
// switch's ovs-vswitchd (the testbed's, or the node's for a node's
// integration bridge) that becomes an OVS port with
// external_ids:iface-id=<host> and external_ids:attached-mac=<mac>, the
// way a hypervisor plugs a VM. A host has one link.
func (tb *Testbed) Link(ctx context.Context, h *Host, s *Switch) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	where := s.name
	if s.node != nil {
		where = s.node.state.Name + "/" + s.name
		if nodeDevices[h.state.Name] {
			return fmt.Errorf("link host %s to %s: %q is the name of a device in every node's namespace", h.state.Name, where, h.state.Name)
		}
	}
	if h.state.Switch != "" {
		return fmt.Errorf("link host %s to %s: already linked to %s", h.state.Name, where, h.state.Switch)
	}
	if err := tb.plug(ctx, &h.state, s); err != nil {
		return fmt.Errorf("link host %s to %s: %w", h.state.Name, where, err)
	}
	h.state.Switch = s.name
	if s.node != nil {
		h.state.Node = s.node.state.Name
	}
	for i := range tb.state.Hosts {
		if tb.state.Hosts[i].Name == h.state.Name {
			tb.state.Hosts[i] = h.state
		}
	}
	return nil
}

// Unlink unplugs a host from its switch: its OVS port and veth pair go
// (and eth0 with them); its namespace, servers and addresses stay, so a
// later Link plugs it in elsewhere as it was — a VM moving to another
// hypervisor. The new link gets the OpenFlow port OVS chooses.
func (tb *Testbed) Unlink(ctx context.Context, h *Host) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var s *Switch
	if h.state.Node != "" {
		if n := tb.nodes[h.state.Node]; n != nil {
			s = n.brInt
		}
	} else {
		s = tb.switches[h.state.Switch]
	}
	if s == nil {
		return fmt.Errorf("unlink host %s: not linked", h.state.Name)
	}
	port := h.state.Name
	if _, err := s.OVS().Vsctl(ctx, "--if-exists", "del-port", s.name, port); err != nil {
		return fmt.Errorf("unlink host %s: %w", h.state.Name, err)
	}
	if _, err := run(ctx, "ip", "-n", s.netns(), "link", "del", port); err != nil {
		return fmt.Errorf("unlink host %s: %w", h.state.Name, err)
	}
	h.state.Switch, h.state.Node, h.state.OFPort = "", "", 0
	for i := range tb.state.Hosts {
		if tb.state.Hosts[i].Name == h.state.Name {
			tb.state.Hosts[i] = h.state
		}
	}
	return nil
}

// plug creates and configures the veth pair and the OVS port, and fills in
// hs.OFPort.
func (tb *Testbed) plug(ctx context.Context, hs *HostState, s *Switch) error {
	swNS, port, o := s.netns(), hs.Name, s.OVS()
	if _, err := run(ctx, "ip", "-n", swNS, "link", "add", "name", port, "type", "veth", "peer", "name", "eth0", "netns", hs.Netns); err != nil {
		return err
	}
	// The userspace datapath checks checksums in conntrack, and with
	// transmit offload a veth sends TCP without them: every segment is
	// +inv and TCP through ct() stalls. Off on both ends.
	if _, err := runIn(ctx, swNS, "ethtool", "-K", port, "tx", "off"); err != nil {
		return err
	}
	if _, err := runIn(ctx, hs.Netns, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
		return err
	}
	if err := ipBatch(ctx, swNS, []string{"link set dev " + port + " up"}); err != nil {
		return err
	}
	lines := []string{"link set eth0 address " + hs.MAC}
	if hs.IP4.IsValid() {
		lines = append(lines, "addr add "+hs.IP4.String()+" dev eth0")
	}
	if hs.IP6.IsValid() {
		lines = append(lines, "addr add "+hs.IP6.String()+" dev eth0")
	}
	lines = append(lines, "link set eth0 up")
	if hs.Gateway4.IsValid() {
		lines = append(lines, "route add default via "+hs.Gateway4.String())
	}
	if hs.Gateway6.IsValid() {
		lines = append(lines, "route add ::/0 via "+hs.Gateway6.String())
	}
	if err := ipBatch(ctx, hs.Netns, lines); err != nil {
		return err
	}
	args := []string{"add-port", s.name, port, "--", "set", "Interface", port,
		"external_ids:iface-id=" + hs.Name, "external_ids:attached-mac=" + hs.MAC}
	if hs.OFPort != 0 {
		args = append(args, "ofport_request="+strconv.FormatUint(uint64(hs.OFPort), 10))
	}
	if _, err := o.Vsctl(ctx, args...); err != nil {
		return err
	}
	// add-port waits for ovs-vswitchd to configure the port, so the ofport
	// is final here; -1 means it failed, and the error column says why.
	out, err := o.Vsctl(ctx, "get", "Interface", port, "ofport", "error")
	if err != nil {
		return err
	}
	first, ifErr, _ := strings.Cut(out, "\n")
	ofport, err := strconv.ParseInt(first, 10, 32)
	if err != nil || ofport <= 0 {
		return fmt.Errorf("port %s got no ofport (ofport %s, error %s)", port, first, ifErr)
	}
	hs.OFPort = uint32(ofport)
	return nil
}
