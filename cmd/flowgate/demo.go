package main

import (
	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/demo"
)

func init() { rootCmd.AddCommand(newDemoCmd()) }

func newDemoCmd() *cobra.Command {
	var intentPath string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the worked example on a private OVS with the controller, show who reaches whom, trace two connections",
		Long: `Brings up namespaces for web1, web2, db1 and the outside world on a private
Open vSwitch, runs the controller on examples/intent.yaml, probes ICMP,
tcp/22, tcp/8080 and tcp/3306 between them (through the router's NAT where
the example has it), flags every connection that is not what the intent
says, traces one allowed and one denied connection, and removes everything
on exit, on error and on Ctrl-C. Exits non-zero when anything differs.
Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := demo.Run(cmd.Context(), intentPath, cmd.OutOrStdout())
			return err
		},
	}
	cmd.Flags().StringVar(&intentPath, "intent", demo.Path(), "the worked example's intent (the demo's expectations are written for it)")
	return cmd
}
