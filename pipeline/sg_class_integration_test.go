package pipeline

import (
	"slices"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/testbed"
)

// A rule class on real traffic: db allows 3306 and 5432 from both group
// web and the admin network (four rules, one class {admin, group web} ×
// {3306, 5432}), and ssh from the admin network (a class of its own).
// A port leaving group web loses only its own connections; removing one
// rule of the class ends the class's connections (they reconnect if a
// rule still allows them) and leaves other classes' alone.
func TestRuleClassOnOVS(t *testing.T) {
	mergeSmallClasses(t)
	in := sgLabIntent()
	db := in.SecurityGroup("db")
	admin := db.Rules[2].RemoteCIDR // ingress tcp/22 from the admin network
	var class []intent.Rule
	for _, port := range []uint16{3306, 5432} {
		fromWeb := intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP,
			PortMin: port, PortMax: port, RemoteGroup: "web"}
		fromAdmin := fromWeb
		fromAdmin.RemoteGroup, fromAdmin.RemoteCIDR = "", admin
		class = append(class, fromWeb, fromAdmin)
	}
	db.Rules = append(class, db.Rules[1:]...) // replaces v4 3306 from group web
	classes := ruleClasses(db)
	if got := classes[0].text(); len(classes[0].rules) != 4 || got != "ingress tcp/3306,5432 from 203.0.113.0/24,group web" {
		t.Fatalf("the four rules do not form one class: %q (rules %v)", got, classes[0].rules)
	}

	l := newSGLab(t, in)
	l.serve("db1", 3306, 5432, 22)
	l.check([]sgProbe{
		{"web1", "db1", false, 5432, testbed.OK},
		{"admin", "db1", false, 5432, testbed.OK},
		{"admin", "db1", false, 3306, testbed.OK},
		{"web1", "db1", false, 22, testbed.TimedOut},
	})

	adminDB := l.session("admin", "db1", 3306)
	web1DB := l.session("web1", "db1", 5432)
	web2DB := l.session("web2", "db1", 3306)
	adminSSH := l.session("admin", "db1", 22)

	// web1 leaves group web: the class's remote check ends its connection
	// only; the admin network is a CIDR of the same class and stays.
	in.SecurityGroups = append(in.SecurityGroups, intent.SecurityGroup{Name: "other", Stateful: true,
		Rules: in.SecurityGroup("admin").Rules})
	in.Port("web1").SecurityGroups = []string{"other"}
	l.install(in)
	if web1DB.Alive() {
		t.Error("web1 -> db1:5432 survived web1 leaving group web")
	}
	for name, s := range map[string]*testbed.Session{"web2 -> db1:3306": web2DB, "admin -> db1:3306": adminDB, "admin -> db1:22": adminSSH} {
		if !s.Alive() {
			t.Errorf("%s died when web1 left group web", name)
		}
	}

	// Removing "5432 from admin" splits the class: its connections end,
	// even those another rule still allows (the documented trade-off);
	// they reconnect, and only what was removed stays refused.
	db = in.SecurityGroup("db")
	db.Rules = slices.DeleteFunc(db.Rules, func(r intent.Rule) bool { return r.PortMin == 5432 && r.RemoteCIDR.IsValid() })
	l.install(in)
	for name, s := range map[string]*testbed.Session{"admin -> db1:3306": adminDB, "web2 -> db1:3306": web2DB} {
		if s.Alive() {
			t.Errorf("%s survived the removal of a rule of its class", name)
		}
	}
	if !adminSSH.Alive() {
		t.Error("admin -> db1:22 died although its class did not change")
	}
	l.check([]sgProbe{
		{"admin", "db1", false, 3306, testbed.OK},
		{"web2", "db1", false, 3306, testbed.OK},
		{"web2", "db1", false, 5432, testbed.OK},
		{"admin", "db1", false, 5432, testbed.TimedOut},
	})
}
