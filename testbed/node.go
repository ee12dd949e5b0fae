package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// A node is a hypervisor on the testbed's machine: a network namespace
// with a private OVS of its own (ovsdb-server + ovs-vswitchd, always on
// the userspace datapath) laid out the way OVS's "Userspace Tunneling"
// guide (Documentation/howto/userspace-tunneling.rst) lays out a host:
//
//	namespace <prefix>-<node>, the node's own ovs-vswitchd (netdev):
//
//	  hosts' veth ends ── br-int (secure) ── tunnel ports (geneve, vxlan, ...)
//	                                             ┆ tnl_push / tnl_pop
//	  br-phy (standalone, NORMAL), internal port br-phy: the underlay address
//	    └── port "underlay": veth, MTU 9000
//	          │
//	namespace <prefix>-underlay: Linux bridge "underlay", a port per node
//
// The userspace datapath has no kernel tunnel devices: a packet sent to a
// tunnel port on br-int is encapsulated by ovs-vswitchd itself
// (tnl_push), which takes the route to tun_dst from its own route table
// (ovs/route/show, a copy of the node namespace's kernel routes: the
// connected route of br-phy's address) and the next hop's MAC from its
// own neighbour cache (tnl/arp/show), and sends the result out of br-phy's
// underlay port. A tunnel packet arriving on br-phy for the node's address
// is decapsulated (tnl_pop) and enters br-int on the tunnel port.
//
// Why each piece is there:
//   - The underlay MTU is 9000: Geneve/VXLAN add 50 bytes or more, and a
//     full-size frame from a host (MTU 1500) would not fit a 1500-byte
//     underlay; ovs-vswitchd logs "Message too long" and TCP stalls while
//     ping still works.
//   - The underlay port's MAC differs from br-phy's and the port has ARP
//     off. The kernel sees every frame that arrives on the veth, not only
//     OVS; with the same MAC (as the guide has it, for a NIC) it took
//     frames for br-phy's address in twice, once from the veth and once
//     from br-phy, and answered every ping twice.
//   - AddNode writes every other node's br-phy MAC into the new node's
//     tunnel neighbour cache and the new node's into theirs
//     (tnl/arp/set), so that the first tunnelled packet is not lost to
//     an ARP resolution. Entries age out after 15 idle minutes (OVS's
//     default); ovs-vswitchd then resolves them by ARP on its own.
//   - Transmit checksum offload is off on both ends of every veth, as
//     for hosts (see plug).
//   - IPv6 is off in the node namespace, so br-phy and the veths send
//     nothing of their own.
type Node struct {
	tb    *Testbed
	state NodeState
	ovs   *OVS
	brInt *Switch
}

// NodeOpts describe a node.
type NodeOpts struct {
	// Underlay is the node's address on the underlay segment, with the
	// segment's prefix length (192.168.100.11/24, or IPv6:
	// fd00:100::11/64). Required. All nodes of a testbed share one
	// segment, so their prefixes must be the same subnet (and family).
	Underlay netip.Prefix
}

// Bridge, port and bridge-device names inside every node, and the MTU of
// the underlay.
const (
	IntegrationBridge = "br-int"
	PhysicalBridge    = "br-phy"
	// underlayName is a node's underlay port and the Linux bridge in the
	// underlay namespace; reserved as a host and node name.
	underlayName = "underlay"
	// UnderlayMTU leaves room for any tunnel header around a 1500-byte
	// frame.
	UnderlayMTU = 9000
)

// nodeDevices are the interfaces in every node's namespace besides the
// hosts' veth ends: no host linked to a node may be named like them.
var nodeDevices = map[string]bool{IntegrationBridge: true, PhysicalBridge: true, underlayName: true, "ovs-netdev": true, "lo": true}

// Name is the node's name.
func (n *Node) Name() string { return n.state.Name }

// Netns is the node's network namespace, where its ovs-vswitchd runs.
func (n *Node) Netns() string { return n.state.Netns }

// OVS is the node's private Open vSwitch, for ovs-vsctl/ofctl/appctl.
func (n *Node) OVS() *OVS { return n.ovs }

// Underlay is the node's underlay address: br-phy's address and the
// tunnel endpoint other nodes send to (tun_dst / remote_ip).
func (n *Node) Underlay() netip.Addr { return n.state.Underlay.Addr() }

// UnderlayMAC is br-phy's MAC address.
func (n *Node) UnderlayMAC() net.HardwareAddr {
	mac, _ := net.ParseMAC(n.state.MAC)
	return mac
}

// IntegrationBridge is the node's br-int (fail_mode=secure, no flows): Link
// a Host to it to plug the host into this node.
func (n *Node) IntegrationBridge() *Switch { return n.brInt }

// Node returns the node called name, or nil.
func (tb *Testbed) Node(name string) *Node {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.nodes[name]
}

