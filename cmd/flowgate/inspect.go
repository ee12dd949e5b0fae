package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/inspect"
)

// The inspection commands (flows, diff, trace) work without a running
// controller: they read the intent file and OVSDB's bindings, compile the
// desired flows themselves and read the installed ones from the bridge's
// management socket. They share the controller's settings (config file,
// FLOWGATE_* environment), so on a host where the controller runs they
// need no flags.

// inspectKeys are the settings the inspection commands read.
var inspectKeys = []string{"ovsdb", "bridge", "intent", "ovs_rundir"}

// inspectTimeout bounds the OVSDB and OpenFlow reads of one command.
const inspectTimeout = 30 * time.Second

// takeSnapshot reads the intent, the bindings and the installed flows.
func takeSnapshot(cmd *cobra.Command) (*inspect.Snapshot, settings, error) {
	st, err := loadSettings(cmd)
	if err != nil {
		return nil, st, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), inspectTimeout)
	defer cancel()
	snap, err := inspect.Take(ctx, inspect.Source{OVSDB: st.OVSDB, Bridge: st.Bridge, IntentPath: st.Intent, Rundir: st.OVSRundir})
	return snap, st, err
}
