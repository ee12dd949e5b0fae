package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// geneveOFPort is the ofport the tests give each node's Geneve port.
const geneveOFPort = 100

// addGeneve adds a Geneve port to the node's br-int whose remote address
// and VNI come from the flow (tun_dst, tun_id).
func addGeneve(t *testing.T, n *Node) {
	t.Helper()
	if _, err := n.OVS().Vsctl(context.Background(), "add-port", IntegrationBridge, "gnv0", "--",
		"set", "Interface", "gnv0", "type=geneve", "options:remote_ip=flow", "options:key=flow",
		fmt.Sprintf("ofport_request=%d", geneveOFPort)); err != nil {
		t.Fatal(err)
	}
}

// Two nodes, a host on each: flows on each br-int send the host's traffic
// into a Geneve tunnel to the other node and deliver what the tunnel
// brings to the host. Ping and TCP (a bulk transfer too: full-size frames
// plus the tunnel header must fit the underlay) cross the nodes, and the
// userspace datapath shows that it encapsulated and decapsulated; over an
// IPv4 underlay and over an IPv6 one.
func TestNodesGeneveTunnelOnOVS(t *testing.T) {
	t.Parallel()
	for _, family := range []struct {
		name, underlay, segment, tunDst string
	}{
		{"IPv4", "192.168.100.%d/24", "192.168.100.0/24", "tun_dst"},
		{"IPv6", "fd00:100::%d/64", "fd00:100::/64", "tun_ipv6_dst"},
	} {
		t.Run(family.name, func(t *testing.T) {
			geneveAcrossNodes(t, family.underlay, family.segment, family.tunDst)
		})
	}
}

