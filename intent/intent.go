// Package intent is flowgate's user-facing contract: the YAML/JSON document
// that describes ports, networks, security groups, routers and services
// (../docs/intent-reference.md), parsed and validated into typed values.
//
// Parse turns a document into an *Intent or refuses it whole with one error
// per problem. An *Intent is always valid: every reference resolves, every
// address parses, every range is in order, and defaults are filled in. The
// compiler (package pipeline) relies on that and does no checking of its own.
package intent

import (
	"net/netip"
)

// Intent is a validated intent document. Slices keep document order.
type Intent struct {
	Bridge         string
	Datapath       string // auto | system | netdev
	Networks       []Network
	Ports          []Port
	SecurityGroups []SecurityGroup
	Policies       []Policy // document order; the compiler orders them by Priority
	Routers        []Router
	Services       []Service

	// Warnings are what is valid but probably not meant (a policy rule
	// shadowed by an earlier one), in document order, at most maxProblems
	// of them and an entry counting the rest. The document is accepted
	// with them; the controller logs and reports them.
	Warnings []*FieldError
}

// Network is an L2 segment with at most one IPv4 and one IPv6 prefix.
type Network struct {
	Name     string
	CIDR     netip.Prefix // invalid if absent
	CIDR6    netip.Prefix // invalid if absent
	Gateway  netip.Addr   // the router's address here; invalid if unrouted
	Gateway6 netip.Addr
}

// Port is a VM/container NIC; Name equals external_ids:iface-id.
type Port struct {
	Name                string
	Network             string
	MAC                 [6]byte
	IPs                 []netip.Addr
	SecurityGroups      []string
	PortSecurity        bool // default true
	AllowedAddressPairs []AddressPair
	QoS                 QoS
}

// AddressPair is an extra source prefix (and MAC) a port may send from.
type AddressPair struct {
	Prefix netip.Prefix
	MAC    [6]byte // defaults to the port's MAC
}

// QoS limits; 0 means unlimited.
type QoS struct {
	IngressKbps uint32
	EgressKbps  uint32
	BurstKb     uint32
}

// SecurityGroup is a named set of allow rules.
type SecurityGroup struct {
	Name     string
	Stateful bool // default true
	Rules    []Rule
}

// Direction of a rule, seen from the port.
type Direction string

const (
	Ingress Direction = "ingress"
	Egress  Direction = "egress"
)

// EtherType of a rule.
type EtherType string

const (
	IPv4 EtherType = "ipv4"
	IPv6 EtherType = "ipv6"
)

// Protocol numbers; ProtocolAny (-1) means every IP protocol.
const ProtocolAny = -1

// Rule is one allow rule of a security group. Exactly the fields that apply
// are meaningful: Ports only for tcp/udp/sctp, ICMP* only for icmp/icmpv6.
type Rule struct {
	Direction Direction
	EtherType EtherType
	Protocol  int // IP protocol number 0..255, or ProtocolAny
	// Ports is the inclusive destination port range; zero means all ports.
	PortMin, PortMax uint16
	ICMPType         *uint8
	ICMPCode         *uint8
	// At most one of RemoteCIDR / RemoteGroup is set; neither means any.
	RemoteCIDR  netip.Prefix
	RemoteGroup string
}

// RuleKey is what makes two rules the same rule: every field of Rule, in
// a comparable value (ICMP type and code -1 when unset). Duplicate checks
// and everything else that asks "same rule?" compare RuleKeys, so a field
// added to Rule must be added here (TestRuleKeyCoversEveryField fails
// until it is).
type RuleKey struct {
	Direction          Direction
	EtherType          EtherType
	Protocol           int
	PortMin, PortMax   uint16
	ICMPType, ICMPCode int
	RemoteCIDR         netip.Prefix
	RemoteGroup        string
}

// Key returns r's RuleKey.
func (r Rule) Key() RuleKey {
	k := RuleKey{Direction: r.Direction, EtherType: r.EtherType, Protocol: r.Protocol,
		PortMin: r.PortMin, PortMax: r.PortMax, ICMPType: -1, ICMPCode: -1,
		RemoteCIDR: r.RemoteCIDR, RemoteGroup: r.RemoteGroup}
	if r.ICMPType != nil {
		k.ICMPType = int(*r.ICMPType)
	}
	if r.ICMPCode != nil {
		k.ICMPCode = int(*r.ICMPCode)
	}
	return k
}

