package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"gopkg.in/yaml.v3"
)

// Topology is a testbed described in YAML (examples/topology.yaml):
//
//	datapath: auto
//	switches:
//	  - name: s1
//	  - {name: s2, secure: true}
//	links:
//	  - [s1, s2]
//	hosts:
//	  - {name: h1, switch: s1, mac: "02:00:00:00:00:01", ip: 10.0.0.1/24, ip6: "fd00::1/64"}
//
// and with nodes (hypervisors, see Node), whose hosts are plugged into
// the node's br-int (testdata/nodes.yaml):
//
//	nodes:
//	  - {name: hv1, underlay: 192.168.100.11/24}
//	hosts:
//	  - {name: vm1, node: hv1, ip: 10.0.0.1/24}
type Topology struct {
	Datapath string           `yaml:"datapath"`
	Switches []TopologySwitch `yaml:"switches"`
	Links    [][2]string      `yaml:"links"` // switch pairs joined by patch ports
	Nodes    []TopologyNode   `yaml:"nodes"`
	Hosts    []TopologyHost   `yaml:"hosts"`
}

// TopologyNode is one node of a Topology.
type TopologyNode struct {
	Name     string       `yaml:"name"`
	Underlay netip.Prefix `yaml:"underlay"` // NodeOpts.Underlay
}

// TopologySwitch is one switch of a Topology.
type TopologySwitch struct {
	Name   string `yaml:"name"`
	Secure bool   `yaml:"secure"` // fail_mode=secure, no flows
}

// TopologyHost is one host of a Topology and the switch it is linked to:
// a switch of the testbed's own OVS, or the br-int of a node.
type TopologyHost struct {
	Name     string       `yaml:"name"`
	Switch   string       `yaml:"switch"`
	Node     string       `yaml:"node"` // instead of switch: the node's br-int
	MAC      string       `yaml:"mac"`
	IP       netip.Prefix `yaml:"ip"`
	IP6      netip.Prefix `yaml:"ip6"`
	Gateway  netip.Addr   `yaml:"gateway"`
	Gateway6 netip.Addr   `yaml:"gateway6"`
	OFPort   uint32       `yaml:"ofport"`
}

// ParseTopology decodes and checks a topology document. Unknown fields are
// errors, and every error names the entry it is about.
func ParseTopology(data []byte) (*Topology, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var topo Topology
	if err := dec.Decode(&topo); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	if err := topo.check(); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return &topo, nil
}

func (topo *Topology) check() error {
	var errs []error
	if _, err := ResolveDatapath(topo.Datapath); err != nil {
		errs = append(errs, err)
	}
	switches := map[string]bool{}
	for i, s := range topo.Switches {
		if switches[s.Name] {
			errs = append(errs, fmt.Errorf("switches[%d]: name %q used twice", i, s.Name))
		}
		switches[s.Name] = true
	}
	for i, l := range topo.Links {
		for _, end := range l {
			if !switches[end] {
				errs = append(errs, fmt.Errorf("links[%d]: no switch %q", i, end))
			}
		}
	}
	nodes := map[string]bool{}
	for i, n := range topo.Nodes {
		if nodes[n.Name] {
			errs = append(errs, fmt.Errorf("nodes[%d]: name %q used twice", i, n.Name))
		}
		nodes[n.Name] = true
		if !n.Underlay.IsValid() {
			errs = append(errs, fmt.Errorf("nodes[%d] (%s): underlay: an address with prefix length is required", i, n.Name))
		}
	}
	for i, h := range topo.Hosts {
		switch {
		case h.Node != "" && h.Switch != "":
			errs = append(errs, fmt.Errorf("hosts[%d] (%s): switch %q and node %q: a host is plugged into one or the other", i, h.Name, h.Switch, h.Node))
		case h.Node != "" && !nodes[h.Node]:
			errs = append(errs, fmt.Errorf("hosts[%d] (%s): node: no node %q", i, h.Name, h.Node))
		case h.Node == "" && !switches[h.Switch]:
			errs = append(errs, fmt.Errorf("hosts[%d] (%s): switch: no switch %q", i, h.Name, h.Switch))
		}
		if _, err := h.opts(); err != nil {
			errs = append(errs, fmt.Errorf("hosts[%d] (%s): %w", i, h.Name, err))
		}
	}
	return errors.Join(errs...)
}

// opts converts the host entry into HostOpts.
func (h TopologyHost) opts() (HostOpts, error) {
	opts := HostOpts{IPv4: h.IP, IPv6: h.IP6, Gateway4: h.Gateway, Gateway6: h.Gateway6, OFPort: h.OFPort}
	if h.MAC != "" {
		mac, err := net.ParseMAC(h.MAC)
		if err != nil {
			return opts, fmt.Errorf("mac: %w", err)
		}
		opts.MAC = mac
	}
	return opts, checkHostOpts(opts)
}

// Build adds the topology's switches, links, nodes and hosts to the
// testbed. The testbed's datapath was fixed when it started; start it
// with Options{Datapath: topo.Datapath} (nodes always use netdev).
func (tb *Testbed) Build(ctx context.Context, topo *Topology) error {
	for _, s := range topo.Switches {
		if _, err := tb.AddSwitch(ctx, s.Name, SwitchOpts{Secure: s.Secure}); err != nil {
			return err
		}
	}
	for _, l := range topo.Links {
		if err := tb.LinkSwitches(ctx, tb.Switch(l[0]), tb.Switch(l[1])); err != nil {
			return err
		}
	}
	for _, tn := range topo.Nodes {
		if _, err := tb.AddNode(ctx, tn.Name, NodeOpts{Underlay: tn.Underlay}); err != nil {
			return err
		}
	}
	for _, th := range topo.Hosts {
		opts, err := th.opts()
		if err != nil {
			return fmt.Errorf("host %s: %w", th.Name, err)
		}
		h, err := tb.AddHost(ctx, th.Name, opts)
		if err != nil {
			return err
		}
		s := tb.Switch(th.Switch)
		if th.Node != "" {
			s = tb.Node(th.Node).IntegrationBridge()
		}
		if err := tb.Link(ctx, h, s); err != nil {
			return err
		}
	}
	return nil
}
