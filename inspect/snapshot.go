package inspect

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/pipeline"
)

// Source says where a snapshot comes from: the same settings the
// controller runs with.
type Source struct {
	OVSDB, Bridge, IntentPath, Rundir string
}

// Snapshot is the intent, the port bindings, what they compile to and
// what the switch holds, read at one moment without a controller.
type Snapshot struct {
	Intent    *intent.Intent
	Bindings  pipeline.Bindings
	Desired   []flows.Flow
	Installed []flows.Flow
	Stats     []flows.FlowStats // Stats[i] belongs to Installed[i]
}

// Take reads a snapshot: the intent file, the bindings from OVSDB, and the
// installed flows over the bridge's management socket (no controller
// target is needed and the controller's own connection is not disturbed).
func Take(ctx context.Context, src Source) (*Snapshot, error) {
	in, err := intent.Load(src.IntentPath)
	if err != nil {
		return nil, err
	}
	bridge := src.Bridge
	if bridge == "" {
		bridge = in.Bridge
	}
	db, err := ovsdb.Connect(ctx, src.OVSDB)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := db.WatchBindings(wctx, bridge)
	if err != nil {
		return nil, err
	}
	var list []ovsdb.Binding
	select {
	case list = <-stream:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b := pipeline.Bindings{}
	for _, bd := range list {
		if bd.OFPort > 0 {
			b[bd.IfaceID] = uint32(bd.OFPort)
		}
	}
	desired, err := pipeline.Compile(in, b)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", src.IntentPath, err)
	}
	installed, stats, err := dump(ctx, bridge, src.Rundir)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Intent: in, Bindings: b, Desired: desired, Installed: installed, Stats: stats}, nil
}

func dump(ctx context.Context, bridge, rundir string) ([]flows.Flow, []flows.FlowStats, error) {
	s, err := flows.NewSession(flows.SessionConfig{Bridge: bridge, Dial: "unix:" + filepath.Join(rundir, bridge+".mgmt")})
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(sctx); close(done) }()
	defer func() { cancel(); <-done }()
	return s.DumpFlows(ctx)
}
