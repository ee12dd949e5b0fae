package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newDiffCmd()) }

// errDiffers makes `flowgate diff` exit 1, like diff(1), without an error
// message of its own: the difference is the output.
var errDiffers = errors.New("desired and installed flows differ")

func newDiffCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Desired flows (intent + bindings) against installed ones; exit status 1 if they differ",
		Long: `diff compiles the intent with the ports OVSDB has bound and compares the
result with the bridge's flows:

  + flow   the bridge lacks it
  ~ flow   the bridge holds it with other actions (shown as desired,
           then "# installed: actions=...")
  - flow   the bridge holds it and the intent does not

each followed by the object behind its cookie, then a summary line
starting "in sync:" or "differ:", and the line "intent source: file:PATH"
(with " -> TARGET" when PATH is a symlink) naming the file compiled, or
"intent source: etcd://HOSTS/PREFIX revision N" when the store setting
names etcd (then the intent is read from there, as the controller does),
and one line "intent warning: PATH: REASON" per warning of the intent
(valid, but probably not meant: a policy rule that never matches).

On a host of an overlay (store and host set, as for the controller) the
ports bound on other hosts, read from the store's locations, are
compiled too, as the controller compiles them, and a line "overlay: host
NAME, N ports bound on other hosts (...), locations at etcd revision R"
follows the source.

Exit status, like diff(1): 0 when the bridge holds exactly the desired
flows, 1 when they differ. An error (unreadable intent, OVSDB or bridge
unreachable) also exits 1, with the error on stderr and no summary line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, input, err := takeSnapshot(cmd)
			if err != nil {
				return err
			}
			differs := snap.WriteDiff(cmd.OutOrStdout())
			// The intent has one source (the API writes through to it):
			// say which file, and where its symlinks lead, or which
			// etcd and revision.
			fmt.Fprintf(cmd.OutOrStdout(), "intent source: %s\n", input.name)
			if input.overlayLine != "" {
				fmt.Fprintln(cmd.OutOrStdout(), input.overlayLine)
			}
			for _, w := range snap.Intent.Warnings {
				fmt.Fprintf(cmd.OutOrStdout(), "intent warning: %s\n", w)
			}
			if differs {
				return errDiffers
			}
			return nil
		},
	}
	addSettingsFlags(cmd, inspectKeys...)
	return cmd
}
