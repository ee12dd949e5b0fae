package pipeline

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/intent/intentgen"
)

// TestIncrementalEqualsCompile replays random edits — rules added and
// removed, ports joining and leaving groups, ports bound, unbound, moved,
// added and removed, groups turned stateless, port security switched,
// routers' floating IPs and forwards changed — through Incremental, and
// after every edit checks that (a) its flows equal Compile's byte for
// byte and (b) the updates it planned turn the previous flow set into the
// new one. Compile is the reference.
func TestIncrementalEqualsCompile(t *testing.T) {
	for _, base := range []struct {
		name  string
		doc   func(t *testing.T) *intent.Document
		edits int
	}{
		{"worked-example", workedExampleDoc, 600},
		{"generated", func(*testing.T) *intent.Document {
			return intentgen.Document(intentgen.Params{Ports: 40, Groups: 6, Rules: 90, Seed: 7})
		}, 600},
	} {
		t.Run(base.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, uint64(len(base.name))))
			doc := base.doc(t)
			bind := Bindings{}
			for i, p := range doc.Ports {
				bind[p.Name] = uint32(i + 1)
			}
			for _, r := range doc.Routers {
				if r.External != nil {
					bind[r.External.Port] = uint32(len(doc.Ports) + 50)
				}
			}
			x := NewIncremental()
			var hops NextHops
			// The host is one of several: ports move to other hosts and
			// back (overlay.go).
			endpoints := []netip.Addr{netip.MustParseAddr("192.168.100.12"), netip.MustParseAddr("192.168.100.13")}
			ov := Overlay{TunnelPort: 4000, Remote: map[string]netip.Addr{}, Host: "hv1",
				Hosts: map[string]netip.Addr{"hv2": endpoints[0], "hv3": endpoints[1]}}
			var installed map[string]flows.Flow // what the updates built
			applied, kinds := 0, map[string]int{}
			for step := 0; step < base.edits; step++ {
				next, nextBind, kind := randomEdit(rng, doc, bind)
				nextHops := hops
				if rng.IntN(12) == 0 { // the controller learns a next hop, or a new one
					nextHops = NextHops{}
					if rng.IntN(3) > 0 {
						nextHops[NextHopKey{Router: "edge"}] = flows.MAC{2, 0, 0, 0, 9, byte(rng.IntN(3))}
					}
					if rng.IntN(3) > 0 {
						nextHops[NextHopKey{Router: "edge", IPv6: true}] = flows.MAC{2, 0, 0, 0, 6, byte(rng.IntN(3))}
					}
					for range rng.IntN(3) { // on-link neighbours, in the uplink's prefix or not
						a := netip.AddrFrom4([4]byte{192, 0, byte(2 + rng.IntN(2)), byte(40 + rng.IntN(4))})
						nextHops[NextHopKey{Router: "edge", Neighbour: a}] = flows.MAC{2, 0, 0, 0, 4, byte(rng.IntN(3))}
					}
					kind += " + next hop"
				}
				nextOv := ov
				if rng.IntN(8) == 0 && len(next.Ports) > 0 {
					nextOv.Remote = maps.Clone(ov.Remote)
					p := next.Ports[rng.IntN(len(next.Ports))].Name
					if len(next.Routers) > 0 && next.Routers[0].External != nil && rng.IntN(4) == 0 {
						p = next.Routers[0].External.Port // the router runs on another host
					}
					if _, remote := nextOv.Remote[p]; remote {
						delete(nextOv.Remote, p) // back here, or nowhere
					} else {
						nextOv.Remote[p] = endpoints[rng.IntN(len(endpoints))]
						delete(nextBind, p)
					}
					kind += " + overlay"
				}
				in, err := next.Validate()
				if err != nil {
					continue // an edit validation refuses: nothing to compile
				}
				want, err := CompileOverlay(in, nextBind, nextHops, nextOv)
				if err != nil {
					t.Fatalf("step %d (%s): Compile: %v", step, kind, err)
				}
				plan, err := x.PlanOverlay(in, nextBind, nextHops, nextOv)
				if err != nil {
					t.Fatalf("step %d (%s): Plan: %v", step, kind, err)
				}
				if plan.Flows != len(want) {
					t.Fatalf("step %d (%s): plan says %d flows, Compile %d", step, kind, plan.Flows, len(want))
				}
				x.Commit(plan)
				doc, bind, hops, ov = next, nextBind, nextHops, nextOv
				applied++
				kinds[kind]++
				if installed == nil {
					installed = map[string]flows.Flow{}
				}
				for _, u := range plan.Updates {
					if u.Flow == nil {
						delete(installed, u.Key)
					} else {
						installed[u.Key] = *u.Flow
					}
				}
				got := x.Flows()
				if d := flowTextDiff(want, got); d != "" {
					t.Fatalf("step %d (%s): incremental differs from Compile:\n%s", step, kind, d)
				}
				fromUpdates := make([]flows.Flow, 0, len(installed))
				for _, f := range installed {
					fromUpdates = append(fromUpdates, f)
				}
				flows.Sort(fromUpdates)
				if d := flowTextDiff(want, fromUpdates); d != "" {
					t.Fatalf("step %d (%s): the planned updates do not give Compile's set:\n%s", step, kind, d)
				}
			}
			t.Logf("%d edits applied: %v", applied, kinds)
			if applied < base.edits/2 {
				t.Fatalf("only %d of %d edits were valid", applied, base.edits)
			}
		})
	}
}

