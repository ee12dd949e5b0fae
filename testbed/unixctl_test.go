package testbed

import (
	"context"
	"strings"
	"testing"
)

// unixctl and ovs-appctl must give the same answers, errors included.
func TestUnixctlAgreesWithAppctlOnOVS(t *testing.T) {
	t.Parallel()
	o := NewOVS(t)
	ctx := context.Background()
	for _, argv := range [][]string{{"version"}, {"ovs/route/show"}, {"dpif/show"}} {
		want, err := o.Appctl(ctx, argv...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := o.unixctl(ctx, argv[0], argv[1:]...)
		if err != nil || got != want {
			t.Errorf("unixctl %v = %q, %v; ovs-appctl says %q", argv, got, err, want)
		}
	}
	if _, err := o.unixctl(ctx, "no/such/command"); err == nil || !strings.Contains(err.Error(), "is not a valid command") {
		t.Errorf("unixctl no/such/command: %v, want OVS's refusal", err)
	}
	if _, err := o.unixctl(ctx, "tnl/arp/set", "br0"); err == nil {
		t.Error("unixctl tnl/arp/set with one argument of three succeeded")
	}
}
