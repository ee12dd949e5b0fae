package pipeline

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// floodIntent is one network ("big", 10.1.0.0/16) with n bound ports
// p1..pn on OpenFlow ports 1..n, every port in group "members" (stateful:
// any UDP in, anything out); routed adds a router for the network, as in
// routerExample.
func floodIntent(n int, routed bool) (*intent.Intent, Bindings) {
	in := &intent.Intent{
		Bridge: "br-int", Datapath: "netdev",
		Networks: []intent.Network{{Name: "big", CIDR: netip.MustParsePrefix("10.1.0.0/16")}},
		SecurityGroups: []intent.SecurityGroup{{Name: "members", Stateful: true, Rules: []intent.Rule{
			{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoUDP, PortMin: 1, PortMax: 65535},
			{Direction: intent.Egress, EtherType: intent.IPv4, Protocol: intent.ProtocolAny},
		}}},
	}
	b := Bindings{}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("p%d", i)
		in.Ports = append(in.Ports, intent.Port{Name: name, Network: "big",
			MAC:            floodPortMAC(i),
			IPs:            []netip.Addr{floodPortIP(i)},
			SecurityGroups: []string{"members"}, PortSecurity: true})
		b[name] = uint32(i)
	}
	if routed {
		gwMAC := [6]byte(flows.MustMAC("02:00:c0:00:02:01"))
		in.Networks[0].Gateway = netip.MustParseAddr("10.1.255.254")
		in.Routers = []intent.Router{{Name: "edge", Networks: []string{"big"},
			External: intent.External{Port: "uplink", MAC: [6]byte(flows.MustMAC("02:00:c0:00:02:0a")),
				IP: netip.MustParsePrefix("192.0.2.10/24"), Gateway: netip.MustParseAddr("192.0.2.1"), GatewayMAC: &gwMAC}}}
	}
	return in, b
}

// floodPortMAC and floodPortIP are port i's addresses in floodIntent.
func floodPortMAC(i int) [6]byte { return [6]byte{2, 0, 10, 1, byte(i >> 8), byte(i)} }
func floodPortIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
}

// maxActions is the longest action list of fs and the flow that has it.
func maxActions(fs []flows.Flow) (int, flows.Flow) {
	var most flows.Flow
	for _, f := range fs {
		if len(f.Actions) > len(most.Actions) {
			most = f
		}
	}
	return len(most.Actions), most
}

// No flow's actions grow with the number of ports: the longest action
// list of a 5,000-port network is no longer than a 500-port one's, and
// within the flood tree's bound (a full chunk of filtered deliveries).
func TestFloodFlowsAreBounded(t *testing.T) {
	const bound = 3 * floodChunkPorts
	var longest []int
	for _, n := range []int{10, 500, 5000} {
		in, b := floodIntent(n, true)
		// A remote group: its rules' flows grow with its members.
		in.SecurityGroups[0].Rules = append(in.SecurityGroups[0].Rules, intent.Rule{Direction: intent.Ingress,
			EtherType: intent.IPv4, Protocol: intent.ProtoTCP, PortMin: 22, PortMax: 22, RemoteGroup: "members"})
		fs := mustCompile(t, in, b)
		most, f := maxActions(fs)
		text := 0
		for _, f := range fs {
			text = max(text, len(f.String()))
		}
		t.Logf("%d ports: %d flows, longest action list %d (table %d), longest flow %d characters", n, len(fs), most, f.Table, text)
		if most > bound {
			t.Errorf("%d ports: a flow has %d actions, more than %d: %s", n, most, bound, f.String())
		}
		if text > 8<<10 {
			t.Errorf("%d ports: a flow is %d characters long", n, text)
		}
		longest = append(longest, most)
	}
	if longest[2] > longest[1] {
		t.Errorf("the longest action list grows with the port count: %d at 500 ports, %d at 5,000", longest[1], longest[2])
	}
}

// floodRun is what a flood did, as floodWalk replays it.
type floodRun struct {
	outputs  []uint32 // output:N, in order
	filtered []uint32 // reg1 at every resubmit to ingress_acl, in order
	// depth is the deepest nesting of resubmits to the same or an
	// earlier table, which OVS limits to 64; resubmits counts resubmits
	// and goto_tables, which it limits to 4,096 per translation.
	depth, resubmits int
}

