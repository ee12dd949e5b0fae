package pipeline

import (
	"net/netip"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/testbed"
)

// TestPoliciesOnRealTrafficOnOVS runs admin policies above the worked
// example's groups on the security-group lab (admin is 203.0.113.5):
// a deny beats a group that allows, pass hands to the groups, allow
// admits what no group allows, priorities decide between overlapping
// policies, and a deny added under a live session ends it, while a
// connection a policy allowed survives a change of the groups.
func TestPoliciesOnRealTrafficOnOVS(t *testing.T) {
	in := sgLabIntent()
	admin := netip.MustParsePrefix("203.0.113.0/24")
	tcpFrom := func(action intent.PolicyAction, lo, hi uint16) intent.PolicyRule {
		return intent.PolicyRule{Action: action, Match: intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4,
			Protocol: intent.ProtoTCP, PortMin: lo, PortMax: hi, RemoteCIDR: admin}}
	}
	in.Policies = []intent.Policy{
		// web1: ssh from the admin network goes to the groups (which
		// allow it); everything else from there is denied, 8080 too,
		// which group web allows from anywhere.
		{Name: "web1-admin", Priority: 1, AppliesTo: intent.PolicyTarget{Ports: []string{"web1"}}, Rules: []intent.PolicyRule{
			tcpFrom(intent.ActionPass, 22, 22),
			{Action: intent.ActionDeny, Match: intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4,
				Protocol: intent.ProtocolAny, RemoteCIDR: admin}},
		}},
		// db: 5000 is allowed by the higher policy, 5001 only matches the
		// lower one's deny; 3307 no group allows.
		{Name: "db-allow", Priority: 2, AppliesTo: intent.PolicyTarget{Groups: []string{"db"}}, Rules: []intent.PolicyRule{
			tcpFrom(intent.ActionAllow, 5000, 5000), tcpFrom(intent.ActionAllow, 3307, 3307),
		}},
		{Name: "db-deny", Priority: 3, AppliesTo: intent.PolicyTarget{Groups: []string{"db"}}, Rules: []intent.PolicyRule{
			tcpFrom(intent.ActionDeny, 5000, 5001),
		}},
	}
	l := newSGLab(t, in)
	l.serve("db1", 22, 3306, 3307, 5000, 5001)
	l.serve("web1", 22, 8080)
	l.serve("web2", 8080)
	l.check([]sgProbe{
		{"admin", "web1", false, 22, testbed.OK},         // pass: the groups allow it
		{"admin", "web1", false, 8080, testbed.TimedOut}, // deny beats group web
		{"admin", "web2", false, 8080, testbed.OK},       // no policy for web2
		{"admin", "web1", true, 8080, testbed.OK},        // the deny is IPv4 only
		{"admin", "db1", false, 3307, testbed.OK},        // allow: no group allows 3307
		{"admin", "db1", false, 5000, testbed.OK},        // priority 2 allows before 3 denies
		{"admin", "db1", false, 5001, testbed.TimedOut},  // only priority 3 matches
		{"admin", "db1", false, 22, testbed.OK},          // no policy matches: the groups
		{"web1", "db1", false, 3306, testbed.OK},
	})

	// Swapping the priorities swaps the verdict on 5000.
	in.Policies[1].Priority, in.Policies[2].Priority = 3, 2
	l.install(in)
	l.check([]sgProbe{{"admin", "db1", false, 5000, testbed.TimedOut}})
	in.Policies[1].Priority, in.Policies[2].Priority = 2, 3
	l.install(in)

	// A connection a policy allowed survives a change of the groups;
	// quarantine ends live sessions the groups allowed.
	viaPolicy := l.session("admin", "db1", 3307)
	viaGroup := l.session("admin", "db1", 22)
	dbToWeb := l.session("web1", "db1", 3306)
	db := in.SecurityGroup("db")
	db.Rules = append(db.Rules, intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoUDP, PortMin: 53, PortMax: 53})
	l.install(in)
	if !viaPolicy.Alive() || !viaGroup.Alive() {
		t.Fatalf("sessions died on a group change: policy-allowed alive=%v group-allowed alive=%v", viaPolicy.Alive(), viaGroup.Alive())
	}
	in.Policies = append(in.Policies, intent.Policy{Name: "quarantine", Priority: 0,
		AppliesTo: intent.PolicyTarget{Ports: []string{"db1"}}, Rules: []intent.PolicyRule{
			{Action: intent.ActionDeny, Match: intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtocolAny, RemoteCIDR: admin}},
		}})
	l.install(in)
	if viaGroup.Alive() {
		t.Error("admin -> db1:22 survived the quarantine of db1 from the admin network")
	}
	if viaPolicy.Alive() {
		t.Error("admin -> db1:3307 survived the quarantine (a higher deny than its allow)")
	}
	if !dbToWeb.Alive() {
		t.Error("web1 -> db1:3306 died although the quarantine is about the admin network")
	}
	l.check([]sgProbe{
		{"admin", "db1", false, 22, testbed.TimedOut},
		{"admin", "db1", false, 3307, testbed.TimedOut},
		{"web1", "db1", false, 3306, testbed.OK},
	})

	// Removing the quarantine lets new sessions in again.
	in.Policies = in.Policies[:len(in.Policies)-1]
	l.install(in)
	l.check([]sgProbe{{"admin", "db1", false, 22, testbed.OK}, {"admin", "db1", false, 3307, testbed.OK}})

	// Removing the allow ends the connections it allowed (no group
	// inherits them: their ct_label names the policy rule), and only
	// those.
	viaPolicy = l.session("admin", "db1", 3307)
	viaGroup = l.session("admin", "db1", 22)
	in.Policies[1].Rules = in.Policies[1].Rules[:1] // db-allow keeps 5000 only
	l.install(in)
	if viaPolicy.Alive() {
		t.Error("admin -> db1:3307 survived the removal of the allow rule that admitted it")
	}
	if !viaGroup.Alive() {
		t.Error("admin -> db1:22 died although nothing that allowed it changed")
	}
	l.check([]sgProbe{{"admin", "db1", false, 3307, testbed.TimedOut}})
}

