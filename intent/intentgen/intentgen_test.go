package intentgen

import (
	"reflect"
	"testing"
)

func TestDefaultScenarioValidates(t *testing.T) {
	in, err := Intent(Params{})
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	for _, g := range in.SecurityGroups {
		rules += len(g.Rules)
	}
	if len(in.Ports) != 1000 || len(in.SecurityGroups) != 100 || rules != 10100 {
		t.Fatalf("got %d ports, %d groups, %d rules; want 1000, 100, 10100", len(in.Ports), len(in.SecurityGroups), rules)
	}
	var remoteGroup, cidr, ranges int
	for _, g := range in.SecurityGroups {
		for _, r := range g.Rules {
			switch {
			case r.RemoteGroup != "":
				remoteGroup++
			case r.RemoteCIDR.IsValid():
				cidr++
			}
			if r.PortMin != r.PortMax {
				ranges++
			}
		}
	}
	t.Logf("remote group %d, cidr %d, any %d, ranges %d", remoteGroup, cidr, rules-remoteGroup-cidr, ranges)
	if remoteGroup < 2700 || remoteGroup > 3300 || cidr < 5700 || cidr > 6400 {
		t.Errorf("mix off: %d remote-group, %d CIDR rules", remoteGroup, cidr)
	}
}

func TestDeterministic(t *testing.T) {
	if !reflect.DeepEqual(Document(Params{Ports: 50, Groups: 5, Rules: 100}), Document(Params{Ports: 50, Groups: 5, Rules: 100})) {
		t.Fatal("same params gave different documents")
	}
}