func workedExampleDoc(t *testing.T) *intent.Document {
	data, err := os.ReadFile("../examples/intent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := intent.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// flowTextDiff lists the lines only in want (-) or only in got (+).
func flowTextDiff(want, got []flows.Flow) string {
	w, g := make([]string, len(want)), make([]string, len(got))
	for i := range want {
		w[i] = want[i].String()
	}
	for i := range got {
		g[i] = got[i].String()
	}
	if slices.Equal(w, g) {
		return ""
	}
	in := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range list {
			m[s] = true
		}
		return m
	}
	wm, gm := in(w), in(g)
	var b strings.Builder
	for _, s := range w {
		if !gm[s] {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	for _, s := range g {
		if !wm[s] {
			fmt.Fprintf(&b, "+ %s\n", s)
		}
	}
	if b.Len() == 0 {
		b.WriteString("same flows, different order")
	}
	return b.String()
}

// randomEdit returns a copy of doc and bind with one random change.
func randomEdit(rng *rand.Rand, doc *intent.Document, bind Bindings) (*intent.Document, Bindings, string) {
	d := doc.Clone()
	b := Bindings{}
	for k, v := range bind {
		b[k] = v
	}
	pick := func(n int) int { return rng.IntN(max(n, 1)) }
	freePort := func() uint32 { // OVS never gives two interfaces one ofport
		for {
			n := uint32(100 + pick(900))
			if !slices.Contains(slices.Collect(maps.Values(b)), n) {
				return n
			}
		}
	}
	groupNames := func() []string {
		var names []string
		for _, g := range d.SecurityGroups {
			names = append(names, g.Name)
		}
		return names
	}
	params := intentgen.Params{Groups: max(len(d.SecurityGroups), 1)}
	switch rng.IntN(16) {
	case 0, 1:
		if len(d.SecurityGroups) == 0 {
			return d, b, "none"
		}
		g := &d.SecurityGroups[pick(len(d.SecurityGroups))]
		r := intentgen.Rule(rng, params)
		if r.RemoteGroup != "" {
			names := groupNames()
			r.RemoteGroup = names[pick(len(names))]
		}
		g.Rules = append(g.Rules, r)
		return d, b, "add rule"
	case 2:
		if len(d.SecurityGroups) == 0 {
			return d, b, "none"
		}
		g := &d.SecurityGroups[pick(len(d.SecurityGroups))]
		if len(g.Rules) > 0 {
			i := pick(len(g.Rules))
			g.Rules = slices.Delete(g.Rules, i, i+1)
		}
		return d, b, "remove rule"
	case 3:
		p := &d.Ports[pick(len(d.Ports))]
		names := groupNames()
		if len(names) > 0 {
			if g := names[pick(len(names))]; !slices.Contains(p.SecurityGroups, g) {
				p.SecurityGroups = append(p.SecurityGroups, g)
			}
		}
		return d, b, "join group"
	case 4:
		p := &d.Ports[pick(len(d.Ports))]
		if len(p.SecurityGroups) > 0 {
			i := pick(len(p.SecurityGroups))
			p.SecurityGroups = slices.Delete(p.SecurityGroups, i, i+1)
		}
		return d, b, "leave group"
	case 5:
		p := d.Ports[pick(len(d.Ports))]
		if _, ok := b[p.Name]; ok {
			delete(b, p.Name)
			return d, b, "unbind"
		}
		b[p.Name] = freePort()
		return d, b, "bind"
	case 6:
		p := d.Ports[pick(len(d.Ports))]
		b[p.Name] = freePort()
		return d, b, "rebind"
	case 7:
		if len(d.SecurityGroups) == 0 {
			return d, b, "none"
		}
		g := &d.SecurityGroups[pick(len(d.SecurityGroups))]
		v := g.Stateful == nil || *g.Stateful
		v = !v
		g.Stateful = &v
		return d, b, "stateful"
	case 8:
		p := &d.Ports[pick(len(d.Ports))]
		if rng.IntN(2) == 0 { // a rate limit set, changed or removed
			p.QoS = &intent.QoSDoc{EgressKbps: int64(pick(3) * 1000), IngressKbps: int64(pick(2) * 5000)}
			return d, b, "qos"
		}
		v := p.PortSecurity == nil || *p.PortSecurity
		v = !v
		p.PortSecurity = &v
		return d, b, "port security"
	case 9:
		i := pick(len(d.Ports))
		if rng.IntN(2) == 0 && len(d.Ports) > 2 {
			// Routers may name the port: validation refuses that edit.
			name := d.Ports[i].Name
			d.Ports = slices.Delete(d.Ports, i, i+1)
			delete(b, name)
			return d, b, "remove port"
		}
		n := len(d.Ports) + 1000 + pick(1000)
		p := d.Ports[i]
		p.Name = fmt.Sprintf("x%d", n)
		p.MAC = fmt.Sprintf("02:00:0b:00:%02x:%02x", n>>8&0xff, n&0xff)
		p.IPs = nil
		p.AllowedAddressPairs = nil
		if net := d.Networks[0]; strings.HasPrefix(net.CIDR, "10.0.0.") || strings.HasPrefix(net.CIDR, "10.1.") {
			p.IPs = []string{fmt.Sprintf("10.%s.%d.%d", map[bool]string{true: "0", false: "1"}[strings.HasPrefix(net.CIDR, "10.0.0.")], 0, 100+pick(150))}
		}
		p.SecurityGroups = slices.Clone(p.SecurityGroups)
		d.Ports = append(d.Ports, p)
		b[p.Name] = freePort()
		return d, b, "add port"
	case 10:
		p := &d.Ports[pick(len(d.Ports))]
		if len(p.IPs) > 0 {
			ip := p.IPs[0]
			if dot := strings.LastIndexByte(ip, '.'); dot > 0 {
				p.IPs[0] = fmt.Sprintf("%s.%d", ip[:dot], 100+pick(150))
			}
		}
		return d, b, "change ip"
	case 12, 13:
		return policyEdit(rng, d, b, groupNames())
	case 14, 15:
		return serviceEdit(rng, d, b)
	default:
		if len(d.Routers) == 0 {
			return d, b, "none"
		}
		r := &d.Routers[0]
		switch rng.IntN(5) {
		case 4: // the gateway host: this one, another, one without ports, or the uplink's
			r.Host = []string{"", "hv1", "hv2", "hv3", "hv9"}[rng.IntN(5)]
			return d, b, "router host"
		case 3: // learn the next hop instead of a static gateway_mac, or back
			if r.External.GatewayMAC == "" {
				r.External.GatewayMAC = "02:00:c0:00:02:01"
			} else {
				r.External.GatewayMAC = ""
			}
			return d, b, "gateway_mac"
		case 0:
			if len(r.FloatingIPs) > 0 {
				r.FloatingIPs = r.FloatingIPs[:len(r.FloatingIPs)-1]
			} else {
				r.FloatingIPs = append(r.FloatingIPs, intent.FloatingIPDoc{Port: d.Ports[pick(len(d.Ports))].Name, IP: "192.0.2.30"})
			}
			return d, b, "floating ip"
		case 1:
			if len(r.PortForwards) > 0 {
				r.PortForwards = r.PortForwards[:len(r.PortForwards)-1]
			}
			return d, b, "port forward"
		default:
			if _, ok := b[r.External.Port]; ok {
				delete(b, r.External.Port)
			} else {
				b[r.External.Port] = freePort()
			}
			return d, b, "uplink"
		}
	}
}

// policyEdit adds or removes a policy, or adds, removes or changes the
// action of one of a policy's rules.
func policyEdit(rng *rand.Rand, d *intent.Document, b Bindings, groups []string) (*intent.Document, Bindings, string) {
	pick := func(n int) int { return rng.IntN(max(n, 1)) }
	actions := []string{"allow", "deny", "reject", "pass"}
	rule := func() intent.PolicyRuleDoc {
		r := intentgen.Rule(rng, intentgen.Params{Groups: max(len(groups), 1)})
		if r.RemoteGroup != "" && len(groups) > 0 {
			r.RemoteGroup = groups[pick(len(groups))]
		}
		return intent.PolicyRuleDoc{Action: actions[pick(len(actions))], Direction: r.Direction, EtherType: r.EtherType,
			Protocol: r.Protocol, Ports: r.Ports, ICMPType: r.ICMPType, ICMPCode: r.ICMPCode,
			RemoteCIDR: r.RemoteCIDR, RemoteGroup: r.RemoteGroup, Log: rng.IntN(2) == 0}
	}
	if len(d.Policies) == 0 || rng.IntN(3) == 0 {
		if len(d.Policies) > 0 && rng.IntN(2) == 0 {
			i := pick(len(d.Policies))
			d.Policies = slices.Delete(d.Policies, i, i+1)
			return d, b, "remove policy"
		}
		prio := int64(pick(intent.MaxPolicyPriority + 1))
		target := &intent.PolicyTargetDoc{}
		switch rng.IntN(3) {
		case 0:
			target.All = true
		case 1:
			if len(groups) > 0 {
				target.SecurityGroups = []string{groups[pick(len(groups))]}
			}
		default:
			target.Ports = []string{d.Ports[pick(len(d.Ports))].Name}
		}
		p := intent.PolicyDoc{Name: fmt.Sprintf("pol%d", rng.IntN(1000)), Priority: &prio, AppliesTo: target}
		for range 1 + rng.IntN(3) {
			p.Rules = append(p.Rules, rule())
		}
		d.Policies = append(d.Policies, p)
		return d, b, "add policy"
	}
	p := &d.Policies[pick(len(d.Policies))]
	switch rng.IntN(3) {
	case 0:
		p.Rules = append(p.Rules, rule())
		return d, b, "add policy rule"
	case 1:
		if len(p.Rules) > 0 {
			i := pick(len(p.Rules))
			p.Rules = slices.Delete(p.Rules, i, i+1)
		}
		return d, b, "remove policy rule"
	default:
		if len(p.Rules) > 0 {
			p.Rules[pick(len(p.Rules))].Action = actions[pick(len(actions))]
		}
		return d, b, "policy action"
	}
}

// serviceEdit adds or removes a service, or adds or removes a backend,
// changes a weight or the affinity of one.
func serviceEdit(rng *rand.Rand, d *intent.Document, b Bindings) (*intent.Document, Bindings, string) {
	pick := func(n int) int { return rng.IntN(max(n, 1)) }
	i64 := func(v int) *int64 { x := int64(v); return &x }
	backend := func() intent.BackendDoc {
		return intent.BackendDoc{Port: d.Ports[pick(len(d.Ports))].Name, TargetPort: i64(8000 + pick(3)), Weight: i64(1 + pick(4))}
	}
	if len(d.Services) == 0 || rng.IntN(3) == 0 {
		if len(d.Services) > 0 && rng.IntN(2) == 0 {
			i := pick(len(d.Services))
			d.Services = slices.Delete(d.Services, i, i+1)
			return d, b, "remove service"
		}
		s := intent.ServiceDoc{Name: fmt.Sprintf("svc%d", rng.IntN(1000)), VIP: fmt.Sprintf("10.0.0.%d", 200+pick(50)), Port: i64(80 + pick(3))}
		if rng.IntN(4) == 0 {
			s.Protocol = "udp"
		}
		if rng.IntN(3) == 0 {
			s.AffinitySeconds = int64(1 + pick(100))
		}
		for range pick(4) {
			s.Backends = append(s.Backends, backend())
		}
		d.Services = append(d.Services, s)
		return d, b, "add service"
	}
	s := &d.Services[pick(len(d.Services))]
	switch rng.IntN(4) {
	case 0:
		s.Backends = append(s.Backends, backend())
		return d, b, "add backend"
	case 1:
		if len(s.Backends) > 0 {
			i := pick(len(s.Backends))
			s.Backends = slices.Delete(s.Backends, i, i+1)
		}
		return d, b, "remove backend"
	case 2:
		if len(s.Backends) > 0 {
			s.Backends[pick(len(s.Backends))].Weight = i64(1 + pick(4))
		}
		return d, b, "weight"
	default:
		s.AffinitySeconds = int64(pick(2) * (1 + pick(100)))
		return d, b, "affinity"
	}
}
