// Command flowgate programs Open vSwitch so that security groups, NAT and
// load balancing run in the datapath with conntrack, and brings up
// namespace testbeds to watch it work.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// rootCmd is the flowgate command. Every subcommand lives in a file of its
// own and registers itself from an init function:
//
//	func init() { rootCmd.AddCommand(newTestbedCmd()) }
var rootCmd = &cobra.Command{
	Use:   "flowgate",
	Short: "Security groups and NAT in the Open vSwitch datapath",
	Long: `flowgate compiles a declarative description of ports, security groups,
routers with NAT and load-balanced services into OpenFlow tables that use
conntrack, and keeps an Open vSwitch bridge programmed with them.`,
	// A failing command prints its error, not the usage text.
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	// Ctrl-C cancels the command's context, so a half-built testbed or a
	// running controller can clean up before exiting.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	if errors.Is(err, errDiffers) {
		os.Exit(1) // flowgate diff printed the difference
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowgate:", err)
		os.Exit(1)
	}
}
