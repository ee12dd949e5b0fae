package inspect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/pipeline"
)

// Source says where a snapshot comes from: the same settings the
// controller runs with.
type Source struct {
	OVSDB, Bridge, IntentPath, Rundir string
	// Intent, when set, is compiled instead of the file at IntentPath:
	// an intent read from etcd. Name says where it came from.
	Intent *intent.Intent
	Name   string
	// Overlay, on a host of an overlay, says where the ports bound on
	// other hosts are (controller.OverlayOf of the store's locations):
	// the controller compiles their flows too. Zero: a lone host.
	Overlay pipeline.Overlay
}

// Snapshot is the intent, the port bindings, what they compile to and
// what the switch holds, read at one moment without a controller.
type Snapshot struct {
	Intent    *intent.Intent
	namer     *pipeline.CookieNamer // names the cookies of Intent's flows
	Bindings  pipeline.Bindings
	Desired   []flows.Flow
	Installed []flows.Flow
	Stats     []flows.FlowStats // Stats[i] belongs to Installed[i]
	// Overlay is the overlay Desired was compiled with (zero on a lone
	// host).
	Overlay pipeline.Overlay
}

// Take reads a snapshot: the intent (the file, or Source.Intent), the bindings from OVSDB, and the
// installed flows over the bridge's management socket (no controller
// target is needed and the controller's own connection is not disturbed).
func Take(ctx context.Context, src Source) (*Snapshot, error) {
	in, name := src.Intent, src.Name
	if in == nil {
		var err error
		if in, err = intent.Load(src.IntentPath); err != nil {
			return nil, err
		}
		name = src.IntentPath
	}
	bridge := src.Bridge
	if bridge == "" {
		bridge = in.Bridge
	}
	b, err := ReadBindings(ctx, src.OVSDB, bridge)
	if err != nil {
		return nil, err
	}
	installed, stats, err := dump(ctx, bridge, src.Rundir)
	if err != nil {
		return nil, err
	}
	return newSnapshot(in, name, b, installed, stats, src.Overlay)
}

// newSnapshot compiles in as the controller does, with the bindings, the
// next hops the installed flows hold and the overlay.
func newSnapshot(in *intent.Intent, name string, b pipeline.Bindings, installed []flows.Flow, stats []flows.FlowStats, ov pipeline.Overlay) (*Snapshot, error) {
	// Next hops the controller learned are not in the intent: the
	// switch holds them, in the routers' default routes.
	desired, err := pipeline.CompileOverlay(in, b, pipeline.InstalledNextHops(in, b, installed), ov)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	return &Snapshot{Intent: in, namer: pipeline.NewCookieNamer(in), Bindings: b, Desired: desired,
		Installed: installed, Stats: stats, Overlay: ov}, nil
}

// ReadBindings returns the ports OVSDB has bound on bridge: iface-id ->
// ofport, for every Interface with external_ids:iface-id and an ofport.
func ReadBindings(ctx context.Context, endpoint, bridge string) (pipeline.Bindings, error) {
	db, err := ovsdb.Connect(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("bindings of %s: %w", bridge, err)
	}
	defer db.Close()
	list, err := db.Bindings(bridge)
	if err != nil {
		return nil, err
	}
	return pipeline.Bindings(ovsdb.OFPorts(list)), nil
}

// dump reads the installed flows and their counters over the bridge's
// management socket.
func dump(ctx context.Context, bridge, rundir string) ([]flows.Flow, []flows.FlowStats, error) {
	// The session would keep redialling a socket that is not there until
	// ctx ends; a missing one is a wrong bridge or run directory.
	sock := filepath.Join(rundir, bridge+".mgmt")
	if _, err := os.Stat(sock); err != nil {
		return nil, nil, fmt.Errorf("bridge %s: no management socket (is the bridge on the ovs-vswitchd of run directory %s?): %w", bridge, rundir, err)
	}
	s, err := openflow.NewSession(openflow.SessionConfig{Bridge: bridge, Dial: "unix:" + sock})
	if err != nil {
		return nil, nil, fmt.Errorf("bridge %s: %w", bridge, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(sctx); close(done) }()
	defer func() { cancel(); <-done }()
	return s.DumpFlows(ctx)
}