func geneveAcrossNodes(t *testing.T, underlay, segment, tunDst string) {
	tb := New(t, Options{})
	ctx := context.Background()
	const vni = 5001

	start := time.Now()
	var nodes [2]*Node
	var hosts [2]*Host
	for i := range nodes {
		n, err := tb.AddNode(ctx, fmt.Sprintf("hv%d", i+1), NodeOpts{Underlay: netip.MustParsePrefix(fmt.Sprintf(underlay, 11+i))})
		if err != nil {
			t.Fatal(err)
		}
		h, err := tb.AddHost(ctx, fmt.Sprintf("vm%d", i+1), HostOpts{IPv4: netip.MustParsePrefix(fmt.Sprintf("10.0.0.%d/24", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, n.IntegrationBridge()); err != nil {
			t.Fatal(err)
		}
		if h.NodeName() != n.Name() || h.SwitchName() != IntegrationBridge || h.OFPort() == 0 {
			t.Errorf("host %s: node %q, switch %q, ofport %d", h.Name(), h.NodeName(), h.SwitchName(), h.OFPort())
		}
		addGeneve(t, n)
		nodes[i], hosts[i] = n, h
	}
	t.Logf("two nodes with a host each in %v", time.Since(start))

	for i, n := range nodes {
		other := nodes[1-i]
		o := n.OVS()
		routes, err := o.Appctl(ctx, "ovs/route/show")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(routes, segment+" dev br-phy SRC "+n.Underlay().String()) {
			t.Errorf("node %s: ovs/route/show has no route to the underlay over br-phy:\n%s", n.Name(), routes)
		}
		lookup, err := o.Appctl(ctx, "ovs/route/lookup", other.Underlay().String())
		if err != nil || !strings.Contains(lookup, "dev br-phy") {
			t.Errorf("node %s: ovs/route/lookup %s: %v\n%s", n.Name(), other.Underlay(), err, lookup)
		}
		arp, err := o.Appctl(ctx, "tnl/arp/show")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(arp, other.Underlay().String()) || !strings.Contains(arp, other.UnderlayMAC().String()) {
			t.Errorf("node %s: tnl/arp/show lacks node %s (%s at %s):\n%s", n.Name(), other.Name(), other.Underlay(), other.UnderlayMAC(), arp)
		}
		// The tunnel port listens only once it exists.
		if ports, err := o.Appctl(ctx, "tnl/ports/show"); err != nil || !strings.Contains(ports, "6081") {
			t.Errorf("node %s: tnl/ports/show: %v\n%s", n.Name(), err, ports)
		}

		h := hosts[i]
		for _, flow := range []string{
			fmt.Sprintf("table=0,priority=100,in_port=%d,actions=set_field:%s->%s,set_field:%d->tun_id,output:%d", h.OFPort(), other.Underlay(), tunDst, vni, geneveOFPort),
			fmt.Sprintf("table=0,priority=100,in_port=%d,tun_id=%d,actions=output:%d", geneveOFPort, vni, h.OFPort()),
		} {
			if _, err := o.Ofctl(ctx, "add-flow", IntegrationBridge, flow); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.ServeTCP(echoTCPPort); err != nil {
			t.Fatal(err)
		}
	}

	for i, h := range hosts {
		dst := hosts[1-i].IP4()
		if res, err := Ping(ctx, h, dst); err != nil || res.Outcome != OK {
			t.Errorf("ping %s -> %s: %v %v %s", h.Name(), dst, err, res.Outcome, res.Detail)
		}
		res, err := TCPConnect(ctx, h, dst, echoTCPPort)
		if err != nil || res.Outcome != OK {
			t.Errorf("tcp %s -> %s:%d: %v %v %s", h.Name(), dst, echoTCPPort, err, res.Outcome, res.Detail)
		} else if res.Seen.Addr() != h.IP4() {
			t.Errorf("tcp %s -> %s: the server saw %s", h.Name(), dst, res.Seen)
		}
	}
	bulkTransfer(t, hosts[0], hosts[1], 4<<20)

	for _, n := range nodes {
		flows, err := n.OVS().Appctl(ctx, "dpctl/dump-flows")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(flows, "tnl_push(") || !strings.Contains(flows, "tnl_pop(") {
			t.Errorf("node %s: datapath flows without tnl_push and tnl_pop:\n%s", n.Name(), flows)
		}
	}

	// The underlay itself: each reply once. Before the underlay port got
	// a MAC of its own, the kernel took every frame for br-phy in from
	// the veth as well and answered each ping twice.
	out, err := runIn(ctx, nodes[0].Netns(), "ping", "-c", "3", "-i", "0.2", "-W", "2", nodes[1].Underlay().String())
	if err != nil || strings.Contains(out, "duplicates") {
		t.Errorf("ping between the nodes' underlay addresses: %v\n%s", err, out)
	}
}

// bulkTransfer sends size random bytes over TCP from one host to another
// and checks they all arrived intact.
func bulkTransfer(t *testing.T, from, to *Host, size int) {
	t.Helper()
	const port = 9000
	var ln net.Listener
	if err := to.in(func() (err error) { ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	data := make([]byte, size)
	rand.Read(data)
	start := time.Now()
	var c net.Conn
	if err := from.in(func() (err error) {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(to.IP4(), port).String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("bulk transfer %s -> %s: %v", from.Name(), to.Name(), err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	_, werr := c.Write(data)
	c.Close()
	b := <-got
	if werr != nil || !bytes.Equal(b, data) {
		t.Fatalf("bulk transfer %s -> %s: write %v, %d of %d bytes arrived intact", from.Name(), to.Name(), werr, len(b), size)
	}
	t.Logf("bulk transfer %s -> %s: %d bytes in %v", from.Name(), to.Name(), size, time.Since(start))
}

// The shape of the 20-hypervisor benchmark: 20 nodes with 50 dummy ports
// each on br-int. It only builds and tears down, and reports how long
// each takes; Close must leave nothing behind.
func TestNodesTwentyWithFiftyDummyPortsOnOVS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 20 nodes take about 20 s to build on a busy two-core machine")
	}
	RequireRoot(t)
	const nodes, ports = 20, 50
	ctx := context.Background()
	tb, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			tb.Close()
		}
	})

	start := time.Now()
	for i := range nodes {
		n, err := tb.AddNode(ctx, fmt.Sprintf("hv%02d", i+1), NodeOpts{Underlay: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, 100, byte(11 + i)}), 24)})
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, ports)
		for j := range names {
			names[j] = fmt.Sprintf("hv%02d-p%02d", i+1, j+1)
		}
		ofports, err := n.IntegrationBridge().AddDummyPorts(ctx, names...)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint32]bool{}
		for _, p := range ofports {
			seen[p] = true
		}
		if len(seen) != ports {
			t.Errorf("node %s: ofports %v are not %d distinct ports", n.Name(), ofports, ports)
		}
	}
	built := time.Since(start)

	// Spot checks: the last node knows every other node's underlay MAC,
	// and the first one learnt the last one's.
	all := tb.Nodes()
	first, last := all[0], all[len(all)-1]
	arp, err := last.OVS().Appctl(ctx, "tnl/arp/show")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(arp, " br-phy"); n != nodes-1 {
		t.Errorf("node %s: %d tnl/arp entries, want %d:\n%s", last.Name(), n, nodes-1, arp)
	}
	if arp, err := first.OVS().Appctl(ctx, "tnl/arp/show"); err != nil || !strings.Contains(arp, last.UnderlayMAC().String()) {
		t.Errorf("node %s: tnl/arp/show lacks node %s: %v\n%s", first.Name(), last.Name(), err, arp)
	}
	if out, err := first.OVS().Vsctl(ctx, "list-ports", IntegrationBridge); err != nil || len(strings.Fields(out)) != ports {
		t.Errorf("node %s: br-int ports: %v\n%s", first.Name(), err, out)
	}

	pids, dirs := nodeDaemons(all)
	start = time.Now()
	closed = true
	if err := tb.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	t.Logf("%d nodes with %d dummy ports each: built in %v, closed in %v", nodes, ports, built, time.Since(start))
	expectGone(t, tb.Prefix(), pids, dirs)
}

// nodeDaemons lists the pids of the nodes' OVS daemons and their run
// directories.
func nodeDaemons(nodes []*Node) (pids []int, dirs []string) {
	for _, n := range nodes {
		pids = append(pids, n.OVS().dbPID, n.OVS().vswitchdPID)
		dirs = append(dirs, n.OVS().Dir)
	}
	return pids, dirs
}

