package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// Testbed is a Mininet-style lab on one machine: a private OVS, switches
// (its bridges) and hosts (network namespaces) wired to them by veth pairs.
//
// ovs-vswitchd runs in a network namespace of its own: the userspace
// datapath creates tap devices ("ovs-netdev" and one per bridge) in the
// namespace it runs in, so two instances sharing one would collide. The
// switch ends of all veth pairs live in that namespace too, which means no
// testbed ever creates an interface in the caller's namespace and two
// testbeds (parallel tests, separate processes) cannot clash on names.
// Only namespace names are global; they all carry the testbed's random
// prefix.
type Testbed struct {
	ovs *OVS

	mu       sync.Mutex
	state    State
	switches map[string]*Switch
	hosts    map[string]*Host
	nodes    map[string]*Node
	servers  []*Server
	closed   bool
}

// Options configure a new testbed.
type Options struct {
	// Datapath is auto (the default), system or netdev.
	Datapath string
}

// Start creates a testbed with a running private OVS and nothing else. The
// caller must Close it; New does that for tests.
func Start(ctx context.Context, opts Options) (*Testbed, error) {
	prefix, err := newPrefix()
	if err != nil {
		return nil, err
	}
	tb := &Testbed{
		state:    State{Prefix: prefix, OVSNetns: prefix + "-ovs"},
		switches: map[string]*Switch{},
		hosts:    map[string]*Host{},
		nodes:    map[string]*Node{},
	}
	if err := tb.startOVS(ctx, opts.Datapath); err != nil {
		return nil, errors.Join(err, tb.Close())
	}
	return tb, nil
}

// New starts a testbed for a test and closes it when the test ends,
// whether it passed or not. It skips (or fails under CI) without root.
func New(t testing.TB, opts Options) *Testbed {
	t.Helper()
	RequireRoot(t)
	tb, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start testbed: %v", err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("close testbed %s: %v", tb.state.Prefix, err)
		}
	})
	return tb
}

func (tb *Testbed) startOVS(ctx context.Context, datapath string) error {
	if _, err := run(ctx, "ip", "netns", "add", tb.state.OVSNetns); err != nil {
		return fmt.Errorf("create namespace for ovs-vswitchd: %w", err)
	}
	// Created here rather than by StartOVS so that it carries the testbed
	// prefix like every other namespace and teardown finds it by name.
	// The switch ends of veth pairs need no addresses; without IPv6 on
	// them they stay silent (no router solicitations, no MLD reports)
	// and counters and traces show only the hosts' traffic.
	if _, err := runIn(ctx, tb.state.OVSNetns, "sysctl", "-qw",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		return fmt.Errorf("namespace %s: %w", tb.state.OVSNetns, err)
	}
	// A controller target tcp:127.0.0.1:N is dialled from this namespace
	// (see OVS.Listen).
	if err := ipBatch(ctx, tb.state.OVSNetns, []string{"link set lo up"}); err != nil {
		return err
	}
	o, err := StartOVSInNetns(ctx, datapath, tb.state.OVSNetns)
	if err != nil {
		return err
	}
	tb.ovs = o
	tb.state.OVSDir, tb.state.Datapath = o.Dir, o.Datapath
	return nil
}

// OVS is the testbed's private Open vSwitch, for ovs-vsctl/ofctl/appctl.
func (tb *Testbed) OVS() *OVS { return tb.ovs }

// Prefix is the random prefix of every namespace this testbed creates.
func (tb *Testbed) Prefix() string { return tb.state.Prefix }

// Switch returns the switch called name, or nil.
func (tb *Testbed) Switch(name string) *Switch {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.switches[name]
}

// Host returns the host called name, or nil.
func (tb *Testbed) Host(name string) *Host {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.hosts[name]
}

// Hosts returns all hosts in the order they were added.
func (tb *Testbed) Hosts() []*Host {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	hosts := make([]*Host, 0, len(tb.state.Hosts))
	for _, hs := range tb.state.Hosts {
		hosts = append(hosts, tb.hosts[hs.Name])
	}
	return hosts
}

// Close stops the echo servers, the OVS daemons (its own and every
// node's, by pid) and every process left in the testbed's namespaces,
// deletes the namespaces (and with them every veth, tap and the underlay
// bridge) and removes the OVS run directories. It is safe to call more
// than once and after a partial Start.
func (tb *Testbed) Close() error {
	tb.mu.Lock()
	if tb.closed {
		tb.mu.Unlock()
		return nil
	}
	tb.closed = true
	servers := tb.servers
	var nodes []*OVS
	for _, ns := range tb.state.Nodes {
		nodes = append(nodes, tb.nodes[ns.Name].ovs)
	}
	tb.mu.Unlock()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Close())
	}
	errs = append(errs, teardown(tb.state, tb.ovs, nodes))
	return errors.Join(errs...)
}

// newPrefix returns "fg" and six random hex digits that no namespace in
// /run/netns uses yet.
func newPrefix() (string, error) {
	for range 10 {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("testbed prefix: %w", err)
		}
		prefix := "fg" + hex.EncodeToString(b)
		used, err := filepath.Glob(filepath.Join(netnsDir, prefix+"-*"))
		if err != nil {
			return "", fmt.Errorf("testbed prefix: %w", err)
		}
		if len(used) == 0 {
			return prefix, nil
		}
	}
	return "", fmt.Errorf("testbed prefix: no unused prefix after 10 tries (stale namespaces in %s?)", netnsDir)
}

// netnsDir is where ip-netns(8) keeps named namespaces.
const netnsDir = "/run/netns"
