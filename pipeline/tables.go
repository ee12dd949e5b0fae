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
	// TableEgressPolicy applies the admin policies of the sending port
	// (policy.go): egress_acl sends a port that policies apply to here
	// first; the first matching rule allows (on to service_lb), drops, or
	// passes (back to egress_acl, which then applies the groups).
	TableEgressPolicy Table = 31
	// The service stage (service.go): TableServiceLB picks a backend
	// for each new connection to a service address (a select group whose
	// buckets commit it with nat(dst=backend)), answers ARP for the
	// service addresses and sends replies of self-hairpinned connections
	// through the hairpin zone; established connections were translated
	// by TableConntrack's ct(nat) already. It comes after the sender's
	// ACL, which judges the service address, and before l2_lookup, which
	// must see the backend's MAC.
	TableServiceLB Table = 40
	// TableServiceBackend: every packet the service stage translated
	// gets its backend's MAC here (or the gateway's, for a backend in
	// another network), counted per service backend; a backend reaching
	// its own service is also SNATed to the service address.
	TableServiceBackend Table = 41
	// TableServiceAffinity holds what the datapath learned: client ->
	// backend of services with affinity_seconds (learned flows, expiring
	// when idle); TableServiceSticky uses a learned backend or the group.
	TableServiceAffinity Table = 42
	TableServiceSticky   Table = 43
	// TableServiceHairpin re-tracks a self-hairpinned packet in its
	// network zone after the hairpin zone translated it.
	TableServiceHairpin Table = 44
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
	// TableIngressPolicy is TableEgressPolicy for the receiving port,
	// between ingress_acl and commit.
	TableIngressPolicy Table = 61
	// TableCommit commits new connections that a stateful side allowed,
	// recording the allowing rule ids in ct_label.
	TableCommit Table = 70
	// TableOutput sends the packet to the destination port, or hands it
	// to the router stage.
	TableOutput Table = 80

	// The router stage (docs/router.md explains each table and why its
	// flows exist). A routed packet re-enters the pipeline at
	// TableConntrack of its destination network (docs/pipeline.md, "The
	// router seam").
	//
	// TableRouterEntry: packets for the router arrive here from
	// TableOutput (internal ports, destination the gateway MAC) and from
	// TableClassify (the uplink). ARP for external and floating addresses
	// is answered; an internal packet's "reply" state in its network
	// zone is saved.
	TableRouterEntry Table = 90
	// TableRouterUnSNAT: ct(zone=SNAT, nat) for packets addressed to a
	// router-owned external address, i.e. replies of SNATed connections.
	TableRouterUnSNAT Table = 91
	// TableRouterDNATTrack: ct(zone=DNAT, nat) for every routed IP packet.
	TableRouterDNATTrack Table = 92
	// TableRouterDNAT: new connections to floating IPs and port forwards
	// are committed with nat(dst=...).
	TableRouterDNAT Table = 93
	// TableRouterRoute: longest-prefix routing, dec_ttl, source MAC.
	TableRouterRoute Table = 94
	// TableRouterNeighbour: destination MAC of internal addresses.
	TableRouterNeighbour Table = 95
	// TableRouterSNATTrack: ct(zone=SNAT, nat) toward the uplink, and the
	// hairpin SNAT of DNATed packets routed back into their own network.
	TableRouterSNATTrack Table = 96
	// TableRouterSNAT: new outbound connections are committed with
	// nat(src=...): a port's floating IP first, else its network's SNAT.
	TableRouterSNAT Table = 97
	// TableRouterOutput: out of the uplink, or back into the pipeline at
	// TableConntrack of the destination network.
	TableRouterOutput Table = 98
)

// tableInfo describes a table for docs, traces and the default flows.
type tableInfo struct {
	Table Table
	Name  string
	// Miss is what happens to a packet no other flow of the table takes:
	// the table's lowest-priority flow goes there, or drops when Miss is
	// nil, so that drop counters show up in dump-flows.
	Miss *Table
	// Router: a table of the router stage. Its miss flow is written only
	// when the intent has a router, except router's own (the entry): the
	// output table's flow for the router points there in every pipeline.
	Router bool
	// Policy: a table of the admin policies. Its miss flow ("no rule
	// matched: pass to the groups") is written by the policies' unit, and
	// only when the intent has policies.
	Policy bool
	// Service: a table of the service stage other than service_lb; its
	// miss flow is written by the services' unit when the intent has
	// services.
	Service bool
}