// floodWalk replays the flood of network zone from its l2_lookup entry
// flow at priority prio matching ethType (and ICMPv6 type icmp when not
// 0) through the flood tables, the way OVS translates it: loads of reg1
// and reg8, resubmits and goto_tables within the flood tables, outputs.
// A resubmit to ingress_acl is recorded rather than followed.
func floodWalk(t *testing.T, fs []flows.Flow, zone uint16, prio uint16, ethType uint16, icmp uint8) floodRun {
	t.Helper()
	regs := map[uint8]uint32{regNetwork: uint32(zone)}
	matches := func(f flows.Flow) bool {
		for _, r := range f.Match.Regs {
			mask := r.Mask
			if mask == 0 {
				mask = ^uint32(0)
			}
			if regs[r.Index]&mask != r.Value&mask {
				return false
			}
		}
		return true
	}
	lookup := func(table Table) flows.Flow {
		var found []flows.Flow
		for _, f := range fs {
			if Table(f.Table) == table && f.Priority == prioFloodNode && matches(f) {
				found = append(found, f)
			}
		}
		if len(found) != 1 {
			t.Fatalf("table %d, reg8=%#x: %d flood flows match, want 1", table, regs[regFloodNode], len(found))
		}
		return found[0]
	}
	var run floodRun
	var exec func(table Table, actions []flows.Action, depth int)
	exec = func(table Table, actions []flows.Action, depth int) {
		run.depth = max(run.depth, depth)
		for _, a := range actions {
			switch a := a.(type) {
			case flows.Load:
				switch a.Field {
				case fieldFloodNode:
					regs[regFloodNode] = uint32(a.Value)
				case fieldDstPort:
					regs[regDstPort] = uint32(a.Value)
				case fieldIngressRuleID:
				default:
					t.Fatalf("flood loads %v", a.Field)
				}
			case flows.Output:
				run.outputs = append(run.outputs, a.Port)
			case flows.Resubmit:
				run.resubmits++
				if Table(a.Table) == TableIngressACL {
					run.filtered = append(run.filtered, regs[regDstPort])
					continue
				}
				d := depth
				if Table(a.Table) <= table {
					d++
				}
				exec(Table(a.Table), lookup(Table(a.Table)).Actions, d)
			case flows.Goto:
				run.resubmits++
				exec(Table(a.Table), lookup(Table(a.Table)).Actions, depth)
			default:
				t.Fatalf("flood flow has action %T", a)
			}
		}
	}
	for _, f := range fs {
		m := f.Match
		if Table(f.Table) == TableL2Lookup && f.Priority == prio && matches(f) && m.EthType == ethType &&
			(icmp == 0 || m.ICMPType != nil && *m.ICMPType == icmp) {
			exec(TableL2Lookup, f.Actions, 0)
			return run
		}
	}
	t.Fatalf("no l2_lookup flood flow at priority %d for ethType %#x", prio, ethType)
	return run
}

func portsUpTo(n int) []uint32 {
	var out []uint32
	for i := 1; i <= n; i++ {
		out = append(out, uint32(i))
	}
	return out
}

