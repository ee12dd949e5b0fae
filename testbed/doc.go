// Package testbed builds Mininet-style labs on one machine for tests and
// for trying flowgate by hand: a private Open vSwitch (never the system
// one), switches (its bridges), hosts (network namespaces) joined to them
// by veth pairs, and probes that send real traffic between hosts (Ping,
// TCPConnect, UDPExchange, Matrix).
//
// For more than one hypervisor, AddNode makes nodes: each a namespace with
// an OVS of its own on the userspace datapath, a br-int that hosts are
// linked to, and a br-phy on an underlay segment shared by all nodes, set
// up for OVS's userspace tunnelling (see Node). Tunnel ports and flows on
// br-int are the caller's: a test with ovs-vsctl/ovs-ofctl on Node.OVS, or
// a controller.
//
// Close (or Attach(state).Close from another process, as `flowgate
// testbed down` does) stops every daemon the testbed started, by pid, and
// removes every namespace, interface and file it made.
package testbed
