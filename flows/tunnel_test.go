package flows

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

// TestTunnelFlowsOnOVS checks what the tunnel fields do, not only how they
// print: on a bridge with a flow-based Geneve port (options:key=flow,
// remote_ip=flow), ofproto/trace shows a packet that the sending host's
// flow loads tun_dst and tun_id into leave encapsulated with that VNI to
// that address, and a packet arriving with that key and those outer
// addresses reach the flow that copies the key into reg2. Nothing is sent:
// the addresses (TEST-NET-1) exist only in the switch's own namespace.
func TestTunnelFlowsOnOVS(t *testing.T) {
	o, ctx := newTestBridge(t)
	if o.Datapath != testbed.DatapathNetdev {
		t.Skipf("the trace expectations are those of the userspace datapath's native tunnels, have datapath %s", o.Datapath)
	}
	const local, remote, remoteMAC = "192.0.2.11", "192.0.2.12", "02:00:00:00:00:99"
	for _, cmd := range [][]string{
		{"ovs-vsctl", "add-port", "br0", "p1", "--", "set", "interface", "p1", "type=dummy", "ofport_request=1"},
		{"ovs-vsctl", "add-port", "br0", "gnv0", "--", "set", "interface", "gnv0", "type=geneve",
			"options:remote_ip=flow", "options:key=flow", "ofport_request=10"},
		// The userspace datapath routes and resolves the outer header
		// itself: br0 has the local address, the remote one a route and
		// a neighbour entry.
		{"ip", "-n", o.Netns, "link", "set", "br0", "up"},
		{"ip", "-n", o.Netns, "addr", "add", local + "/24", "dev", "br0"},
		{"ovs-appctl", "ovs/route/add", "192.0.2.0/24", "br0"},
		{"ovs-appctl", "tnl/arp/set", "br0", remote, remoteMAC},
	} {
		var err error
		switch cmd[0] {
		case "ovs-appctl":
			_, err = o.Appctl(ctx, cmd[1:]...)
		default:
			_, err = o.Run(ctx, cmd[0], cmd[1:]...)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fs := []Flow{
		// The sending host: the remote host and the network's key, then
		// out of the tunnel port.
		{Priority: 100, Match: Match{InPort: 1},
			Actions: []Action{Load{Field: Whole(FieldTunDst), Value: 0xc000020c}, Load{Field: Whole(FieldTunID), Value: 0x4031}, Output{Port: 10}}},
		// The encapsulated packet leaves through br0's own port.
		{Priority: 50, Match: Match{InPort: PortLocal}, Actions: []Action{Output{Port: 1}}},
		// The receiving host: the key names the network.
		{Priority: 100, Match: Match{InPort: 10, TunID: &Masked64{Value: 0x4031}, TunSrc: addr(remote), TunDst: addr(local)},
			Actions: []Action{Move{Src: Bits(FieldTunID, 0, 16), Dst: Bits(RegField(2), 0, 16)}, Goto{Table: 1}}},
		{Table: 1, Priority: 1, Match: Match{Regs: []RegMatch{Reg(2, 0x4031, 0xffff)}}, Actions: []Action{Output{Port: 1}}},
	}
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := o.Ofctl(ctx, "add-flow", "br0", f.String()); err != nil {
			t.Fatal(err)
		}
	}
	trace := func(packet string) (final, actions string) {
		t.Helper()
		out, err := o.Appctl(ctx, "ofproto/trace", "br0", packet)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "Final flow: "); ok {
				final = v
			}
			if v, ok := strings.CutPrefix(line, "Datapath actions: "); ok {
				actions = v
			}
		}
		return final, actions
	}

	_, acts := trace("in_port=1,dl_dst=02:00:00:00:00:02")
	for _, want := range []string{"ipv4(src=" + local + ",dst=" + remote + ",", "geneve(vni=0x4031)", "eth(dst=" + remoteMAC + ","} {
		if !strings.Contains(acts, want) {
			t.Errorf("sent over the tunnel: datapath actions %q, want %q in them", acts, want)
		}
	}

	final, acts := trace("in_port=10,tun_id=0x4031,tun_src=" + remote + ",tun_dst=" + local + ",dl_dst=02:00:00:00:00:02")
	if !strings.HasPrefix(final, "reg2=0x4031,") || acts == "drop" {
		t.Errorf("received with key 0x4031: final flow %q, datapath actions %q; want reg2=0x4031 and an output", final, acts)
	}
	for _, packet := range []string{
		"in_port=10,tun_id=0x4032,tun_src=" + remote + ",tun_dst=" + local, // another network
		"in_port=10,tun_id=0x4031,tun_src=192.0.2.13,tun_dst=" + local,     // another host
	} {
		if _, acts := trace(packet); acts != "drop" {
			t.Errorf("%s: datapath actions %q, want drop", packet, acts)
		}
	}
}