// Nodes returns all nodes in the order they were added.
func (tb *Testbed) Nodes() []*Node {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	nodes := make([]*Node, 0, len(tb.state.Nodes))
	for _, ns := range tb.state.Nodes {
		nodes = append(nodes, tb.nodes[ns.Name])
	}
	return nodes
}

// nodeMAC is 02:fb:<kind>:00:HH:LL for the n-th node: kind 01 for br-phy,
// 02 for the underlay port. Hosts have kind 00 (see AddHost).
func nodeMAC(kind byte, n int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0xfb, kind, 0, byte(n >> 8), byte(n)}
}

// AddNode creates a node: its namespace, its private OVS with br-int and
// br-phy, and its port on the underlay segment (created with the first
// node), and teaches it and the nodes already there each other's underlay
// MAC. Either the node is complete or nothing of it is left but the
// tunnel ARP entries the other nodes may have got for it.
func (tb *Testbed) AddNode(ctx context.Context, name string, opts NodeOpts) (*Node, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if err := tb.checkName("node", name); err != nil {
		return nil, err
	}
	if err := tb.checkNodeOpts(opts); err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	if err := tb.ensureUnderlay(ctx); err != nil {
		return nil, fmt.Errorf("add node %s: %w", name, err)
	}
	num := len(tb.state.Nodes) + 1
	n := &Node{tb: tb, state: NodeState{
		Name: name, Netns: tb.state.Prefix + "-" + name,
		Underlay: opts.Underlay, MAC: nodeMAC(1, num).String(),
	}}
	err := n.start(ctx, nodeMAC(2, num))
	if err == nil {
		err = n.meet(ctx, tb.state.Nodes)
	}
	if err != nil {
		// Stop the daemons first: they hold ports in the namespace.
		var stop error
		if n.ovs != nil {
			stop = n.ovs.Stop()
		}
		del := deleteNetns(context.WithoutCancel(ctx), n.state.Netns)
		return nil, errors.Join(fmt.Errorf("add node %s: %w", name, err), stop, del)
	}
	n.brInt = &Switch{tb: tb, name: IntegrationBridge, secure: true, node: n}
	tb.nodes[name] = n
	tb.state.Nodes = append(tb.state.Nodes, n.state)
	return n, nil
}

// checkNodeOpts refuses an underlay address that is not a usable host
// address, is taken, or is off the segment of the nodes already there.
// The caller holds tb.mu.
func (tb *Testbed) checkNodeOpts(opts NodeOpts) error {
	p := opts.Underlay
	switch {
	case !p.IsValid():
		return errors.New("underlay: an address with prefix length is required (192.168.100.11/24)")
	case p.Addr().Zone() != "" || p.Addr().Is4In6() || p.Addr().IsLinkLocalUnicast():
		return fmt.Errorf("underlay %s: not a global IPv4 or IPv6 prefix", p)
	case p.Addr().Is4() && p.Bits() > 30, p.Addr().Is6() && p.Bits() > 126:
		return fmt.Errorf("underlay %s: a /%d segment has no room for two nodes", p, p.Bits())
	}
	segment := p.Masked()
	if p.Addr() == segment.Addr() || p.Addr().Is4() && p.Addr() == lastAddr(segment) {
		return fmt.Errorf("underlay %s: the network or broadcast address of %s", p, segment)
	}
	for _, other := range tb.state.Nodes {
		if other.Underlay.Masked() != segment {
			return fmt.Errorf("underlay %s: not on the underlay segment %s (node %s)", p, other.Underlay.Masked(), other.Name)
		}
		if other.Underlay.Addr() == p.Addr() {
			return fmt.Errorf("underlay %s: node %s has that address", p, other.Name)
		}
	}
	return nil
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(a)
}

// ensureUnderlay creates the underlay segment, a Linux bridge in a
// namespace of its own, at the first call. A Linux bridge rather than an
// OVS bridge: it forwards in the kernel, costs no daemon, and works the
// same whatever datapath the testbed's own OVS has. The caller holds
// tb.mu.
func (tb *Testbed) ensureUnderlay(ctx context.Context) error {
	if tb.state.UnderlayNetns != "" {
		return nil
	}
	ns := tb.state.Prefix + "-" + underlayName
	if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
		return fmt.Errorf("create underlay namespace: %w", err)
	}
	// Should a step below fail, teardown still finds the namespace by
	// its prefix; the next AddNode then fails to create it again.
	// No IPv6 chatter on the segment; and bridged frames must not pass
	// through iptables where br_netfilter is loaded (-e: the keys exist
	// only then).
	if _, err := runIn(ctx, ns, "sysctl", "-qew",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
		"net.bridge.bridge-nf-call-iptables=0", "net.bridge.bridge-nf-call-ip6tables=0",
		"net.bridge.bridge-nf-call-arptables=0"); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	if err := ipBatch(ctx, ns, []string{
		fmt.Sprintf("link add %s mtu %d type bridge", underlayName, UnderlayMTU),
		"link set " + underlayName + " up",
	}); err != nil {
		return err
	}
	tb.state.UnderlayNetns = ns
	return nil
}

