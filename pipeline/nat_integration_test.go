package pipeline_test

// Issue 5 acceptance: the compiled router stage, on a private userspace OVS,
// with real TCP and UDP between namespaces. The security-group stages are
// stood in for by standInSGFlows (below) until pipeline.Compile produces
// them; the router flows are exactly what the compiler emits.

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
)

func TestNATCompiledRouter(t *testing.T) {
	in := pipeline.RouterExample()
	routerFlows, err := pipeline.CompileRouters(in, pipeline.RouterExampleBindings())
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	text.WriteString(standInSGFlows(in, pipeline.RouterExampleBindings()))
	for _, f := range routerFlows {
		fmt.Fprintln(&text, f.String())
	}
	l := newNATLab(t)
	l.install(t, text.String())
	checkRouterBehaviour(t, l)
	l.logConntrack(t)
}

// standInSGFlows is a minimal version of the security-group stages in the
// table layout of tables.go/fields.go, with the router seam the router stage
// relies on: classify (reg0 = port, reg2 = network zone), conntrack in the
// network zone, egress passes (every group of the example allows egress
// any), L2 lookup (the gateway MAC goes to the router as RouterPort),
// ingress rules of the destination port (remote groups resolved to member
// addresses), commit in the network zone, output (RouterPort -> router).
// Routed packets come back at table 20 with reg2 = destination network.
func standInSGFlows(in *intent.Intent, bindings map[string]uint32) string {
	zones := pipeline.NetworkZones(in)
	var b strings.Builder
	add := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	const routerPort = 0xfff0
	add("table=20,priority=100,ip actions=ct(table=30,zone=NXM_NX_REG2[0..15],nat)")
	add("table=20,priority=0 actions=goto_table:30")
	add("table=30,priority=300,ct_state=+trk+inv,ip actions=drop")
	add("table=30,priority=0 actions=goto_table:50")
	add("table=60,priority=300,ct_state=+trk+inv,ip actions=drop")
	add("table=60,priority=250,reg1=%#x actions=goto_table:70", routerPort)
	add("table=60,priority=200,ct_state=+trk+est,ip actions=goto_table:80")
	add("table=60,priority=200,ct_state=+trk+rel,ip actions=goto_table:80")
	add("table=60,priority=50,arp actions=goto_table:80")
	add("table=70,priority=100,ct_state=+trk+new,ip actions=ct(commit,zone=NXM_NX_REG2[0..15]),goto_table:80")
	add("table=70,priority=0 actions=goto_table:80")
	add("table=80,priority=100,reg1=%#x actions=goto_table:90", routerPort)
	members := map[string][]netip.Addr{}
	for _, p := range in.Ports {
		for _, g := range p.SecurityGroups {
			members[g] = append(members[g], p.IPs...)
		}
	}
	for _, n := range in.Networks {
		z := zones[n.Name]
		add("table=50,priority=200,reg2=%d,dl_dst=%s actions=load:%#x->NXM_NX_REG1[],goto_table:60",
			z, pipeline.GatewayMAC(&n), routerPort)
		var flood []string
		for _, p := range in.Ports {
			if ofport, ok := bindings[p.Name]; ok && p.Network == n.Name {
				flood = append(flood, fmt.Sprintf("output:%d", ofport))
			}
		}
		add("table=50,priority=50,reg2=%d,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=%s", z, strings.Join(flood, ","))
	}
	for _, p := range in.Ports {
		ofport, ok := bindings[p.Name]
		if !ok {
			continue
		}
		z := zones[p.Network]
		add("table=0,priority=100,in_port=%d actions=load:%d->NXM_NX_REG0[],load:%d->NXM_NX_REG2[0..15],goto_table:20", ofport, ofport, z)
		add("table=50,priority=100,reg2=%d,dl_dst=%s actions=load:%d->NXM_NX_REG1[],goto_table:60", z, flows.MAC(p.MAC), ofport)
		add("table=80,priority=100,reg1=%d actions=output:%d", ofport, ofport)
		for _, gname := range p.SecurityGroups {
			for _, r := range in.SecurityGroup(gname).Rules {
				if r.Direction != intent.Ingress {
					continue
				}
				proto := map[int]string{intent.ProtoTCP: "tcp", intent.ProtoUDP: "udp"}[r.Protocol]
				var remotes []string
				switch {
				case r.RemoteCIDR.IsValid():
					remotes = []string{",nw_src=" + r.RemoteCIDR.String()}
				case r.RemoteGroup != "":
					for _, a := range members[r.RemoteGroup] {
						remotes = append(remotes, ",nw_src="+a.String())
					}
				default:
					remotes = []string{""}
				}
				for _, remote := range remotes {
					add("table=60,priority=100,ct_state=+trk+new,%s,reg1=%d%s,tp_dst=%d actions=goto_table:70",
						proto, ofport, remote, r.PortMin)
				}
			}
		}
	}
	return b.String()
}
