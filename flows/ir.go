// Package flows is flowgate's OpenFlow flow IR: the Flow value the compiler
// produces, its canonical ovs-ofctl text form, its validation, and the diff
// between two flow sets. It does no I/O: the OpenFlow 1.3 wire form, the
// connection to the switch, bundles, dumps and the Syncer are in package
// openflow, so the compiler (package pipeline), which imports only this
// package, cannot talk to a switch.
//
// A Flow's identity on the switch is (table, priority, match); Key returns
// it in canonical text so that sets of flows can be compared exactly the way
// OVS compares them.
package flows

import (
	"net"
	"net/netip"
)

// Flow is one OpenFlow flow entry.
type Flow struct {
	Table    uint8
	Priority uint16
	Cookie   uint64
	Match    Match
	Actions  []Action // empty means drop
}

// FlowStats are the counters of one dumped flow.
type FlowStats struct {
	Packets uint64 // n_packets
	Bytes   uint64 // n_bytes
}

// EtherTypes used in matches.
const (
	EthTypeIPv4 uint16 = 0x0800
	EthTypeARP  uint16 = 0x0806
	EthTypeIPv6 uint16 = 0x86dd
)

// IP protocol numbers used in matches.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// MAC is an Ethernet address; the zero value is never a valid match value
// on its own (use a nil *MACMatch for "any").
type MAC [6]byte

// ParseMAC parses "02:00:0a:00:00:0b".
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		if err == nil {
			err = &net.AddrError{Err: "not a 48-bit MAC", Addr: s}
		}
		return MAC{}, err
	}
	var m MAC
	copy(m[:], hw)
	return m, nil
}

