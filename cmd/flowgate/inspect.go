package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/inspect"
)

func init() {
	rootCmd.AddCommand(newFlowsCmd(), newDiffCmd(), newTraceCmd())
}

// inspectKeys are the settings the inspection commands read; they share
// the controller's config file and environment.
var inspectKeys = []string{"ovsdb", "bridge", "intent", "ovs_rundir"}

// errDiffers makes `flowgate diff` exit 1, like diff(1), without an error
// message of its own.
var errDiffers = errors.New("desired and installed flows differ")

func snapshot(cmd *cobra.Command) (*inspect.Snapshot, settings, error) {
	st, err := loadSettings(cmd)
	if err != nil {
		return nil, st, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	snap, err := inspect.Take(ctx, inspect.Source{OVSDB: st.OVSDB, Bridge: st.Bridge, IntentPath: st.Intent, Rundir: st.OVSRundir})
	return snap, st, err
}

func newFlowsCmd() *cobra.Command {
	var f inspect.FlowFilter
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Installed flows with the intent object behind each, and per-rule counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, _, err := snapshot(cmd)
			if err != nil {
				return err
			}
			return snap.WriteFlows(cmd.OutOrStdout(), f)
		},
	}
	cmd.Flags().StringVar(&f.Group, "group", "", "only the flows of this security group and its rules")
	cmd.Flags().StringVar(&f.Port, "port", "", "only the flows of this port")
	cmd.Flags().StringVar(&f.Table, "table", "", "only this table (number or name, e.g. 60 or ingress_acl)")
	addSettingsFlags(cmd, inspectKeys...)
	return cmd
}

func newDiffCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Desired flows (intent + bindings) against installed ones; exit status 1 if they differ",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, _, err := snapshot(cmd)
			if err != nil {
				return err
			}
			if snap.WriteDiff(cmd.OutOrStdout()) {
				return errDiffers
			}
			return nil
		},
	}
	addSettingsFlags(cmd, inspectKeys...)
	return cmd
}

func newTraceCmd() *cobra.Command {
	var req inspect.TraceRequest
	var to string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trace --from PORT --to IP --proto tcp --dport N",
		Short: "Trace a packet through the pipeline (ofproto/trace) and name the rule that decides it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := netip.ParseAddr(to)
			if err != nil {
				return fmt.Errorf("--to %q: %v", to, err)
			}
			snap, st, err := snapshot(cmd)
			if err != nil {
				return err
			}
			req.Intent, req.Bindings, req.To, req.Rundir = snap.Intent, snap.Bindings, addr, st.OVSRundir
			req.Bridge = st.Bridge
			res, err := inspect.Trace(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprint(cmd.OutOrStdout(), res)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.From, "from", "", "intent port the packet comes from")
	cmd.Flags().StringVar(&to, "to", "", "destination address")
	cmd.Flags().StringVar(&req.Proto, "proto", "tcp", "tcp, udp, icmp or icmp6")
	cmd.Flags().Uint16Var(&req.DPort, "dport", 0, "destination port (tcp, udp)")
	cmd.Flags().Uint16Var(&req.SPort, "sport", 40000, "source port (tcp, udp)")
	cmd.Flags().StringVar(&req.State, "state", "new", "connection state: new (first packet) or est")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	addSettingsFlags(cmd, inspectKeys...)
	return cmd
}