func missTo(t Table) *Table { return &t }

// tables lists every table the compiler writes, in packet order.
var tables = []tableInfo{
	{TableClassify, "classify", nil, false, false, false},
	{TablePortSecurity, "port_security", nil, false, false, false},
	{TableConntrack, "conntrack", missTo(TableEgressACL), false, false, false}, // non-IP is not tracked
	{TableEgressACL, "egress_acl", nil, false, false, false},
	{TableEgressPolicy, "egress_policy", nil, false, true, false},              // no rule matched: pass (policy.go)
	{TableServiceLB, "service_lb", missTo(TableL2Lookup), false, false, false}, // not to a service
	{TableServiceBackend, "service_backend", missTo(TableL2Lookup), false, false, true},
	{TableServiceAffinity, "service_affinity", nil, false, false, true}, // no learned backend (a resubmit: on to sticky)
	{TableServiceSticky, "service_sticky", nil, false, false, true},
	{TableServiceHairpin, "service_hairpin", nil, false, false, true}, // not IP
	{TableL2Lookup, "l2_lookup", nil, false, false, false},            // unknown unicast is dropped
	{TableFloodDirect, "flood_direct", nil, false, false, false},      // no such flood node: drop
	{TableFloodFiltered, "flood_filtered", nil, false, false, false},  // no such flood node: drop
	{TableIngressACL, "ingress_acl", nil, false, false, false},
	{TableIngressPolicy, "ingress_policy", nil, false, true, false},
	{TableCommit, "commit", missTo(TableOutput), false, false, false}, // not new, or no stateful side
	{TableOutput, "output", nil, false, false, false},
	{TableRouterEntry, "router", nil, true, false, false},                                  // not for the router: drop
	{TableRouterUnSNAT, "router_unsnat", missTo(TableRouterDNATTrack), true, false, false}, // not to a router address
	{TableRouterDNATTrack, "router_dnat_track", nil, true, false, false},                   // not IP
	{TableRouterDNAT, "router_dnat", missTo(TableRouterRoute), true, false, false},         // not a floating IP or forward
	{TableRouterRoute, "router_route", nil, true, false, false},                            // no route (not IPv4)
	{TableRouterNeighbour, "router_neighbour", nil, true, false, false},                    // no such internal address
	{TableRouterSNATTrack, "router_snat_track", missTo(TableRouterOutput), true, false, false},
	{TableRouterSNAT, "router_snat", missTo(TableRouterOutput), true, false, false}, // nothing to translate
	{TableRouterOutput, "router_output", nil, true, false, false},
}

// IsRouter reports whether t is a table of the router stage.
func (t Table) IsRouter() bool {
	for _, ti := range tables {
		if ti.Table == t {
			return ti.Router
		}
	}
	return false
}

// Name is the stage name of t ("egress_acl"), or "table<N>" for a table
// the pipeline does not declare.
func (t Table) Name() string {
	for _, ti := range tables {
		if ti.Table == t {
			return ti.Name
		}
	}
	return fmt.Sprintf("table%d", uint8(t))
}

// tableMissFlows are the lowest-priority flow of every table: pass on to
// the next table where the stage is optional, drop otherwise. Explicit
// drops (rather than OpenFlow's silent table miss) give every table a
// counter of what it refused.
//
// router selects the router stage's tables (written when the intent has
// a router) or the others.
func tableMissFlows(router bool) []flows.Flow {
	var out []flows.Flow
	for _, ti := range tables {
		if ti.Router != router && ti.Table != TableRouterEntry || router && ti.Table == TableRouterEntry || ti.Policy || ti.Service {
			continue
		}
		f := flows.Flow{Table: uint8(ti.Table), Priority: 0, Cookie: infraCookie(ti.Table)}
		if ti.Miss != nil {
			f.Actions = []flows.Action{goTo(*ti.Miss)}
		}
		out = append(out, f)
	}
	return out
}