// TestFloodWithPoliciesOnRealTrafficOnOVS: broadcast and multicast reach each
// receiver as its own policies say, in turn: a pass for one receiver does
// not leak into the next one's judgement (the flag is cleared when the
// pass's resubmit returns), a deny keeps a receiver out whatever its
// group allows, and an allow lets a receiver in whom no group admits.
func TestFloodWithPoliciesOnRealTrafficOnOVS(t *testing.T) {
	in := floodLabIntent()
	udp := func(a intent.PolicyAction, dir intent.Direction, et intent.EtherType, lo, hi uint16) intent.PolicyRule {
		return intent.PolicyRule{Action: a, Match: intent.Rule{Direction: dir, EtherType: et, Protocol: intent.ProtoUDP, PortMin: lo, PortMax: hi}}
	}
	in.Policies = []intent.Policy{
		// Everyone passes UDP to the groups, sender and receivers.
		{Name: "pass-all", Priority: 9, AppliesTo: intent.PolicyTarget{All: true}, Rules: []intent.PolicyRule{
			udp(intent.ActionPass, intent.Ingress, intent.IPv4, 0, 0), udp(intent.ActionPass, intent.Ingress, intent.IPv6, 0, 0),
			udp(intent.ActionPass, intent.Egress, intent.IPv4, 0, 0), udp(intent.ActionPass, intent.Egress, intent.IPv6, 0, 0),
		}},
		// b (port order before c and d) denies udp/5001, c allows 5001-5002.
		{Name: "b", Priority: 1, AppliesTo: intent.PolicyTarget{Ports: []string{"b"}}, Rules: []intent.PolicyRule{
			udp(intent.ActionDeny, intent.Ingress, intent.IPv4, 5001, 5001), udp(intent.ActionDeny, intent.Ingress, intent.IPv6, 5001, 5001),
		}},
		{Name: "c", Priority: 2, AppliesTo: intent.PolicyTarget{Ports: []string{"c"}}, Rules: []intent.PolicyRule{
			udp(intent.ActionAllow, intent.Ingress, intent.IPv4, 5001, 5002), udp(intent.ActionAllow, intent.Ingress, intent.IPv6, 5001, 5002),
		}},
	}
	l := newSGLab(t, in)
	got := sendFloods(t, l, "a", []string{"b", "c", "d"})
	for key, received := range got {
		want := key.host != "b" || key.what == "IPv4 multicast" // b refuses only udp/5001
		if received != want {
			t.Errorf("%s received a's %s: %v, want %v", key.host, key.what, received, want)
		}
	}
}
