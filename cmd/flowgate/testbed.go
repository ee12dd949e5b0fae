package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/testbed"
)

func init() { rootCmd.AddCommand(newTestbedCmd()) }

// defaultStateFile records the running testbed between invocations. /run
// is a tmpfs, so a reboot (which ends the testbed) also forgets it.
const defaultStateFile = "/run/flowgate-testbed/state.json"

func newTestbedCmd() *cobra.Command {
	var stateFile string
	cmd := &cobra.Command{
		Use:   "testbed",
		Short: "Bring up hosts and switches in network namespaces to experiment with",
		Long: `A testbed is a private Open vSwitch (its own ovsdb-server and ovs-vswitchd,
never the system one) with switches (bridges) and hosts (network namespaces)
joined by veth pairs, described by a YAML topology (examples/topology.yaml).
It stays up until "flowgate testbed down", which removes every namespace,
interface, process and file it made.`,
	}
	cmd.PersistentFlags().StringVar(&stateFile, "state", defaultStateFile, "file that records the running testbed")
	cmd.AddCommand(
		&cobra.Command{
			Use:   "up TOPOLOGY.yaml",
			Short: "Start a testbed from a topology file",
			Args:  cobra.ExactArgs(1),
			RunE:  func(cmd *cobra.Command, args []string) error { return testbedUp(cmd, stateFile, args[0]) },
		},
		&cobra.Command{
			Use:   "down",
			Short: "Tear the testbed down",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return testbedDown(cmd.ErrOrStderr(), stateFile) },
		},
		&cobra.Command{
			Use:   "exec HOST [-- COMMAND [ARG...]]",
			Short: "Run a command (default: a shell) inside a host's namespace",
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) > 1 && cmd.ArgsLenAtDash() != 1 {
					return errors.New("usage: flowgate testbed exec HOST -- COMMAND [ARG...]")
				}
				return testbedExec(stateFile, args[0], args[1:])
			},
		},
		&cobra.Command{
			Use:   "status",
			Short: "Show the testbed's switches, hosts and how to reach its OVS",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return testbedStatus(cmd.OutOrStdout(), stateFile) },
		},
	)
	return cmd
}

func testbedUp(cmd *cobra.Command, stateFile, topoFile string) error {
	if _, err := os.Stat(stateFile); err == nil {
		return fmt.Errorf("a testbed is already up (%s); run 'flowgate testbed down' first", stateFile)
	}
	data, err := os.ReadFile(topoFile)
	if err != nil {
		return err
	}
	topo, err := testbed.ParseTopology(data)
	if err != nil {
		return fmt.Errorf("%s: %w", topoFile, err)
	}
	ctx := cmd.Context()
	tb, err := testbed.Start(ctx, testbed.Options{Datapath: topo.Datapath})
	if err != nil {
		return err
	}
	if err := tb.Build(ctx, topo); err != nil {
		return errors.Join(fmt.Errorf("%s: %w", topoFile, err), tb.Close())
	}
	if err := saveState(stateFile, tb.State()); err != nil {
		return errors.Join(err, tb.Close())
	}
	return printStatus(cmd.OutOrStdout(), tb.State())
}

func testbedDown(stderr io.Writer, stateFile string) error {
	s, err := loadState(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "no testbed is up (no %s)\n", stateFile)
		return nil
	}
	if err != nil {
		return err
	}
	tb, err := testbed.Attach(s)
	if err != nil {
		return err
	}
	if err := tb.Close(); err != nil {
		// Keep the state file: it is what a second 'down' works from.
		return fmt.Errorf("tear down testbed %s: %w", s.Prefix, err)
	}
	return os.Remove(stateFile)
}

// testbedExec replaces this process with `ip netns exec`, so the command
// gets the terminal, the signals and the exit status directly.
func testbedExec(stateFile, host string, argv []string) error {
	s, err := loadState(stateFile)
	if err != nil {
		return err
	}
	var netns string
	for _, h := range s.Hosts {
		if h.Name == host {
			netns = h.Netns
		}
	}
	if netns == "" {
		return fmt.Errorf("testbed %s has no host %q", s.Prefix, host)
	}
	if len(argv) == 0 {
		shell := os.Getenv("SHELL")
		if shell == "" {
			shell = "/bin/sh"
		}
		argv = []string{shell}
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return err
	}
	return syscall.Exec(ip, append([]string{"ip", "netns", "exec", netns}, argv...), os.Environ())
}

func testbedStatus(w io.Writer, stateFile string) error {
	s, err := loadState(stateFile)
	if err != nil {
		return err
	}
	return printStatus(w, s)
}

func printStatus(w io.Writer, s testbed.State) error {
	o := testbed.AttachOVS(s.OVSDir, s.Datapath, s.OVSNetns)
	running := "running"
	if o.VswitchdPID() == 0 {
		running = "NOT RUNNING"
	}
	fmt.Fprintf(w, "testbed %s: ovs-vswitchd %s (%s datapath, namespace %s)\n", s.Prefix, running, s.Datapath, s.OVSNetns)
	fmt.Fprintf(w, "OVS tools: export OVS_RUNDIR=%s; then ovs-vsctl show, ovs-ofctl dump-flows <switch>\n\n", s.OVSDir)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SWITCH\tFAIL MODE")
	for _, sw := range s.Switches {
		mode := "standalone (NORMAL)"
		if sw.Secure {
			mode = "secure (no flows until programmed)"
		}
		fmt.Fprintf(tw, "%s\t%s\n", sw.Name, mode)
	}
	fmt.Fprintln(tw, "\nHOST\tSWITCH\tOFPORT\tMAC\tIPV4\tIPV6\tNAMESPACE")
	for _, h := range s.Hosts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", h.Name, h.Switch, h.OFPort, h.MAC, orDash(h.IP4.IsValid(), h.IP4.String()), orDash(h.IP6.IsValid(), h.IP6.String()), h.Netns)
	}
	return tw.Flush()
}

func orDash(ok bool, s string) string {
	if ok {
		return s
	}
	return "-"
}

func loadState(path string) (testbed.State, error) {
	var s testbed.State
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("testbed state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("testbed state %s: %w", path, err)
	}
	return s, nil
}

// saveState writes the state file atomically, so a concurrent reader never
// sees half of it.
func saveState(path string, s testbed.State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("testbed state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("testbed state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("testbed state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("testbed state: %w", err)
	}
	return nil
}
