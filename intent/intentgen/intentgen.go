// Package intentgen generates large, realistic intent documents for
// benchmarks and scale tests: many ports on one network, many security
// groups with a mix of CIDR, remote-group and any-remote rules. The same
// Params always give the same document, byte for byte.
package intentgen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/flowgate/flowgate/intent"
)

// Params sizes a generated intent. The zero value of a field takes the
// default of Default().
type Params struct {
	Ports  int // bound ports, all on one network
	Groups int // security groups
	Rules  int // rules in total, spread evenly over the groups
	// Shares of the rules' remotes, in percent: remote group, CIDR; the
	// rest has no remote (any).
	RemoteGroupPct, CIDRPct int
	// PortRangePct is the share of tcp/udp rules with a range rather than
	// a single port.
	PortRangePct int
	// TwoGroupsPct is the share of ports in two groups (the rest are in one).
	TwoGroupsPct int
	Seed         uint64
}

// Default is the scale scenario of issue 9: 1,000 ports on one /16,
// 100 groups, 10,100 rules (30 % remote-group, 60 % CIDR, 10 % any
// remote; 30 % port ranges), every port in one or two groups.
func Default() Params {
	return Params{Ports: 1000, Groups: 100, Rules: 10100,
		RemoteGroupPct: 30, CIDRPct: 60, PortRangePct: 30, TwoGroupsPct: 50, Seed: 1}
}

func (p Params) withDefaults() Params {
	d := Default()
	if p.Ports == 0 {
		p.Ports = d.Ports
	}
	if p.Groups == 0 {
		p.Groups = d.Groups
	}
	if p.Rules == 0 {
		p.Rules = d.Rules
	}
	if p.RemoteGroupPct == 0 && p.CIDRPct == 0 {
		p.RemoteGroupPct, p.CIDRPct = d.RemoteGroupPct, d.CIDRPct
	}
	if p.PortRangePct == 0 {
		p.PortRangePct = d.PortRangePct
	}
	if p.TwoGroupsPct == 0 {
		p.TwoGroupsPct = d.TwoGroupsPct
	}
	if p.Seed == 0 {
		p.Seed = d.Seed
	}
	return p
}

// NetworkName is the one network every generated port is on.
const NetworkName = "tenant"

// PortName is the name (iface-id) of port i.
func PortName(i int) string { return fmt.Sprintf("p%04d", i) }

// GroupName is the name of group i.
func GroupName(i int) string { return fmt.Sprintf("g%03d", i) }

// PortMAC and PortIP are port i's addresses (10.1.0.0/16; .0.0 and
// .0.1 are skipped: network and gateway).
func PortMAC(i int) string { return fmt.Sprintf("02:00:0a:01:%02x:%02x", (i+2)>>8&0xff, (i+2)&0xff) }
func PortIP(i int) string  { return fmt.Sprintf("10.1.%d.%d", (i+2)>>8&0xff, (i+2)&0xff) }

// Document generates the intent document for p.
func Document(p Params) *intent.Document {
	p = p.withDefaults()
	rng := rand.New(rand.NewPCG(p.Seed, 0x666c6f7767617465))
	doc := &intent.Document{
		Networks: []intent.NetworkDoc{{Name: NetworkName, CIDR: "10.1.0.0/16", Gateway: "10.1.0.1"}},
	}
	for g := range p.Groups {
		doc.SecurityGroups = append(doc.SecurityGroups, intent.SecurityGroupDoc{Name: GroupName(g)})
	}
	seen := make([]map[intent.RuleDoc]bool, p.Groups)
	for r := range p.Rules {
		gi := r % p.Groups
		if seen[gi] == nil {
			seen[gi] = map[intent.RuleDoc]bool{}
		}
		rule := Rule(rng, p)
		for seen[gi][rule] { // validation refuses a rule repeated in a group
			rule = Rule(rng, p)
		}
		seen[gi][rule] = true
		g := &doc.SecurityGroups[gi]
		g.Rules = append(g.Rules, rule)
	}
	for i := range p.Ports {
		groups := []string{GroupName(i % p.Groups)}
		if rng.IntN(100) < p.TwoGroupsPct {
			if other := GroupName(rng.IntN(p.Groups)); other != groups[0] {
				groups = append(groups, other)
			}
		}
		doc.Ports = append(doc.Ports, intent.PortDoc{
			Name: PortName(i), Network: NetworkName, MAC: PortMAC(i),
			IPs: []string{PortIP(i)}, SecurityGroups: groups,
		})
	}
	return doc
}

// Rule draws one rule of the mix in p from rng: tcp or udp (and a few
// icmp), ingress or egress, a single port or a range, and a remote.
func Rule(rng *rand.Rand, p Params) intent.RuleDoc {
	p = p.withDefaults()
	r := intent.RuleDoc{Direction: "ingress"}
	if rng.IntN(100) < 30 {
		r.Direction = "egress"
	}
	switch n := rng.IntN(100); {
	case n < 70:
		r.Protocol = "tcp"
	case n < 95:
		r.Protocol = "udp"
	default:
		r.Protocol = "icmp"
	}
	if r.Protocol != "icmp" {
		port := 1 + rng.IntN(65000)
		if rng.IntN(100) < p.PortRangePct {
			r.Ports = fmt.Sprintf("%d-%d", port, port+1+rng.IntN(500))
		} else {
			r.Ports = fmt.Sprint(port)
		}
	}
	switch n := rng.IntN(100); {
	case n < p.RemoteGroupPct:
		r.RemoteGroup = GroupName(rng.IntN(p.Groups))
	case n < p.RemoteGroupPct+p.CIDRPct:
		bits := 16 + rng.IntN(17)
		addr := netip.AddrFrom4([4]byte{byte(100 + rng.IntN(100)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		// Host bits cleared: validation refuses a CIDR with them set.
		r.RemoteCIDR = netip.PrefixFrom(addr, bits).Masked().String()
	}
	return r
}

// Intent generates and validates the intent for p.
func Intent(p Params) (*intent.Intent, error) {
	return Document(p).Validate()
}

// Bindings binds every generated port: port i gets OpenFlow port i+1.
func Bindings(p Params) map[string]uint32 {
	p = p.withDefaults()
	b := make(map[string]uint32, p.Ports)
	for i := range p.Ports {
		b[PortName(i)] = uint32(i + 1)
	}
	return b
}
