package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/inspect"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/store"
)

// The inspection commands (flows, diff, trace) work without a running
// controller: they read the intent (the file, or etcd) and OVSDB's bindings, compile the
// desired flows themselves and read the installed ones from the bridge's
// management socket. They share the controller's settings (config file,
// FLOWGATE_* environment), so on a host where the controller runs they
// need no flags. On a host of an overlay (store and host set) they read
// the other hosts' port locations from the store too and compile them
// as the controller does (controller.OverlayOf).

// inspectKeys are the settings the inspection commands read.
var inspectKeys = append([]string{"ovsdb", "bridge", "intent", "ovs_rundir", "host"}, storeKeys...)

// inspectTimeout bounds the OVSDB and OpenFlow reads of one command.
const inspectTimeout = 30 * time.Second

// inspectInput is what an inspection command compiles besides the
// bindings: the intent, where it came from and, on a host of an overlay,
// where the ports bound on other hosts are.
type inspectInput struct {
	// intent is nil when it is the file st.Intent, which inspect.Take
	// loads itself.
	intent *intent.Intent
	// name is the intent's source: file:PATH [-> TARGET] or
	// etcd://HOSTS/PREFIX revision N.
	name    string
	overlay pipeline.Overlay
	// overlayLine describes the overlay for diff's output; "" on a lone
	// host.
	overlayLine string
}

// readInput reads the intent from etcd when the store setting names it,
// and with host set the ports' locations from the same store. Without a
// store the intent is the file; host then is an error, as for the
// controller (the locations live in the store).
func readInput(ctx context.Context, st settings) (inspectInput, error) {
	if st.Store == "" {
		if st.Host != "" {
			return inspectInput{}, fmt.Errorf("host %s: the overlay's port locations live in the store: give --store (or store in the config file) too, or no --host", st.Host)
		}
		return inspectInput{name: intent.Source(st.Intent)}, nil
	}
	s, err := openStore(st, "")
	if err != nil {
		return inspectInput{}, err
	}
	defer s.Close()
	in, name, err := intentFromStore(ctx, s)
	if err != nil {
		return inspectInput{}, err
	}
	res := inspectInput{intent: in, name: name}
	if st.Host == "" {
		return res, nil
	}
	locs, err := s.ReadLocations(ctx)
	if err != nil {
		return inspectInput{}, fmt.Errorf("overlay of host %s: the other hosts' port locations: %w", st.Host, err)
	}
	res.overlay = controller.OverlayOf(locs, st.Host)
	res.overlayLine = overlayLine(st.Host, res.overlay, locs)
	return res, nil
}

// overlayLine says what the overlay holds: "overlay: host hv1, 2 ports
// bound on other hosts (hv2, hv3), locations at etcd revision N", and on
// lines of their own the ports several hosts claim and the location keys
// left out.
func overlayLine(host string, ov pipeline.Overlay, locs store.Locations) string {
	hosts := "none"
	if len(ov.Hosts) > 0 {
		hosts = strings.Join(slices.Sorted(maps.Keys(ov.Hosts)), ", ")
	}
	line := fmt.Sprintf("overlay: host %s, %d ports bound on other hosts (%s), locations at etcd revision %d",
		host, len(ov.Remote), hosts, locs.Revision)
	for _, port := range slices.Sorted(maps.Keys(locs.Contested)) {
		line += fmt.Sprintf("\noverlay: port %s is claimed by %s (newest, in force) and also by %s",
			port, locs.Ports[port].Host, strings.Join(locs.Contested[port], ", "))
	}
	for _, err := range locs.Ignored {
		line += "\noverlay: ignored: " + err.Error()
	}
	return line
}

// takeSnapshot reads the intent (the file, or etcd when store is set),
// the bindings and the installed flows, with the overlay on a host of
// one.
func takeSnapshot(cmd *cobra.Command) (*inspect.Snapshot, inspectInput, error) {
	st, err := loadSettings(cmd)
	if err != nil {
		return nil, inspectInput{}, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), inspectTimeout)
	defer cancel()
	input, err := readInput(ctx, st)
	if err != nil {
		return nil, inspectInput{}, err
	}
	snap, err := inspect.Take(ctx, inspect.Source{OVSDB: st.OVSDB, Bridge: st.Bridge, IntentPath: st.Intent, Rundir: st.OVSRundir,
		Intent: input.intent, Name: input.name, Overlay: input.overlay})
	return snap, input, err
}

// intentFromStore reads and validates the intent in etcd.
func intentFromStore(ctx context.Context, s *store.Store) (*intent.Intent, string, error) {
	snap, err := s.Read(ctx)
	if err != nil {
		return nil, "", err
	}
	name := fmt.Sprintf("%s revision %d", s, snap.Revision)
	if snap.Err != nil {
		return nil, "", fmt.Errorf("intent %s:\n%w", name, snap.Err)
	}
	in, err := snap.Intent()
	if err != nil {
		return nil, "", fmt.Errorf("intent %s refused:\n%w", name, err)
	}
	return in, name, nil
}