// expectGone checks that no namespace of the testbed, none of pids and
// none of dirs is left.
func expectGone(t *testing.T, prefix string, pids []int, dirs []string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(netnsDir, prefix+"-*")); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still running", pid)
		}
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("OVS run directory %s left behind (%v)", dir, err)
		}
	}
}

// `flowgate testbed down` works from the state file alone: a testbed
// attached from its State stops the nodes' daemons and removes their
// namespaces, the underlay and the run directories.
func TestAttachedTestbedTearsDownNodesOnOVS(t *testing.T) {
	t.Parallel()
	RequireRoot(t)
	ctx := context.Background()
	tb, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Not once the attached copy has closed it: its daemons' pids could
	// belong to other processes by then.
	attached := false
	t.Cleanup(func() {
		if !attached {
			tb.Close()
		}
	})
	for i := range 2 {
		n, err := tb.AddNode(ctx, fmt.Sprintf("hv%d", i+1), NodeOpts{Underlay: netip.MustParsePrefix(fmt.Sprintf("10.99.0.%d/16", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		h, err := tb.AddHost(ctx, fmt.Sprintf("vm%d", i+1), HostOpts{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, n.IntegrationBridge()); err != nil {
			t.Fatal(err)
		}
	}
	s := tb.State()
	if len(s.Nodes) != 2 || s.UnderlayNetns != tb.Prefix()+"-underlay" || s.Hosts[1].Node != "hv2" {
		t.Errorf("state: %+v", s)
	}
	pids, dirs := nodeDaemons(tb.Nodes())
	pids = append(pids, tb.OVS().dbPID, tb.OVS().vswitchdPID)
	dirs = append(dirs, tb.OVS().Dir)

	other, err := Attach(s)
	if err != nil {
		t.Fatal(err)
	}
	attached = true
	if n := other.Node("hv1"); n == nil || n.OVS().VswitchdPID() != pids[1] || n.IntegrationBridge().OVS() != n.OVS() {
		t.Errorf("attached node hv1: %+v", n)
	}
	if err := other.Close(); err != nil {
		t.Fatalf("close the attached testbed: %v", err)
	}
	expectGone(t, tb.Prefix(), pids, dirs)
}

// Node names share the namespace of host and switch names, and underlay
// addresses must be usable, unique and on one segment; a refused node
// leaves nothing behind.
func TestAddNodeRefusesBadNamesAndAddressesOnOVS(t *testing.T) {
	t.Parallel()
	tb := New(t, Options{})
	ctx := context.Background()
	if _, err := tb.AddNode(ctx, "hv1", NodeOpts{Underlay: netip.MustParsePrefix("192.168.100.11/24")}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.AddHost(ctx, "vm1", HostOpts{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, underlay, want string
	}{
		{"hv1", "192.168.100.12/24", `node name "hv1": a node has that name`},
		{"vm1", "192.168.100.12/24", `node name "vm1": a host has that name`},
		{"underlay", "192.168.100.12/24", `reserved`},
		{"ovs", "192.168.100.12/24", `reserved`},
		{"sixteen-chars-xx", "192.168.100.12/24", `want 1-15`},
		{"hv2", "", "an address with prefix length is required"},
		{"hv2", "fd00::2/64", "not on the underlay segment 192.168.100.0/24"}, // IPv6 underlays are fine, not mixed with IPv4
		{"hv2", "fe80::2/64", "not a global IPv4 or IPv6 prefix"},
		{"hv2", "192.168.100.12/32", "no room for two nodes"},
		{"hv2", "192.168.100.0/24", "the network or broadcast address"},
		{"hv2", "192.168.100.255/24", "the network or broadcast address"},
		{"hv2", "192.168.100.11/24", "node hv1 has that address"},
		{"hv2", "192.168.101.12/24", "not on the underlay segment 192.168.100.0/24"},
		{"hv2", "192.168.100.12/25", "not on the underlay segment 192.168.100.0/24"},
	} {
		var opts NodeOpts
		if tc.underlay != "" {
			opts.Underlay = netip.MustParsePrefix(tc.underlay)
		}
		if _, err := tb.AddNode(ctx, tc.name, opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddNode(%q, %q) = %v, want an error with %q", tc.name, tc.underlay, err, tc.want)
		}
	}
	if n := len(tb.Nodes()); n != 1 {
		t.Errorf("%d nodes after the refusals, want 1", n)
	}
	// A host named like a device in every node cannot be plugged into one.
	h, err := tb.AddHost(ctx, "br-phy", HostOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Link(ctx, h, tb.Node("hv1").IntegrationBridge()); err == nil || !strings.Contains(err.Error(), "a device in every node") {
		t.Errorf("link host br-phy to hv1/br-int: %v", err)
	}
	// Nor do patch ports cross OVS instances.
	s, err := tb.AddSwitch(ctx, "s1", SwitchOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.LinkSwitches(ctx, s, tb.Node("hv1").IntegrationBridge()); err == nil || !strings.Contains(err.Error(), "not in the same OVS") {
		t.Errorf("patch s1 to hv1/br-int: %v", err)
	}
}
