package inspect

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/labinstall"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/testbed"
)

// workedExample is the repository's worked example, the file operators
// start from.
const workedExample = "../examples/intent.yaml"

// lab is the worked example on a private OVS with its compiled flows
// installed the way an operator would, with `ovs-ofctl --bundle
// replace-flows`: no controller runs, as when an operator inspects a
// bridge whose controller is down.
type lab struct {
	t      *testing.T
	tb     *testbed.Testbed
	intent *intent.Intent
	src    Source
}

func newLab(t *testing.T) *lab {
	t.Helper()
	testbed.RequireRoot(t)
	ctx := context.Background()
	in, err := intent.Load(workedExample)
	if err != nil {
		t.Fatal(err)
	}
	tb := testbed.New(t, testbed.Options{})
	sw, err := tb.AddSwitch(ctx, in.Bridge, testbed.SwitchOpts{Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	// Ports are bound by iface-id, which testbed sets to the host's name;
	// the uplink is the router's external port (its host plays the
	// upstream router).
	var hosts []testbed.HostOpts
	var names []string
	for _, p := range in.Ports {
		cidr := in.Network(p.Network).CIDR
		hosts = append(hosts, testbed.HostOpts{MAC: net.HardwareAddr(p.MAC[:]), IPv4: netip.PrefixFrom(p.IPs[0], cidr.Bits())})
		names = append(names, p.Name)
	}
	ext := in.Routers[0].External
	hosts = append(hosts, testbed.HostOpts{MAC: net.HardwareAddr(ext.GatewayMAC[:])})
	names = append(names, ext.Port)
	for i, opts := range hosts {
		opts.OFPort = uint32(i + 1)
		h, err := tb.AddHost(ctx, names[i], opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			t.Fatal(err)
		}
	}
	l := &lab{t: t, tb: tb, intent: in, src: Source{OVSDB: tb.OVS().DBEndpoint(), Bridge: in.Bridge,
		IntentPath: workedExample, Rundir: tb.OVS().Dir}}
	l.install()
	return l
}

// bindings are the ofports the lab requested, as OVSDB reports them.
func (l *lab) bindings() pipeline.Bindings {
	b := pipeline.Bindings{}
	for _, h := range l.tb.Hosts() {
		b[h.Name()] = h.OFPort()
	}
	return b
}

// install replaces the bridge's flows with the compiled intent in one
// bundle, its meters and groups around it, as the controller would.
func (l *lab) install() {
	l.t.Helper()
	fs, err := pipeline.Compile(l.intent, l.bindings())
	if err != nil {
		l.t.Fatal(err)
	}
	var meters []labinstall.Meter
	for _, m := range pipeline.PortMeters(l.intent, l.bindings()) {
		meters = append(meters, labinstall.Meter{ID: m.ID, Kbps: m.Kbps, BurstKb: m.BurstKb})
	}
	if err := labinstall.Apply(context.Background(), l.tb.OVS().Ofctl, l.intent.Bridge, fs, meters,
		pipeline.ServiceGroups(l.intent, l.bindings())); err != nil {
		l.t.Fatal(err)
	}
}

// trace runs Trace on the lab.
func (l *lab) trace(req TraceRequest) *TraceResult {
	l.t.Helper()
	req.Intent, req.Bindings, req.Bridge, req.Rundir = l.intent, l.bindings(), l.intent.Bridge, l.tb.OVS().Dir
	res, err := Trace(context.Background(), req)
	if err != nil {
		l.t.Fatal(err)
	}
	return res
}
