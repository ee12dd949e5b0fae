// Package pipeline is flowgate's compiler: a pure function from a validated
// intent and the current port bindings to the complete set of OpenFlow
// flows of the integration bridge. It does no I/O.
//
// The pipeline is declared here, in order. Every packet from a VM port
// walks it front to back; goto_table only moves forward, so stages that
// must run again (flooding, the router handing a packet back) use
// resubmit. docs/pipeline.md is the operator's version of this file.
package pipeline

import (
	"fmt"

	"github.com/flowgate/flowgate/flows"
)

// Table is an OpenFlow table of the pipeline.
type Table uint8

// The tables, in packet order. Gaps of ten leave room for stages to be
// added between existing ones without renumbering.
const (
	// TableClassify identifies the ingress port: a bound port gets its
	// source-port and network registers; anything else is dropped.
	TableClassify Table = 0
	// TablePortSecurity is anti-spoofing: a port may send only from its
	// own MAC and addresses (and allowed address pairs), ARP and ND
	// included. Ports with port_security:false never enter it.
	TablePortSecurity Table = 10
	// TableConntrack sends IP through ct(zone=<network zone>, nat) so that
	// every later decision can match ct_state. Tracking comes before any
	// policy decision.
	TableConntrack Table = 20
	// TableEgressACL applies the security groups of the sending port.
	TableEgressACL Table = 30
	// TablePreLB is reserved for services (load-balancer DNAT of a VIP
	// before the destination is looked up). Today it only passes packets on.
	TablePreLB Table = 40
	// TableL2Lookup resolves the destination MAC within the packet's
	// network to a destination port (or the router), and hands
	// broadcast/multicast to one of the two flood tables.
	TableL2Lookup Table = 50
	// TableFloodDirect floods ARP and neighbour discovery (NS, NA, RA):
	// what ingress_acl always passes and commit never commits. It outputs
	// to every bound port of the network without running their ingress
	// ACLs, through a tree of bounded flows (flood.go).
	TableFloodDirect Table = 52
	// TableFloodFiltered floods every other broadcast and multicast
	// through each receiver's ingress_acl, commit and output in turn,
	// through the same kind of tree. OVS's per-packet translation budget
	// bounds how many receivers one packet reaches (docs/pipeline.md).
	TableFloodFiltered Table = 54
	// TableIngressACL applies the security groups of the receiving port.
	TableIngressACL Table = 60
	// TableCommit commits new connections that a stateful side allowed,
	// recording the allowing rule ids in ct_label.
	TableCommit Table = 70
	// TableOutput sends the packet to the destination port, or hands it
	// to the router stage.
	TableOutput Table = 80
	// TableRouter is the first table of the router/NAT stage, reserved
	// together with tables up to TableRouterLast. A routed packet re-enters
	// the pipeline at TableConntrack of its destination network (see
	// docs/pipeline.md, "The router seam"). Today it only drops.
	TableRouter     Table = 90
	TableRouterLast Table = 119
)

// tableInfo describes a table for docs, traces and the default flows.
type tableInfo struct {
	Table Table
	Name  string
	// Miss is what happens to a packet no other flow of the table takes:
	// the table's lowest-priority flow goes there, or drops when Miss is
	// nil, so that drop counters show up in dump-flows.
	Miss *Table
}

func missTo(t Table) *Table { return &t }

// tables lists every table the compiler writes, in packet order.
var tables = []tableInfo{
	{TableClassify, "classify", nil},
	{TablePortSecurity, "port_security", nil},
	{TableConntrack, "conntrack", missTo(TableEgressACL)}, // non-IP is not tracked
	{TableEgressACL, "egress_acl", nil},
	{TablePreLB, "pre_lb", missTo(TableL2Lookup)}, // reserved: no services yet
	{TableL2Lookup, "l2_lookup", nil},             // unknown unicast is dropped
	{TableFloodDirect, "flood_direct", nil},       // no such flood node: drop
	{TableFloodFiltered, "flood_filtered", nil},   // no such flood node: drop
	{TableIngressACL, "ingress_acl", nil},
	{TableCommit, "commit", missTo(TableOutput)}, // not new, or no stateful side
	{TableOutput, "output", nil},
	{TableRouter, "router", nil}, // reserved: router stage not built yet
}

// Name is the stage name of t ("egress_acl"), or "table<N>" for a table
// the pipeline does not declare.
func (t Table) Name() string {
	for _, ti := range tables {
		if ti.Table == t {
			return ti.Name
		}
	}
	if t > TableRouter && t <= TableRouterLast {
		return fmt.Sprintf("router+%d", t-TableRouter)
	}
	return fmt.Sprintf("table%d", uint8(t))
}

// tableMissFlows are the lowest-priority flow of every table: pass on to
// the next table where the stage is optional, drop otherwise. Explicit
// drops (rather than OpenFlow's silent table miss) give every table a
// counter of what it refused.
func tableMissFlows() []flows.Flow {
	var out []flows.Flow
	for _, ti := range tables {
		f := flows.Flow{Table: uint8(ti.Table), Priority: 0, Cookie: infraCookie(ti.Table)}
		if ti.Miss != nil {
			f.Actions = []flows.Action{goTo(*ti.Miss)}
		}
		out = append(out, f)
	}
	return out
}