// start creates the node's namespace, OVS, bridges and underlay port; it
// sets n.ovs as soon as the OVS runs, so that the caller can stop it if a
// later step fails.
func (n *Node) start(ctx context.Context, portMAC net.HardwareAddr) error {
	ns, ul := n.state.Netns, n.tb.state.UnderlayNetns
	if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
		return err
	}
	if _, err := runIn(ctx, ns, "sysctl", "-qw",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	if err := ipBatch(ctx, ns, []string{"link set lo up"}); err != nil {
		return err
	}
	// The userspace datapath always: this layout is OVS's userspace
	// tunnelling, and nodes on the kernel datapath would all share the
	// machine's one set of kernel tunnel devices.
	o, err := StartOVSInNetns(ctx, DatapathNetdev, ns)
	if err != nil {
		return err
	}
	n.ovs = o
	n.state.OVSDir = o.Dir

	// The underlay link: <node> on the underlay bridge, "underlay" in
	// the node.
	mtu := fmt.Sprint(UnderlayMTU)
	if _, err := run(ctx, "ip", "-n", ul, "link", "add", "name", n.state.Name, "mtu", mtu,
		"type", "veth", "peer", "name", underlayName, "address", portMAC.String(), "mtu", mtu, "netns", ns); err != nil {
		return err
	}
	if _, err := runIn(ctx, ul, "ethtool", "-K", n.state.Name, "tx", "off"); err != nil {
		return err
	}
	if _, err := runIn(ctx, ns, "ethtool", "-K", underlayName, "tx", "off"); err != nil {
		return err
	}
	if err := ipBatch(ctx, ul, []string{"link set " + n.state.Name + " master " + underlayName + " up"}); err != nil {
		return err
	}
	if err := ipBatch(ctx, ns, []string{"link set " + underlayName + " arp off up"}); err != nil {
		return err
	}

	// One transaction: ovs-vsctl returns when ovs-vswitchd has created
	// both bridges, so br-phy's tap device exists afterwards.
	if _, err := o.Vsctl(ctx,
		"add-br", PhysicalBridge, "--", "set", "Bridge", PhysicalBridge, "datapath_type="+DatapathNetdev,
		"fail_mode=standalone", "protocols="+openFlowVersions, "other_config:hwaddr="+n.state.MAC, "--",
		"add-port", PhysicalBridge, underlayName, "--",
		"add-br", IntegrationBridge, "--", "set", "Bridge", IntegrationBridge, "datapath_type="+DatapathNetdev,
		"fail_mode=secure", "protocols="+openFlowVersions); err != nil {
		return err
	}
	addr := "addr add " + n.state.Underlay.String() + " dev " + PhysicalBridge
	if n.state.Underlay.Addr().Is6() {
		// IPv6 is off in the node's namespace but on br-phy, which owns
		// the underlay address; no duplicate address detection (the
		// address is usable at once, and the segment has no other).
		if _, err := runIn(ctx, ns, "sysctl", "-qw", "net.ipv6.conf."+PhysicalBridge+".disable_ipv6=0"); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		addr += " nodad"
	}
	if err := ipBatch(ctx, ns, []string{addr, "link set " + PhysicalBridge + " up"}); err != nil {
		return err
	}
	return n.waitRoute(ctx)
}

// waitRoute waits until ovs-vswitchd has copied the connected route of
// br-phy's address from the kernel (it listens for route changes over
// netlink, so this takes a moment): until then it has no route to any
// tunnel destination and drops what it should encapsulate.
func (n *Node) waitRoute(ctx context.Context) error {
	want := n.state.Underlay.Masked().String() + " dev " + PhysicalBridge
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		out, err := n.ovs.unixctl(ctx, "ovs/route/show")
		if err == nil && strings.Contains(out, want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ovs-vswitchd has no route %q (ovs/route/show: %v):\n%s", want, err, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// meet teaches n and each of the nodes in others the other's underlay MAC.
// Concurrently: the calls wait on ovs-vswitchd main loops, not on the CPU,
// and one at a time they made AddNode quadratic in seconds (1.4 s for the
// twentieth node).
func (n *Node) meet(ctx context.Context, others []NodeState) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, s := range others {
		other := n.tb.nodes[s.Name]
		g.Go(func() error { return n.learn(ctx, other) })
		g.Go(func() error { return other.learn(ctx, n) })
	}
	return g.Wait()
}

// learn puts other's underlay address and br-phy MAC into n's tunnel
// neighbour cache.
func (n *Node) learn(ctx context.Context, other *Node) error {
	if _, err := n.ovs.unixctl(ctx, "tnl/arp/set", PhysicalBridge, other.Underlay().String(), other.state.MAC); err != nil {
		return fmt.Errorf("node %s: learn node %s's underlay MAC: %w", n.state.Name, other.state.Name, err)
	}
	return nil
}