// Policy is an admin policy: ordered rules above the security groups of
// the ports it applies to (../docs/intent-reference.md, "policies[]").
type Policy struct {
	Name string
	// Priority orders policies: lower is evaluated first. Unique.
	Priority  uint16
	AppliesTo PolicyTarget
	Rules     []PolicyRule
}

// PolicyTarget says which ports a policy applies to: every filtered,
// stateful port (All), or the members of Groups and the Ports named.
type PolicyTarget struct {
	All    bool
	Groups []string
	Ports  []string
}

// PolicyAction is what a policy rule does with what it matches.
type PolicyAction string

const (
	ActionAllow  PolicyAction = "allow"
	ActionDeny   PolicyAction = "deny"
	ActionReject PolicyAction = "reject"
	ActionPass   PolicyAction = "pass"
)

// PolicyRule is one rule of a policy: an action for what Match matches
// (the match keys of a security-group rule).
type PolicyRule struct {
	Action PolicyAction
	Match  Rule
	Log    bool
	// Shadowed: an earlier rule of the policy matches everything this one
	// does, so it never decides (a warning); the compiler gives it no flows.
	Shadowed bool
}

// Router joins internal networks to an external network and does NAT.
type Router struct {
	Name string
	// Host is the gateway host whose controller runs the router in an
	// overlay (its uplink is bound there); "" = the host the uplink is
	// bound on. Without an overlay the one host runs every router.
	Host         string
	Networks     []string
	External     External
	SNAT         []SNAT
	FloatingIPs  []FloatingIP
	PortForwards []PortForward
}

// External is the router's uplink.
type External struct {
	Port    string // iface-id of the uplink port
	MAC     [6]byte
	IP      netip.Prefix // address and on-link prefix, e.g. 192.0.2.10/24
	Gateway netip.Addr   // next hop for everything not internal
	// IP6 and Gateway6 route IPv6 to the outside (optional; never NATed):
	// the router's address on the uplink and the IPv6 next hop, at the
	// same MAC as Gateway.
	IP6        netip.Prefix
	Gateway6   netip.Addr
	GatewayMAC *[6]byte // static next-hop MAC; nil = learn by ARP
}

// SNAT is masquerade of a network's sources to one external address.
type SNAT struct {
	Network          string
	To               netip.Addr
	PortMin, PortMax uint16 // defaults 1024-65535
}

// FloatingIP is a 1:1 mapping of an external address to a port's first IPv4.
type FloatingIP struct {
	Port string
	IP   netip.Addr
}

// PortForward maps external IP:port to a port's internal address and port.
type PortForward struct {
	Protocol     int // ProtoTCP or ProtoUDP
	IP           netip.Addr
	ExternalPort uint16
	Port         string
	InternalPort uint16
}

// Service is a load-balanced virtual ip:port.
type Service struct {
	Name            string
	VIP             netip.Addr
	Protocol        int
	Port            uint16
	Backends        []Backend
	AffinitySeconds uint32
}

// Backend is one target of a service.
type Backend struct {
	Port       string
	TargetPort uint16
	Weight     uint32 // default 1
}

// IP protocol numbers for Rule.Protocol, PortForward.Protocol, Service.Protocol.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// Lookup helpers; each returns nil when the name is unknown.

func (in *Intent) Network(name string) *Network {
	for i := range in.Networks {
		if in.Networks[i].Name == name {
			return &in.Networks[i]
		}
	}
	return nil
}

func (in *Intent) Port(name string) *Port {
	for i := range in.Ports {
		if in.Ports[i].Name == name {
			return &in.Ports[i]
		}
	}
	return nil
}

func (in *Intent) SecurityGroup(name string) *SecurityGroup {
	for i := range in.SecurityGroups {
		if in.SecurityGroups[i].Name == name {
			return &in.SecurityGroups[i]
		}
	}
	return nil
}

func (in *Intent) Router(name string) *Router {
	for i := range in.Routers {
		if in.Routers[i].Name == name {
			return &in.Routers[i]
		}
	}
	return nil
}