// TestTunnelIPv6FlowsOnOVS: over an IPv6 underlay, a packet the sending
// host's flow gives a tun_ipv6_dst (SetTunnel with an IPv6 address) leaves
// encapsulated to that address, from the address the tunnel port's route
// picks when tun_ipv6_src is cleared (SetTunnel with ::). It also shows
// why SetTunnel's comment asks to clear the IPv4 fields: a packet that
// still carries a tun_dst (as one that arrived over an IPv4 tunnel does)
// is sent to that, not to its tun_ipv6_dst.
func TestTunnelIPv6FlowsOnOVS(t *testing.T) {
	o, ctx := newTestBridge(t)
	if o.Datapath != testbed.DatapathNetdev {
		t.Skipf("the trace expectations are those of the userspace datapath's native tunnels, have datapath %s", o.Datapath)
	}
	const local, remote, remoteMAC = "fd00:100::11", "fd00:100::12", "02:00:00:00:00:99"
	for _, cmd := range [][]string{
		{"ovs-vsctl", "add-port", "br0", "p1", "--", "set", "interface", "p1", "type=dummy", "ofport_request=1"},
		{"ovs-vsctl", "add-port", "br0", "p2", "--", "set", "interface", "p2", "type=dummy", "ofport_request=2"},
		{"ovs-vsctl", "add-port", "br0", "gnv0", "--", "set", "interface", "gnv0", "type=geneve",
			"options:remote_ip=flow", "options:key=flow", "ofport_request=10"},
		{"ip", "-n", o.Netns, "link", "set", "br0", "up"},
		{"ip", "-n", o.Netns, "addr", "add", local + "/64", "dev", "br0", "nodad"},
		{"ovs-appctl", "ovs/route/add", "fd00:100::/64", "br0"},
		{"ovs-appctl", "tnl/neigh/set", "br0", remote, remoteMAC},
	} {
		var err error
		switch cmd[0] {
		case "ovs-appctl":
			_, err = o.Appctl(ctx, cmd[1:]...)
		default:
			_, err = o.Run(ctx, cmd[0], cmd[1:]...)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fs := []Flow{
		// Clears the IPv4 outer addresses, then sends over IPv6.
		{Priority: 100, Match: Match{InPort: 1}, Actions: []Action{
			SetTunnel{Addr: netip.IPv4Unspecified()}, SetTunnel{Src: true, Addr: netip.IPv4Unspecified()},
			SetTunnel{Addr: addr(remote)}, SetTunnel{Src: true, Addr: netip.IPv6Unspecified()},
			Load{Field: Whole(FieldTunID), Value: 0x4031}, Output{Port: 10}}},
		// Sets only the IPv6 destination.
		{Priority: 100, Match: Match{InPort: 2}, Actions: []Action{
			SetTunnel{Addr: addr(remote)}, Load{Field: Whole(FieldTunID), Value: 0x4031}, Output{Port: 10}}},
		{Priority: 50, Match: Match{InPort: PortLocal}, Actions: []Action{Output{Port: 1}}},
	}
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := o.Ofctl(ctx, "add-flow", "br0", f.String()); err != nil {
			t.Fatal(err)
		}
	}
	datapathActions := func(packet string) string {
		t.Helper()
		out, err := o.Appctl(ctx, "ofproto/trace", "br0", packet)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "Datapath actions: "); ok {
				return v
			}
		}
		t.Fatalf("trace of %s has no datapath actions:\n%s", packet, out)
		return ""
	}
	sent := []string{"ipv6(src=" + local + ",dst=" + remote + ",", "geneve(vni=0x4031)", "eth(dst=" + remoteMAC + ","}
	for _, packet := range []string{
		"in_port=1,dl_dst=02:00:00:00:00:02",
		"in_port=1,tun_id=0x5,tun_src=192.0.2.12,tun_dst=192.0.2.11,dl_dst=02:00:00:00:00:02", // came in over IPv4
		"in_port=2,dl_dst=02:00:00:00:00:02",
	} {
		acts := datapathActions(packet)
		for _, want := range sent {
			if !strings.Contains(acts, want) {
				t.Errorf("%s: datapath actions %q, want %q in them", packet, acts, want)
			}
		}
	}
	if acts := datapathActions("in_port=2,tun_src=192.0.2.12,tun_dst=192.0.2.11,dl_dst=02:00:00:00:00:02"); strings.Contains(acts, "dst="+remote) {
		t.Errorf("a packet with tun_dst still set went to tun_ipv6_dst (datapath actions %q): SetTunnel's comment is wrong", acts)
	} else {
		t.Logf("with tun_dst still set: datapath actions %q", acts)
	}
}
