package main

import (
	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/inspect"
)

func init() { rootCmd.AddCommand(newFlowsCmd()) }

func newFlowsCmd() *cobra.Command {
	var f inspect.FlowFilter
	cmd := &cobra.Command{
		Use:   "flows [--group G] [--policy P] [--port P] [--table T]",
		Short: "Installed flows with the intent object behind each, and per-rule counters",
		Long: `flows dumps the bridge's flows with their counters, table by table, each
under the object its cookie names in intent terms (a port, a security
group, one of its rules, a router), then the packets and bytes of every
security-group rule and admin policy rule summed over its flows.

--group, --policy, --port and --table narrow the list; they combine. --port selects
the port's own flows and every flow matching its OpenFlow port as in_port,
source (reg0) or destination (reg1), such as its rules' clauses.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, _, err := takeSnapshot(cmd)
			if err != nil {
				return err
			}
			return snap.WriteFlows(cmd.OutOrStdout(), f)
		},
	}
	cmd.Flags().StringVar(&f.Group, "group", "", "only the flows of this security group and its rules")
	cmd.Flags().StringVar(&f.Port, "port", "", "only the flows of this port")
	cmd.Flags().StringVar(&f.Table, "table", "", "only this table: a number or a name (60 or ingress_acl)")
	cmd.Flags().StringVar(&f.Policy, "policy", "", "only the flows of this admin policy's rules")
	addSettingsFlags(cmd, inspectKeys...)
	return cmd
}
