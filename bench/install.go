package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/testbed"
)

// installTimeout bounds the one bundle that installs the example.
const installTimeout = 30 * time.Second

// installWorkedExample compiles the intent at path with the testbed's
// bindings of its ports and installs the flows on the flowgate bridge the
// way the controller does (openflow.Session over the bridge's management
// socket, openflow.Syncer, one bundle). The session then ends: the bridge is
// fail_mode=secure, so the flows stay and no controller runs while traffic
// is measured. It returns how many flows were installed.
func installWorkedExample(ctx context.Context, tb *testbed.Testbed, path string) (int, error) {
	in, err := intent.Load(path)
	if err != nil {
		return 0, err
	}
	// Every host on the flowgate bridge is a port of the example (the
	// uplink is the router's external port), bound as the controller
	// would bind it from OVSDB.
	b := pipeline.Bindings{}
	for _, h := range tb.Hosts() {
		if h.SwitchName() == flowgateBridge {
			b[h.Name()] = h.OFPort()
		}
	}
	for _, name := range []string{clientPort, serverPort} {
		if !slices.ContainsFunc(in.Ports, func(p intent.Port) bool { return p.Name == name }) {
			return 0, fmt.Errorf("intent %s has no port %s: the datapath bench measures %s -> %s:%d of the worked example",
				path, name, clientPort, serverPort, allowedPort)
		}
	}
	fs, err := pipeline.Compile(in, b)
	if err != nil {
		return 0, fmt.Errorf("compile %s: %w", path, err)
	}

	s, err := openflow.NewSession(openflow.SessionConfig{Bridge: flowgateBridge, Dial: "unix:" + tb.OVS().MgmtSocket(flowgateBridge)})
	if err != nil {
		return 0, err
	}
	y := openflow.NewSyncer(s, nil)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(rctx) })
	wg.Go(func() { _ = y.Run(rctx) })
	defer func() { cancel(); wg.Wait() }()

	ictx, icancel := context.WithTimeout(ctx, installTimeout)
	defer icancel()
	// Meters and groups first, as the controller sends them: the flows
	// use them (the session sends them again when it connects).
	meters := map[uint32]openflow.MeterSpec{}
	for _, m := range pipeline.PortMeters(in, b) {
		meters[m.ID] = openflow.MeterSpec{Kbps: m.Kbps, BurstKb: m.BurstKb}
	}
	groups := map[uint32]flows.GroupDesc{}
	for _, g := range pipeline.ServiceGroups(in, b) {
		groups[g.ID] = g
	}
	if err := s.SetMeters(ictx, meters); err != nil {
		return 0, fmt.Errorf("meters of the worked example: %w", err)
	}
	if err := s.SetGroups(ictx, groups); err != nil {
		return 0, fmt.Errorf("groups of the worked example: %w", err)
	}
	ch, err := y.SetDesired(ictx, fs)
	if err != nil {
		return 0, fmt.Errorf("install the worked example on %s: %w", flowgateBridge, err)
	}
	if ch.Added != len(fs) {
		return 0, errors.New("install the worked example: the bridge was not empty")
	}
	return len(fs), nil
}
