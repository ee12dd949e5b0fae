package testbed

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
)

// State is everything needed to find and tear down a testbed from another
// process: `flowgate testbed up` saves it, `exec` and `down` load it.
type State struct {
	Prefix   string        `json:"prefix"`    // of every namespace: <prefix>-ovs, <prefix>-<host>
	OVSDir   string        `json:"ovs_dir"`   // private OVS run directory (OVS_RUNDIR)
	OVSNetns string        `json:"ovs_netns"` // where ovs-vswitchd and the switch ends of veths live
	Datapath string        `json:"datapath"`  // resolved: system or netdev
	Switches []SwitchState `json:"switches"`
	Hosts    []HostState   `json:"hosts"`
	// UnderlayNetns holds the Linux bridge that joins the nodes' underlay
	// ports; empty until the first AddNode.
	UnderlayNetns string      `json:"underlay_netns,omitempty"`
	Nodes         []NodeState `json:"nodes,omitempty"`
}

// NodeState records one node (a hypervisor): its namespace, its own
// private OVS and its underlay address.
type NodeState struct {
	Name     string       `json:"name"`
	Netns    string       `json:"netns"`    // where the node's ovs-vswitchd, br-int, br-phy and its hosts' veth ends live
	OVSDir   string       `json:"ovs_dir"`  // the node's private OVS run directory
	Underlay netip.Prefix `json:"underlay"` // br-phy's address
	MAC      string       `json:"mac"`      // br-phy's MAC, what the other nodes' tunnel ARP tables hold
}

// SwitchState records one switch (an OVS bridge of the same name).
type SwitchState struct {
	Name   string `json:"name"`
	Secure bool   `json:"secure,omitempty"`
}

// HostState records one host and, once linked, its interface.
type HostState struct {
	Name     string       `json:"name"`
	Netns    string       `json:"netns"`
	Switch   string       `json:"switch,omitempty"`
	Node     string       `json:"node,omitempty"` // the node whose br-int Switch is; empty: the testbed's own OVS
	OFPort   uint32       `json:"ofport,omitempty"`
	MAC      string       `json:"mac"`
	IP4      netip.Prefix `json:"ip4,omitzero"`
	IP6      netip.Prefix `json:"ip6,omitzero"`
	Gateway4 netip.Addr   `json:"gateway4,omitzero"`
	Gateway6 netip.Addr   `json:"gateway6,omitzero"`
}

// State returns a snapshot of the testbed's description.
func (tb *Testbed) State() State {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	s := tb.state
	s.Switches = append([]SwitchState(nil), s.Switches...)
	s.Hosts = append([]HostState(nil), s.Hosts...)
	s.Nodes = append([]NodeState(nil), s.Nodes...)
	return s
}

// validPrefix guards teardown, which deletes every namespace named
// <prefix>-*: a damaged state file must not widen that to other names.
var validPrefix = regexp.MustCompile(`^fg[0-9a-f]{6}$`)

// Attach returns the testbed that s describes, typically started by another
// process. Closing it tears down whatever of it is left, so it also cleans
// up after a testbed whose OVS already died. Echo servers are not
// part of the state: they lived in the process that started them.
func Attach(s State) (*Testbed, error) {
	if !validPrefix.MatchString(s.Prefix) {
		return nil, fmt.Errorf("attach testbed: prefix %q is not a testbed prefix", s.Prefix)
	}
	tb := &Testbed{ovs: AttachOVS(s.OVSDir, s.Datapath, s.OVSNetns), state: s,
		switches: map[string]*Switch{}, hosts: map[string]*Host{}, nodes: map[string]*Node{}}
	for _, ns := range s.Nodes {
		n := &Node{tb: tb, state: ns, ovs: AttachOVS(ns.OVSDir, DatapathNetdev, ns.Netns)}
		n.brInt = &Switch{tb: tb, name: IntegrationBridge, secure: true, node: n}
		tb.nodes[ns.Name] = n
	}
	for _, ss := range s.Switches {
		tb.switches[ss.Name] = &Switch{tb: tb, name: ss.Name, secure: ss.Secure}
	}
	for _, hs := range s.Hosts {
		mac, err := net.ParseMAC(hs.MAC)
		if err != nil {
			return nil, fmt.Errorf("attach testbed %s: host %s: %w", s.Prefix, hs.Name, err)
		}
		tb.hosts[hs.Name] = &Host{tb: tb, state: hs, mac: mac}
	}
	return tb, nil
}
