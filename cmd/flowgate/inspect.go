package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/inspect"
	"github.com/flowgate/flowgate/intent"
)

// The inspection commands (flows, diff, trace) work without a running
// controller: they read the intent (the file, or etcd) and OVSDB's bindings, compile the
// desired flows themselves and read the installed ones from the bridge's
// management socket. They share the controller's settings (config file,
// FLOWGATE_* environment), so on a host where the controller runs they
// need no flags.

// inspectKeys are the settings the inspection commands read.
var inspectKeys = append([]string{"ovsdb", "bridge", "intent", "ovs_rundir"}, storeKeys...)

// inspectTimeout bounds the OVSDB and OpenFlow reads of one command.
const inspectTimeout = 30 * time.Second

// takeSnapshot reads the intent (the file, or etcd when store is set),
// the bindings and the installed flows. It also names the intent's
// source: file:PATH [-> TARGET] or etcd://HOSTS/PREFIX revision N.
func takeSnapshot(cmd *cobra.Command) (*inspect.Snapshot, string, error) {
	st, err := loadSettings(cmd)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), inspectTimeout)
	defer cancel()
	src := inspect.Source{OVSDB: st.OVSDB, Bridge: st.Bridge, IntentPath: st.Intent, Rundir: st.OVSRundir}
	name := intent.Source(st.Intent)
	if st.Store != "" {
		if src.Intent, name, err = intentFromStore(ctx, st); err != nil {
			return nil, "", err
		}
		src.Name = name
	}
	snap, err := inspect.Take(ctx, src)
	return snap, name, err
}

// intentFromStore reads and validates the intent in etcd.
func intentFromStore(ctx context.Context, st settings) (*intent.Intent, string, error) {
	s, err := openStore(st, "")
	if err != nil {
		return nil, "", err
	}
	defer s.Close()
	snap, err := s.Read(ctx)
	if err != nil {
		return nil, "", err
	}
	name := fmt.Sprintf("%s revision %d", s, snap.Revision)
	if snap.Err != nil {
		return nil, "", fmt.Errorf("intent %s:\n%w", name, snap.Err)
	}
	in, err := intent.Parse(snap.Doc)
	if err != nil {
		return nil, "", fmt.Errorf("intent %s refused:\n%w", name, err)
	}
	return in, name, nil
}
