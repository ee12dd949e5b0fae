package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
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
	var nodes int
	var noEtcd bool
	cmd := &cobra.Command{
		Use:   "testbed",
		Short: "Bring up hosts and switches in network namespaces to experiment with",
		Long: `A testbed is a private Open vSwitch (its own ovsdb-server and ovs-vswitchd,
never the system one) with switches (bridges) and hosts (network namespaces)
joined by veth pairs, described by a YAML topology (examples/topology.yaml).
It can also have nodes: hypervisors, each with an OVS of its own (br-int for
its hosts, br-phy on an underlay segment shared by all nodes, userspace
tunnelling), from the topology's "nodes:" or from --nodes N. A testbed
with nodes also gets an etcd for their controllers (an embedded etcd on
127.0.0.1, in a process of its own); up and status print its URL and the
controller command line for each node.
It stays up until "flowgate testbed down", which removes every namespace,
interface, process and file it made.`,
	}
	cmd.PersistentFlags().StringVar(&stateFile, "state", defaultStateFile, "file that records the running testbed")
	up := &cobra.Command{
		Use:   "up [TOPOLOGY.yaml] [--nodes N]",
		Short: "Start a testbed from a topology file, with N more nodes",
		Long: `Start a testbed from a topology file. --nodes N adds N nodes hv1, hv2, ...
with underlay addresses 192.168.100.11/24, .12, ..., numbered on from the
topology's own nodes (if it has hv1 and hv2, the first added is hv3 at
192.168.100.13/24). Each has an empty br-int
(fail_mode=secure, no tunnel ports, no flows) for a controller to program.
"flowgate testbed exec hvN -- ovs-vsctl show" runs OVS tools against a node.

With nodes, up also starts an etcd for them (an embedded etcd on a free
port of 127.0.0.1, a detached "flowgate testbed etcd" process with its
data and log in the testbed's directory beside the state file; --no-etcd
to do without) and prints its URL, the "flowgate intent put" line and,
for each node, the "flowgate controller" command line that programs it.
If the etcd does not start, up fails and removes everything it built.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && nodes == 0 {
				return errors.New("usage: flowgate testbed up TOPOLOGY.yaml, or --nodes N, or both")
			}
			topoFile := ""
			if len(args) == 1 {
				topoFile = args[0]
			}
			return testbedUp(cmd, stateFile, topoFile, nodes, !noEtcd)
		},
	}
	up.Flags().BoolVar(&noEtcd, "no-etcd", false, "do not start an etcd for the nodes")
	up.Flags().IntVar(&nodes, "nodes", 0, fmt.Sprintf("add N nodes hv1, hv2, ... (numbered on from the topology's) on the underlay %s, at most %d", nodeUnderlay, maxNodes))
	cmd.AddCommand(
		up,
		newTestbedEtcdCmd(),
		&cobra.Command{
			Use:   "down",
			Short: "Tear the testbed down",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return testbedDown(cmd.ErrOrStderr(), stateFile) },
		},
		&cobra.Command{
			Use:   "exec HOST|NODE [-- COMMAND [ARG...]]",
			Short: "Run a command (default: a shell) inside a host's or a node's namespace",
			Long: `Run a command (default: a shell) inside a host's namespace, or inside a
node's with OVS_RUNDIR set to the node's OVS, so that ovs-vsctl, ovs-ofctl
and ovs-appctl talk to that node's ovs-vswitchd.`,
			Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) > 1 && cmd.ArgsLenAtDash() != 1 {
					return errors.New("usage: flowgate testbed exec HOST|NODE -- COMMAND [ARG...]")
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

// nodeUnderlay is the segment of the nodes that --nodes adds; the first
// is .11, as in OVS's and the testbed's examples.
var nodeUnderlay = netip.MustParsePrefix("192.168.100.0/24")

const maxNodes = 254 - 10

func testbedUp(cmd *cobra.Command, stateFile, topoFile string, nodes int, withEtcd bool) error {
	if _, err := os.Stat(stateFile); err == nil {
		return fmt.Errorf("a testbed is already up (%s); run 'flowgate testbed down' first", stateFile)
	}
	if nodes < 0 || nodes > maxNodes {
		return fmt.Errorf("--nodes %d: want 0 to %d", nodes, maxNodes)
	}
	topo := &testbed.Topology{}
	if topoFile != "" {
		data, err := os.ReadFile(topoFile)
		if err != nil {
			return err
		}
		if topo, err = testbed.ParseTopology(data); err != nil {
			return fmt.Errorf("%s: %w", topoFile, err)
		}
	} else {
		topoFile = "--nodes"
	}
	// Numbered on from the topology's own nodes, so that a file with
	// hv1 and hv2 at .11 and .12 and --nodes 2 make hv1 ... hv4.
	base, first := nodeUnderlay.Addr().As4(), len(topo.Nodes)+1
	if first+nodes-1 > maxNodes {
		return fmt.Errorf("--nodes %d: with the topology's %d nodes, more than %d", nodes, len(topo.Nodes), maxNodes)
	}
	for i := first; i < first+nodes; i++ {
		addr := base
		addr[3] = byte(10 + i)
		topo.Nodes = append(topo.Nodes, testbed.TopologyNode{
			Name: fmt.Sprintf("hv%d", i), Underlay: netip.PrefixFrom(netip.AddrFrom4(addr), nodeUnderlay.Bits()),
		})
	}
	ctx := cmd.Context()
	tb, err := testbed.Start(ctx, testbed.Options{Datapath: topo.Datapath})
	if err != nil {
		return err
	}
	if err := tb.Build(ctx, topo); err != nil {
		return errors.Join(fmt.Errorf("%s: %w", topoFile, err), tb.Close())
	}
	s := testbedState{State: tb.State()}
	if withEtcd && len(s.Nodes) > 0 {
		s.Dir = filepath.Join(filepath.Dir(stateFile), s.Prefix)
		if s.Etcd, err = startEtcd(ctx, filepath.Join(s.Dir, "etcd")); err != nil {
			return errors.Join(err, tb.Close(), os.RemoveAll(s.Dir))
		}
	}
	if err := saveState(stateFile, s); err != nil {
		return errors.Join(err, stopTestbedDir(s), tb.Close())
	}
	return printStatus(cmd.OutOrStdout(), s)
}

// stopTestbedDir stops the testbed's etcd and removes the testbed's
// directory (the etcd's data and logs, the controllers' API sockets).
func stopTestbedDir(s testbedState) error {
	if s.Etcd != nil {
		if err := stopEtcd(s.Etcd); err != nil {
			return err
		}
	}
	// Only the directory up made: <state dir>/<prefix>, the prefix
	// checked by testbed.Attach or made by testbed.Start.
	if s.Dir == "" || filepath.Base(s.Dir) != s.Prefix {
		return nil
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		return fmt.Errorf("remove testbed directory: %w", err)
	}
	return nil
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
	tb, err := testbed.Attach(s.State)
	if err != nil {
		return err
	}
	// The etcd first: it is what controllers still running would talk to.
	if err := errors.Join(stopTestbedDir(s), tb.Close()); err != nil {
		// Keep the state file: it is what a second 'down' works from.
		return fmt.Errorf("tear down testbed %s: %w", s.Prefix, err)
	}
	if err := os.Remove(stateFile); err != nil {
		return err
	}
	if stateFile == defaultStateFile {
		os.Remove(filepath.Dir(stateFile)) // only if empty
	}
	return nil
}

// testbedExec replaces this process with `ip netns exec`, so the command
// gets the terminal, the signals and the exit status directly.
func testbedExec(stateFile, host string, argv []string) error {
	s, err := loadState(stateFile)
	if err != nil {
		return err
	}
	var netns string
	env := os.Environ()
	for _, h := range s.Hosts {
		if h.Name == host {
			netns = h.Netns
		}
	}
	for _, n := range s.Nodes {
		if n.Name == host {
			netns = n.Netns
			env = append(env, "OVS_RUNDIR="+n.OVSDir, "OVS_DBDIR="+n.OVSDir, "OVS_LOGDIR="+n.OVSDir)
		}
	}
	if netns == "" {
		return fmt.Errorf("testbed %s has no host %q (and no node of that name)", s.Prefix, host)
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
	return syscall.Exec(ip, append([]string{"ip", "netns", "exec", netns}, argv...), env)
}

func testbedStatus(w io.Writer, stateFile string) error {
	s, err := loadState(stateFile)
	if err != nil {
		return err
	}
	return printStatus(w, s)
}

func printStatus(w io.Writer, s testbedState) error {
	o := testbed.AttachOVS(s.OVSDir, s.Datapath, s.OVSNetns)
	running := "running"
	if o.VswitchdPID() == 0 {
		running = "NOT RUNNING"
	}
	fmt.Fprintf(w, "testbed %s: ovs-vswitchd %s (%s datapath, namespace %s)\n", s.Prefix, running, s.Datapath, s.OVSNetns)
	fmt.Fprintf(w, "OVS tools: export OVS_RUNDIR=%s; then ovs-vsctl show, ovs-ofctl dump-flows <switch>\n\n", s.OVSDir)
	if len(s.Nodes) > 0 {
		fmt.Fprintf(w, "Node OVS tools: flowgate testbed exec NODE -- ovs-vsctl show (or export OVS_RUNDIR=<the node's>)\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if len(s.Switches) > 0 || len(s.Nodes) == 0 {
		fmt.Fprintln(tw, "SWITCH\tFAIL MODE")
		for _, sw := range s.Switches {
			mode := "standalone (NORMAL)"
			if sw.Secure {
				mode = "secure (no flows until programmed)"
			}
			fmt.Fprintf(tw, "%s\t%s\n", sw.Name, mode)
		}
		fmt.Fprintln(tw)
	}
	if len(s.Nodes) > 0 {
		fmt.Fprintf(tw, "NODE\tUNDERLAY\tBR-PHY MAC\tOVS-VSWITCHD\tNAMESPACE\tOVS_RUNDIR\n")
		for _, n := range s.Nodes {
			running := "running"
			if testbed.AttachOVS(n.OVSDir, testbed.DatapathNetdev, n.Netns).VswitchdPID() == 0 {
				running = "NOT RUNNING"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Underlay, n.MAC, running, n.Netns, n.OVSDir)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "HOST\tSWITCH\tOFPORT\tMAC\tIPV4\tIPV6\tNAMESPACE")
	for _, h := range s.Hosts {
		sw := h.Switch
		if h.Node != "" {
			sw = h.Node + "/" + h.Switch
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", h.Name, sw, h.OFPort, h.MAC, orDash(h.IP4.IsValid(), h.IP4.String()), orDash(h.IP6.IsValid(), h.IP6.String()), h.Netns)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Etcd != nil {
		printEtcd(w, s)
	}
	return nil
}

// printEtcd says where the nodes' etcd is and how to run a controller on
// every node against it.
func printEtcd(w io.Writer, s testbedState) {
	running := "running"
	if !etcdRunning(s.Etcd) {
		running = "NOT RUNNING"
	}
	fmt.Fprintf(w, "\netcd %s: %s (pid %d; data and log in %s)\n", s.Etcd.URL, running, s.Etcd.PID, s.Etcd.Dir)
	exe, err := os.Executable()
	if err != nil {
		exe = "flowgate"
	}
	fmt.Fprintf(w, "\nStore an intent:\n  %s intent put --store %s FILE\n", exe, s.Etcd.URL)
	fmt.Fprintf(w, "\nControllers, one per node (each in a shell of its own, or with &):\n")
	for _, n := range s.Nodes {
		fmt.Fprintf(w, "  %s\n", controllerCommand(exe, s, n))
	}
}

func orDash(ok bool, s string) string {
	if ok {
		return s
	}
	return "-"
}

func loadState(path string) (testbedState, error) {
	var s testbedState
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
func saveState(path string, s testbedState) error {
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