// Every port of the network (and the router) gets the flood once, in port
// order, within OVS's nesting limit, at the sizes where chunks and strides
// fill up and spill over.
func TestFloodReachesEveryPort(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 4095, 4096, 4097, 5000, 9000} {
		for _, routed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d ports routed=%v", n, routed), func(t *testing.T) {
				in, b := floodIntent(n, routed)
				c := newCompiler(in, b, nil)
				zone := c.ids.zone["big"]
				fs := c.floodFlows(in.Networks[0])
				for _, f := range fs {
					if f.Cookie != Cookie(KindNetwork, uint64(zone)) {
						t.Errorf("flood flow not under the network's cookie: %s", f.String())
					}
				}
				ports := portsUpTo(n)
				receivers := ports
				if routed {
					receivers = append(slices.Clone(ports), RouterPort)
				}
				chunks := (len(receivers) + floodChunkPorts - 1) / floodChunkPorts
				strides := (chunks + floodStrideChunks - 1) / floodStrideChunks

				arp := floodWalk(t, fs, zone, prioL2FloodDirect, flows.EthTypeARP, 0)
				if !slices.Equal(arp.outputs, ports) {
					t.Errorf("ARP is output to %d ports, want %d in port order", len(arp.outputs), len(ports))
				}
				if wantRouter := receivers[len(ports):]; !slices.Equal(arp.filtered, wantRouter) {
					t.Errorf("ARP goes through ingress_acl for %v, want %v (the router only)", arp.filtered, wantRouter)
				}
				for _, icmp := range directFloodICMPv6 {
					nd := floodWalk(t, fs, zone, prioL2FloodDirect, flows.EthTypeIPv6, icmp)
					if len(nd.outputs) != n {
						t.Errorf("ICMPv6 type %d is output to %d ports, want %d", icmp, len(nd.outputs), n)
					}
				}
				ip := floodWalk(t, fs, zone, prioL2Flood, 0, 0)
				if len(ip.outputs) != 0 || !slices.Equal(ip.filtered, receivers) {
					t.Errorf("other floods: %d outputs, %d receivers through ingress_acl; want 0 and %d in port order",
						len(ip.outputs), len(ip.filtered), len(receivers))
				}
				// Stride s runs at depth s, its chunks at s+1.
				if want := strides; arp.depth != want || ip.depth != want {
					t.Errorf("nesting depth %d (ARP), %d (other), want %d", arp.depth, ip.depth, want)
				}
				if arp.depth >= 64 {
					t.Errorf("nesting depth %d passes OVS's limit of 64", arp.depth)
				}
				// goto into the tree, one resubmit per chunk and per further
				// stride, one per receiver through ingress_acl.
				if want := 1 + chunks + strides - 1 + len(receivers); ip.resubmits != want {
					t.Errorf("%d resubmits for other floods, want %d", ip.resubmits, want)
				}
				t.Logf("%d receivers: %d chunks, %d strides, depth %d, %d flood flows", len(receivers), chunks, strides, arp.depth, len(fs))
			})
		}
	}
}

// flood_direct skips the receivers' ingress ACLs and commit, which is
// right only for what ingress_acl passes for everyone at its highest
// priority and commit never commits: ARP and the ND types in
// directFloodICMPv6.
func TestDirectFloodIsWhatIngressPasses(t *testing.T) {
	in, b := floodIntent(3, true)
	fs := mustCompile(t, in, b)
	passed := map[string]bool{}
	for _, f := range fs {
		if Table(f.Table) != TableIngressACL {
			continue
		}
		if f.Priority > prioACLInfra {
			t.Errorf("ingress_acl has a flow above prioACLInfra: %s", f.String())
		}
		if f.Priority == prioACLInfra && len(f.Match.Regs) == 0 && slices.Equal(f.Actions, []flows.Action{goTo(TableCommit)}) {
			passed[classKey(f.Match)] = true
		}
	}
	for _, f := range fs {
		if Table(f.Table) != TableL2Lookup || f.Priority != prioL2FloodDirect {
			continue
		}
		m := f.Match
		m.Regs, m.EthDst = nil, nil
		if !passed[classKey(m)] {
			t.Errorf("flood_direct takes %s, which ingress_acl does not pass for every receiver", f.String())
		}
		if m.EthType != flows.EthTypeARP && !(m.EthType == flows.EthTypeIPv6 && m.ICMPType != nil && slices.Contains(ndTypes, *m.ICMPType)) {
			t.Errorf("flood_direct takes %s, which conntrack tracks (commit could commit it)", f.String())
		}
	}
}

// classKey names the EtherType and ICMP type a match selects.
func classKey(m flows.Match) string {
	k := fmt.Sprintf("%#x", m.EthType)
	if m.ICMPType != nil {
		k += fmt.Sprintf("/icmp%d", *m.ICMPType)
	}
	if m.IPProto != nil {
		k += fmt.Sprintf("/proto%d", *m.IPProto)
	}
	return k
}
