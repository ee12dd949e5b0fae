package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/inspect"
	"github.com/flowgate/flowgate/intent"
)

func init() { rootCmd.AddCommand(newTraceCmd()) }

func newTraceCmd() *cobra.Command {
	var req inspect.TraceRequest
	var to, src string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trace --from PORT --to IP --proto tcp|udp|icmp|icmp6 [--dport N] [--sport N] [--state new|est|reply]",
		Short: "Trace a packet through the pipeline (ofproto/trace) and name the rule that decides it",
		Long: `trace builds the packet a port would send (in_port from its binding, its
MAC and first address of the destination's family, the destination
port's MAC on the same network or the router's gateway MAC otherwise),
runs ovs-appctl ofproto/trace on it following every ct() recirculation,
and prints the tables it crossed with the object behind each flow and
the verdict, e.g.

  verdict: allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)
  verdict: dropped: no rule of db allows tcp/22 from 10.0.0.11

--from may also be a router's uplink port; --src then gives the outside
machine's address. --state est traces a packet of an established
connection: the connection is the one its own first packet opens, or,
if that one is refused, the one the reverse packet opens (the packet is
then its reply); --state reply asks for the reply. The connection's
ct_label is taken from the trace of its first packet.

On a host of an overlay (store and host set, as for the controller) the
ports bound on other hosts are read from the store's locations; a packet
that leaves through the tunnel is allowed by the sender's rules here and
the verdict names where it goes, e.g. ", then to db1 on hv3
(192.168.100.13) through the tunnel, whose host judges db1's ingress
rules". The intent is read from etcd when store is set, as by diff.

ofproto/trace applies the translation of ct(commit,nat(...)) but not
that of an established connection (ct(nat) without arguments); a "note:"
line says so when it matters. The exit status is 0 whatever the
verdict; --json prints the result with "allowed" for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if req.To, err = netip.ParseAddr(to); err != nil {
				return fmt.Errorf("--to %q: %w", to, err)
			}
			if src != "" {
				if req.Src, err = netip.ParseAddr(src); err != nil {
					return fmt.Errorf("--src %q: %w", src, err)
				}
			}
			st, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), inspectTimeout)
			defer cancel()
			input, err := readInput(ctx, st)
			if err != nil {
				return err
			}
			if req.Intent = input.intent; req.Intent == nil {
				if req.Intent, err = intent.Load(st.Intent); err != nil {
					return err
				}
			}
			req.Overlay = input.overlay
			if req.Bindings, err = inspect.ReadBindings(ctx, st.OVSDB, st.Bridge); err != nil {
				return err
			}
			req.Bridge, req.Rundir = st.Bridge, st.OVSRundir
			res, err := inspect.Trace(ctx, req)
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
	cmd.Flags().StringVar(&req.From, "from", "", "intent port (or router uplink port) the packet comes from")
	cmd.Flags().StringVar(&src, "src", "", "source address: required from an uplink; from a port its own address by default")
	cmd.Flags().StringVar(&to, "to", "", "destination address")
	cmd.Flags().StringVar(&req.Proto, "proto", "tcp", "tcp, udp, icmp or icmp6")
	cmd.Flags().Uint16Var(&req.DPort, "dport", 0, "destination port (tcp, udp)")
	cmd.Flags().Uint16Var(&req.SPort, "sport", 40000, "source port (tcp, udp)")
	cmd.Flags().StringVar(&req.State, "state", "new", "new (a connection's first packet), est (a packet of an established connection) or reply")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	addSettingsFlags(cmd, inspectKeys...)
	return cmd
}
