package inspect

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/flowgate/flowgate/intent"
)

// TestPoliciesAreOrderedChainsOnOVS states the semantics of admin policies as
// iptables would run them, and checks the compiled pipeline against that
// for a table of cases: the verdict ofproto/trace gives for the first
// packet of a connection equals the model's.
//
// The model: a packet from port A to port B runs A's egress and B's
// ingress, and must be accepted by both. Each runs the chains of the
// policies that apply to the port in order of priority, each chain's rules
// in order, as the egress or ingress rules of the chain ("-j ACCEPT" for
// allow, "-j DROP" for deny, "-j REJECT" for reject, "-j RETURN" for pass:
// leave the policies); a verdict ends the side. If no rule gave one, the
// port's security groups decide: ACCEPT if any of their rules of that
// direction matches, else DROP.
func TestPoliciesAreOrderedChainsOnOVS(t *testing.T) {
	l := newLab(t)
	in := l.intent
	cidr := netip.MustParsePrefix
	rule := func(a intent.PolicyAction, dir intent.Direction, proto int, port uint16, remote string) intent.PolicyRule {
		r := intent.PolicyRule{Action: a, Match: intent.Rule{Direction: dir, EtherType: intent.IPv4, Protocol: proto, PortMin: port, PortMax: port}}
		switch {
		case remote == "":
		case remote[0] >= '0' && remote[0] <= '9':
			r.Match.RemoteCIDR = cidr(remote)
		default:
			r.Match.RemoteGroup = remote
		}
		return r
	}
	const any = intent.ProtocolAny
	in.Policies = []intent.Policy{
		{Name: "last", Priority: 9, AppliesTo: intent.PolicyTarget{All: true}, Rules: []intent.PolicyRule{
			rule(intent.ActionDeny, intent.Ingress, intent.ProtoTCP, 22, ""),
			rule(intent.ActionAllow, intent.Ingress, intent.ProtoICMP, 0, "10.0.0.0/24"),
		}},
		{Name: "first", Priority: 0, AppliesTo: intent.PolicyTarget{All: true}, Rules: []intent.PolicyRule{
			rule(intent.ActionDeny, intent.Egress, intent.ProtoUDP, 53, "10.0.0.21/32"),
			rule(intent.ActionPass, intent.Ingress, intent.ProtoTCP, 22, "10.0.0.11/32"),
		}},
		{Name: "db", Priority: 5, AppliesTo: intent.PolicyTarget{Groups: []string{"db"}}, Rules: []intent.PolicyRule{
			rule(intent.ActionAllow, intent.Ingress, intent.ProtoTCP, 5432, "web"),
			rule(intent.ActionReject, intent.Ingress, intent.ProtoTCP, 3306, "10.0.0.12/32"),
			rule(intent.ActionPass, intent.Ingress, intent.ProtoTCP, 3306, ""),
			rule(intent.ActionDeny, intent.Egress, any, 0, "10.0.0.12/32"),
		}},
		{Name: "web2", Priority: 7, AppliesTo: intent.PolicyTarget{Ports: []string{"web2"}}, Rules: []intent.PolicyRule{
			rule(intent.ActionDeny, intent.Ingress, intent.ProtoTCP, 8080, "10.0.0.21/32"),
			rule(intent.ActionAllow, intent.Ingress, intent.ProtoUDP, 53, ""),
			rule(intent.ActionPass, intent.Egress, any, 0, ""),
		}},
	}
	l.install()

	services := []struct {
		proto string
		num   int
		port  uint16
	}{{"tcp", intent.ProtoTCP, 22}, {"tcp", intent.ProtoTCP, 3306}, {"tcp", intent.ProtoTCP, 5432},
		{"tcp", intent.ProtoTCP, 8080}, {"udp", intent.ProtoUDP, 53}, {"icmp", intent.ProtoICMP, 0}}
	allowed, denied := 0, 0
	for _, from := range in.Ports {
		for _, to := range in.Ports {
			if from.Name == to.Name {
				continue
			}
			for _, s := range services {
				pkt := modelPacket{src: from.IPs[0], dst: to.IPs[0], proto: s.num, port: s.port}
				want := modelSide(in, &from, intent.Egress, pkt) && modelSide(in, &to, intent.Ingress, pkt)
				res := l.trace(TraceRequest{From: from.Name, To: to.IPs[0], Proto: s.proto, DPort: s.port})
				name := fmt.Sprintf("%s -> %s %s/%d", from.Name, to.Name, s.proto, s.port)
				if res.Allowed != want {
					t.Errorf("%s: pipeline allowed=%v (%s), iptables model allowed=%v", name, res.Allowed, res.Verdict, want)
				}
				if want {
					allowed++
				} else {
					denied++
				}
			}
		}
	}
	t.Logf("%d cases agree with the model: %d allowed, %d dropped", allowed+denied, allowed, denied)
	if allowed == 0 || denied == 0 {
		t.Error("the table of cases does not exercise both verdicts")
	}
}

type modelPacket struct {
	src, dst netip.Addr
	proto    int
	port     uint16
}

// modelSide runs one side (a port's egress or ingress) of the model.
func modelSide(in *intent.Intent, p *intent.Port, dir intent.Direction, pkt modelPacket) bool {
	var chains []intent.Policy
	for _, pol := range in.Policies {
		if pol.AppliesTo.All || slices.Contains(pol.AppliesTo.Ports, p.Name) ||
			slices.ContainsFunc(p.SecurityGroups, func(g string) bool { return slices.Contains(pol.AppliesTo.Groups, g) }) {
			chains = append(chains, pol)
		}
	}
	slices.SortFunc(chains, func(a, b intent.Policy) int { return cmp.Compare(a.Priority, b.Priority) })
chains:
	for _, pol := range chains {
		for _, r := range pol.Rules {
			if r.Match.Direction != dir || !modelMatches(in, r.Match, pkt) {
				continue
			}
			switch r.Action {
			case intent.ActionAllow:
				return true
			case intent.ActionPass:
				break chains // -j RETURN from the policies
			default:
				return false
			}
		}
	}
	for _, g := range p.SecurityGroups {
		for _, r := range in.SecurityGroup(g).Rules {
			if r.Direction == dir && modelMatches(in, r, pkt) {
				return true
			}
		}
	}
	return false
}

func modelMatches(in *intent.Intent, r intent.Rule, pkt modelPacket) bool {
	if r.EtherType != intent.IPv4 || r.Protocol != intent.ProtocolAny && r.Protocol != pkt.proto {
		return false
	}
	if r.PortMin != 0 && (pkt.port < r.PortMin || pkt.port > r.PortMax) {
		return false
	}
	if r.ICMPType != nil && *r.ICMPType != 8 {
		return false // the model sends echo requests
	}
	remote := pkt.src
	if r.Direction == intent.Egress {
		remote = pkt.dst
	}
	switch {
	case r.RemoteCIDR.IsValid():
		return r.RemoteCIDR.Contains(remote)
	case r.RemoteGroup != "":
		for _, p := range in.Ports {
			if slices.Contains(p.SecurityGroups, r.RemoteGroup) && slices.Contains(p.IPs, remote) {
				return true
			}
		}
		return false
	}
	return true
}