// MustMAC is ParseMAC for constants in code and tests.
func MustMAC(s string) MAC {
	m, err := ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// Well-known MAC values.
var (
	MACBroadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// MACMulticastBit as a mask matches every group (broadcast and
	// multicast) address when used with value MACMulticastBit.
	MACMulticastBit = MAC{0x01, 0, 0, 0, 0, 0}
)

// MACMatch matches an Ethernet address, optionally under a mask.
// A zero Mask means exact match.
type MACMatch struct {
	Addr MAC
	Mask MAC
}

// Masked32 matches a 32-bit field under a mask. A zero Mask means exact.
type Masked32 struct{ Value, Mask uint32 }

// Masked64 matches a 64-bit field under a mask. A zero Mask means exact.
type Masked64 struct{ Value, Mask uint64 }

// Masked128 matches a 128-bit field (ct_label) as hi/lo halves.
// A zero mask (both halves) means exact.
type Masked128 struct{ Hi, Lo, MaskHi, MaskLo uint64 }

// PortMatch matches a transport port under a mask (tp_src/tp_dst).
// A zero Mask means exact. Port ranges compile to several PortMatches.
type PortMatch struct{ Port, Mask uint16 }

// RegMatch matches NXM_NX_REG<Index> (0..15) under a mask.
type RegMatch struct {
	Index uint8
	Masked32
}

// CTState bits, as in ovs-fields(7).
const (
	CTNew  uint32 = 0x01
	CTEst  uint32 = 0x02
	CTRel  uint32 = 0x04
	CTRpl  uint32 = 0x08
	CTInv  uint32 = 0x10
	CTTrk  uint32 = 0x20
	CTSNAT uint32 = 0x40
	CTDNAT uint32 = 0x80
)

// CTStateMatch requires the bits in Set to be 1 and those in Clear to be 0
// ("+trk+new-est" is {Set: CTTrk|CTNew, Clear: CTEst}). Zero means any.
type CTStateMatch struct{ Set, Clear uint32 }

// Match is the set of match fields of a flow. Zero values mean "any":
// 0 for InPort and EthType, nil pointers, invalid netip values, empty slices.
// Setting a layer-3/4 field requires the EthType/IPProto it depends on,
// exactly as OpenFlow prerequisites do; the text and wire encoders reject
// a match whose prerequisites are missing.
type Match struct {
	InPort   uint32 // OpenFlow port number; 0 = any
	Metadata *Masked64
	Regs     []RegMatch // at most one per register, any order

	// Tunnel metadata of a packet that arrived on a tunnel port (Geneve,
	// VXLAN): TunID is the tunnel key, which carries the network between
	// hosts (tun_id; Geneve and VXLAN carry its low 24 bits, the VNI);
	// TunSrc and TunDst are the outer IP addresses, exact, both of one
	// family: tun_src/tun_dst for IPv4, tun_ipv6_src/tun_ipv6_dst for IPv6.
	// A packet that did not arrive over a tunnel has them all zero.
	TunID  *Masked64
	TunSrc netip.Addr
	TunDst netip.Addr

	CTState CTStateMatch
	CTZone  *uint16
	CTMark  *Masked32
	CTLabel *Masked128
	// CTNwSrc/CTNwDst match the addresses of the connection's original
	// direction tuple (ct_nw_src/ct_nw_dst, or ct_ipv6_src/ct_ipv6_dst for
	// IPv6 prefixes): for a reply they name the originator, not the packet's
	// source. They need ct_state with +trk and the EthType of their family.
	CTNwSrc netip.Prefix
	CTNwDst netip.Prefix
	// CTNwProto and CTTpDst match the original direction's IP protocol
	// and destination port (ct_nw_proto, ct_tp_dst): with CTNwDst they
	// name the service address a DNATed connection was made to.
	CTNwProto *uint8
	CTTpDst   *uint16
	ConjID    *uint32

	EthSrc  *MACMatch
	EthDst  *MACMatch
	VLANID  *uint16 // 802.1Q VID (dl_vlan); nil = any
	EthType uint16

	// IPv4 (EthType 0x0800) or IPv6 (0x86dd) source/destination prefix.
	IPSrc netip.Prefix
	IPDst netip.Prefix
	// IPProto requires EthType IPv4 or IPv6.
	IPProto *uint8
	// IPTTL is the IPv4 TTL or the IPv6 hop limit (nw_ttl); it requires
	// EthType IPv4 or IPv6.
	IPTTL *uint8
	// TPSrc/TPDst require IPProto TCP, UDP or SCTP.
	TPSrc *PortMatch
	TPDst *PortMatch
	// ICMPType/ICMPCode require IPProto ICMP (v4) or ICMPv6 (v6).
	ICMPType *uint8
	ICMPCode *uint8

	// ARP fields require EthType ARP.
	ARPOp  *uint16
	ARPSpa netip.Prefix
	ARPTpa netip.Prefix
	ARPSha *MACMatch
	ARPTha *MACMatch

	// Neighbour discovery fields require ICMPv6 type 135 or 136.
	NDTarget netip.Addr
	NDSll    *MAC
	NDTll    *MAC
}

// Helpers to build optional match values inline.

func U8(v uint8) *uint8    { return &v }
func U16(v uint16) *uint16 { return &v }
func U32(v uint32) *uint32 { return &v }

// Exact32 and Masked build register/ct_mark matches.
func Exact32(v uint32) *Masked32    { return &Masked32{Value: v} }
func Mask32(v, m uint32) *Masked32  { return &Masked32{Value: v, Mask: m} }
func ExactMAC(m MAC) *MACMatch      { return &MACMatch{Addr: m} }
func MaskedMAC(a, m MAC) *MACMatch  { return &MACMatch{Addr: a, Mask: m} }
func ExactPort(p uint16) *PortMatch { return &PortMatch{Port: p} }
func Reg(i uint8, v, m uint32) RegMatch {
	return RegMatch{Index: i, Masked32: Masked32{Value: v, Mask: m}}
}

// Action is one OpenFlow action or instruction. The concrete types below
// are the whole set; the text and wire encoders switch over them.
type Action interface{ isAction() }

// Special OpenFlow port numbers for Output.
const (
	PortInPort     uint32 = 0xfffffff8 // IN_PORT
	PortTable      uint32 = 0xfffffff9
	PortNormal     uint32 = 0xfffffffa
	PortFlood      uint32 = 0xfffffffb
	PortAll        uint32 = 0xfffffffc
	PortController uint32 = 0xfffffffd
	PortLocal      uint32 = 0xfffffffe
)

// Output sends the packet to an OpenFlow port (or a special port above).
type Output struct{ Port uint32 }

// OutputReg sends the packet to the port number held in a field
// ("output:NXM_NX_REG1[]").
type OutputReg struct{ Field FieldRef }

// Goto is the goto_table instruction; it must be the last action.
type Goto struct{ Table uint8 }

// Resubmit re-runs the packet through Table ("resubmit(,T)") and continues
// with the following actions afterwards.
type Resubmit struct{ Table uint8 }

// Drop is an explicit "actions=drop"; same as no actions.
type Drop struct{}

// DecTTL decrements the IP TTL / hop limit, dropping (and not sending an
// ICMP error, as no controller is listening for it) when it reaches zero.
type DecTTL struct{}

// SetEthSrc / SetEthDst rewrite the Ethernet addresses (mod_dl_src/dst).
type SetEthSrc struct{ MAC MAC }
type SetEthDst struct{ MAC MAC }

// Load writes Value into Field ("load:" / "set_field:" in ovs-ofctl).
type Load struct {
	Field FieldRef
	Value uint64
}

// SetTunnel sets the outer source or destination address a packet output
// to a flow-based tunnel port (options:remote_ip=flow) is encapsulated
// with: set_field:ADDR->tun_dst for an IPv4 address, ->tun_ipv6_dst for
// an IPv6 one; with Src, tun_src or tun_ipv6_src. The unspecified address
// (0.0.0.0 or ::) clears the field; a cleared source leaves the outer
// source to the route the tunnel port takes to the destination.
//
// Each family has its own fields in OVS, and setting one does not clear
// the other: when both tun_dst and tun_ipv6_dst are set, OVS sends to the
// IPv4 one (flow_tnl_dst in lib/packets.c). A packet that arrived over an
// IPv4 tunnel still carries its tun_dst, so a flow that sends it on over
// IPv6 clears tun_dst with a SetTunnel of 0.0.0.0 (and tun_src likewise).
//
// A Load into the whole FieldTunSrc/FieldTunDst/FieldTunIPv6Src/
// FieldTunIPv6Dst prints the same; the text and wire decoders return
// SetTunnel.
type SetTunnel struct {
	Src  bool
	Addr netip.Addr
}

// Move copies Src into Dst (bit widths must be equal).
type Move struct{ Src, Dst FieldRef }

// Conjunction is one clause of a conjunctive match (ovs-fields(7)).
type Conjunction struct {
	ID       uint32
	Clause   uint8 // 1-based
	NClauses uint8
}

// Group sends the packet to an OpenFlow group.
type Group struct{ ID uint32 }

// Meter applies an OpenFlow meter (an instruction; placed first).
type Meter struct{ ID uint32 }

// GroupDesc is an OpenFlow select group (ovs-ofctl dump-groups): each
// new packet that reaches it runs the actions of one bucket, chosen by a
// hash of the packet in proportion to the buckets' weights.
type GroupDesc struct {
	ID      uint32
	Buckets []Bucket
}

// Bucket is one choice of a select group.
type Bucket struct {
	Weight  uint16
	Actions []Action
}

// Learn adds or refreshes a flow in Table built from the packet at hand
// (NXAST_LEARN): its match is Specs' matches, its actions Specs' loads.
// The learned flow is the datapath's own: it expires after IdleTimeout /
// HardTimeout seconds (0 = never) and the controller does not manage it.
type Learn struct {
	Table                    uint8
	Priority                 uint16
	IdleTimeout, HardTimeout uint16
	Cookie                   uint64
	Specs                    []LearnSpec
}

// LearnSpec is one part of a learned flow. Load false: the learned flow
// matches Dst against Src's current value (Src nil: against Value).
// Load true: the learned flow loads Value (or Src's current value) into
// Dst. Src and Dst have the same width.
type LearnSpec struct {
	Load  bool
	Src   *FieldRef
	Value uint64
	Dst   FieldRef
}

// Controller sends the packet to the controller.
type Controller struct {
	MaxLen uint16 // 0 = whole packet
	// Reason is the OpenFlow packet-in reason the controller receives
	// (ofp_packet_in_reason, one of the PacketIn constants). The zero
	// value is OpenFlow's "no_match"; a pipeline punting a packet on
	// purpose wants PacketInAction.
	Reason uint8
}

// Packet-in reasons for Controller.Reason, as numbered by OpenFlow 1.3 and
// OVS (ovs-ofctl prints their names in controller(reason=...)).
const (
	PacketInNoMatch    uint8 = 0
	PacketInAction     uint8 = 1
	PacketInInvalidTTL uint8 = 2
	PacketInActionSet  uint8 = 3
	PacketInGroup      uint8 = 4
	PacketInPacketOut  uint8 = 5
)

// CT sends the packet through the connection tracker (ovs-actions(7)).
type CT struct {
	Commit bool
	Force  bool
	Zone   uint16
	// ZoneField, when set, takes the zone from a field (e.g. a register)
	// instead of Zone.
	ZoneField *FieldRef
	// Table, when set, recirculates the packet to this table after
	// tracking; nil means the ct() action does not recirculate.
	Table *uint8
	// NAT, when set, adds nat(...); an empty NAT{} is plain "nat", which
	// un-NATs replies and applies established translations.
	NAT *NAT
	// Exec are the actions inside exec(...): only Loads or Moves into
	// CTMark/CTLabel (a Move copies e.g. a register into ct_label).
	Exec []Action
}

// NATKind says which address a NAT rewrites.
type NATKind uint8

const (
	NATNone NATKind = iota // plain "nat": apply existing translations only
	NATSrc
	NATDst
)

// NAT is the nat(...) clause of a CT action.
type NAT struct {
	Kind             NATKind
	AddrMin, AddrMax netip.Addr // AddrMax invalid = single address
	PortMin, PortMax uint16     // 0 = no port range
	Random           bool
	Persistent       bool
	Hash             bool
}

func (Output) isAction()      {}
func (OutputReg) isAction()   {}
func (Goto) isAction()        {}
func (Resubmit) isAction()    {}
func (Drop) isAction()        {}
func (DecTTL) isAction()      {}
func (SetEthSrc) isAction()   {}
func (SetEthDst) isAction()   {}
func (SetTunnel) isAction()   {}
func (Load) isAction()        {}
func (Move) isAction()        {}
func (Conjunction) isAction() {}
func (Group) isAction()       {}
func (Meter) isAction()       {}
func (Controller) isAction()  {}
func (CT) isAction()          {}
func (Learn) isAction()       {}

// Field identifies a packet or metadata field for Load/Move/OutputReg.
type Field uint8

const (
	FieldReg0 Field = iota // NXM_NX_REG0 .. REG15 are FieldReg0+i
	_
	_
	_
	_
	_
	_
	_
	_
	_
	_
	_
	_
	_
	_
	FieldReg15
	FieldMetadata
	FieldCTMark
	FieldCTLabel
	FieldEthSrc
	FieldEthDst
	FieldIPv4Src
	FieldIPv4Dst
	FieldIPv6Src
	FieldIPv6Dst
	FieldARPOp
	FieldARPSha
	FieldARPTha
	FieldARPSpa
	FieldARPTpa
	FieldInPort
	// FieldTPSrc/FieldTPDst are the TCP ports (OVS resolves tp_src/tp_dst
	// to tcp_src/tcp_dst in actions); FieldICMPType is the ICMPv4 type.
	FieldTPSrc
	FieldTPDst
	FieldICMPType
	FieldNDTarget
	FieldNDTll
	// FieldEthType, FieldIPProto and FieldUDPDst are for Learn specs (a
	// learned flow's match needs its prerequisites).
	FieldEthType
	FieldIPProto
	FieldUDPDst
	// The tunnel metadata (tun_id, tun_src, tun_dst, tun_ipv6_src,
	// tun_ipv6_dst). A Load sets the key a packet output to a flow-based
	// tunnel port (options:key=flow, remote_ip=flow) is encapsulated
	// with, SetTunnel its outer addresses; a Move from FieldTunID copies
	// the key a packet arrived with, e.g. into a register.
	FieldTunID
	FieldTunSrc
	FieldTunDst
	FieldTunIPv6Src
	FieldTunIPv6Dst
	// FieldICMPv6Type is the ICMPv6 type (an echo request becomes its
	// reply in the datapath; OVS updates the checksum).
	FieldICMPv6Type
)

// RegField returns the Field for register i (0..15).
func RegField(i uint8) Field { return FieldReg0 + Field(i) }

// FieldRef names bits [Ofs, Ofs+Bits) of a field; Bits 0 means the whole field.
type FieldRef struct {
	Field Field
	Ofs   uint16
	Bits  uint16
}

// Whole refers to all bits of f.
func Whole(f Field) FieldRef { return FieldRef{Field: f} }

// Bits refers to bits [ofs, ofs+n) of f.
func Bits(f Field, ofs, n uint16) FieldRef { return FieldRef{Field: f, Ofs: ofs, Bits: n} }
