package pipeline

import (
	"github.com/flowgate/flowgate/flows"
)

// The one registry of the pipeline's per-packet registers, conntrack
// mark/label bits and conntrack zones. Nothing else in the compiler picks
// a register or a bit: it names one of these.
//
//	register      bits    meaning                                  set in         read in
//	reg0          0..31   source port (OpenFlow port number;       classify       egress_acl, commit
//	                      RouterPort for packets the router
//	                      hands back)
//	reg1          0..31   destination port (OpenFlow port number   l2_lookup,     ingress_acl, commit, output
//	                      or RouterPort)                           flood tables
//	reg2          0..15   network id = the network's ct zone       classify       conntrack, l2_lookup, commit, flood tables
//	reg2          bit 16  the sender's policies passed the packet     egress_policy  egress_acl
//	                      to its groups (set only around the
//	                      resubmit back to egress_acl, cleared
//	                      when it returns)
//	reg2          bit 17  the same for the receiver's policies        ingress_policy ingress_acl
//	reg2          bit 18  the packet is self-hairpinned through a   service_lb,    output
//	                      service (a backend reached itself): it    service_backend
//	                      leaves by output:IN_PORT
//	reg2          19..31  reserved: per-packet flags of later stages
//	reg3          0..31   id of the egress rule that allowed a     egress_acl,    commit (-> ct_label)
//	                      new connection (0: none, e.g. the       egress_policy
//	                      sender is unfiltered), or of the
//	                      allowing policy rule
//	reg4          0..31   id of the ingress rule that allowed it   ingress_acl    commit (-> ct_label)
//	reg5          bit 0   the router DNATed this packet in the      router_dnat    router_snat_track,
//	                      original direction (floating IP or                       router_snat
//	                      forward): the hairpin SNAT needs to
//	                      know, and the SNAT zone's ct()
//	                      overwrites ct_state
//	reg5          bit 1   the packet was +rpl in its source         router         router_snat
//	                      network's zone: it answers a connection
//	                      opened toward the port and is never
//	                      committed as a new SNAT connection
//	reg5          2..31   free
//	reg6          0..31   network id the router routes the packet   router_route   router_neighbour,
//	                      to, or outUplink (0)                                     router_output
//	reg7                  free
//	reg8          0..15   flood node: the bounded flow of the      l2_lookup,     flood_direct,
//	                      network's flood tree that runs next      flood tables   flood_filtered
//	                      (flood.go). Bit 15 set: a stride
//	                      (it runs up to 64 chunks, then the
//	                      next stride); clear: a chunk (it
//	                      delivers to up to 64 ports). Every
//	                      flow loads it right before it
//	                      resubmits, so a nested flood cannot
//	                      misdirect the rest of the tree
//	reg8          16..31  free
//	reg9          0..15   service key: one service as seen from     service_lb     service_sticky
//	                      one network (also its group id)
//	reg9          16..31  backend the client is sticky to           service_affinity service_sticky
//	                      (affinity), 0: none learned                (learned flows)
//	reg10..reg15          free
//
//	ct_label      0..31   egress rule id of the connection (its originator's side)
//	ct_label      32..63  ingress rule id of the connection (its responder's side)
//	ct_label      64..127 reserved
//	ct_mark       0..31   reserved for the router/NAT stage
//
//	ct zone       0                 unused (the default zone)
//	ct zone       1..0xefff         one per network (NetworkZone)
//	ct zone       0xf000..0xfffe    reserved for routers (DNAT/SNAT zones)
//	ct zone       0xffff            service hairpin: the SNAT of backends reaching themselves
//
// The router's registers (reg5, reg6) are meaningful only inside the
// router stage, between router and router_output.
const (
	regSrcPort          uint8 = 0
	regDstPort          uint8 = 1
	regNetwork          uint8 = 2
	regEgressRuleID     uint8 = 3
	regIngressRuleID    uint8 = 4
	regRouterFlags      uint8 = 5
	regRouterOutNetwork uint8 = 6
	regFloodNode        uint8 = 8
	regService          uint8 = 9
)

// RegSrcPort and RegDstPort are the registers that hold a packet's source
// and destination port, for tools that read flows and traces (inspect).
const (
	RegSrcPort = regSrcPort
	RegDstPort = regDstPort
)

// Bits of reg5 and values of reg6 in the router stage.
const (
	flagRouterDNATed uint32 = 1 << 0
	flagRouterReply  uint32 = 1 << 1
	// outUplink in reg6 means "out of the uplink"; network ids are never 0.
	outUplink uint32 = 0
)

// Bit ranges inside registers and ct_label.
const (
	networkBits uint16 = 16 // reg2[0..15]
	networkMask uint32 = 1<<networkBits - 1

	labelEgressOfs  uint16 = 0  // ct_label[0..31]
	labelIngressOfs uint16 = 32 // ct_label[32..63]
	ruleIDBits      uint16 = 32

	// flagEgressPoliciesDone / flagIngressPoliciesDone (reg2 bits 16,
	// 17): the port's policies passed the packet to the groups.
	flagEgressPoliciesDone  uint32 = 1 << 16
	flagIngressPoliciesDone uint32 = 1 << 17

	// flagServiceHairpin (reg2 bit 18): a self-hairpinned service
	// packet, which the output table returns by output:IN_PORT.
	flagServiceHairpin uint32 = 1 << 18
	// serviceKeyBits: reg9[0..15] the service key, reg9[16..31] the
	// sticky backend.
	serviceKeyBits uint16 = 16
	serviceKeyMask uint32 = 1<<serviceKeyBits - 1

	floodNodeBits uint16 = 16 // reg8[0..15]
	floodNodeMask uint32 = 1<<floodNodeBits - 1
	// floodStrideBit marks a stride node; the other bits number the
	// stride, or the chunk when it is clear.
	floodStrideBit uint32 = 1 << (floodNodeBits - 1)
)

// Conntrack zone ranges.
const (
	firstNetworkZone uint16 = 1
	lastNetworkZone  uint16 = 0xefff
	// FirstRouterZone..LastRouterZone are reserved for the router stage,
	// so router conntrack state never shares a zone with a network.
	FirstRouterZone uint16 = 0xf000
	LastRouterZone  uint16 = 0xfffe
	// ServiceHairpinZone holds the SNAT of connections a backend makes to
	// its own service and lands on itself, apart from the network zones,
	// whose state the security groups read.
	ServiceHairpinZone uint16 = 0xffff
)

// RouterPort is the port number the pipeline uses for "the router" in
// reg0 (packets the router hands back) and reg1 (packets for the router).
// OVS numbers real ports below 0xff00, so it never names a real port.
const RouterPort uint32 = 0xfff0

// Field references for actions.
var (
	fieldSrcPort             = flows.Whole(flows.RegField(regSrcPort))
	fieldDstPort             = flows.Whole(flows.RegField(regDstPort))
	fieldNetwork             = flows.Bits(flows.RegField(regNetwork), 0, networkBits)
	fieldEgressRuleID        = flows.Whole(flows.RegField(regEgressRuleID))
	fieldIngressRuleID       = flows.Whole(flows.RegField(regIngressRuleID))
	fieldFloodNode           = flows.Bits(flows.RegField(regFloodNode), 0, floodNodeBits)
	fieldEgressPoliciesDone  = flows.Bits(flows.RegField(regNetwork), 16, 1)
	fieldIngressPoliciesDone = flows.Bits(flows.RegField(regNetwork), 17, 1)
	fieldServiceHairpin      = flows.Bits(flows.RegField(regNetwork), 18, 1)
	fieldServiceKey          = flows.Bits(flows.RegField(regService), 0, serviceKeyBits)
	fieldServiceBackend      = flows.Bits(flows.RegField(regService), serviceKeyBits, 16)
	labelEgressRuleID        = flows.Bits(flows.FieldCTLabel, labelEgressOfs, ruleIDBits)
	labelIngressRuleID       = flows.Bits(flows.FieldCTLabel, labelIngressOfs, ruleIDBits)
)

// Register matches.

func matchSrcPort(port uint32) flows.RegMatch { return flows.Reg(regSrcPort, port, 0) }
func matchDstPort(port uint32) flows.RegMatch { return flows.Reg(regDstPort, port, 0) }
func matchNetwork(zone uint16) flows.RegMatch {
	return flows.Reg(regNetwork, uint32(zone), networkMask)
}
func matchFloodNode(node uint32) flows.RegMatch {
	return flows.Reg(regFloodNode, node, floodNodeMask)
}

// matchLabelRule matches a rule id in the egress (ofs 0) or ingress
// (ofs 32) half of ct_label's low 64 bits.
func matchLabelRule(ofs uint16, id uint32) *flows.Masked128 {
	return &flows.Masked128{Lo: uint64(id) << ofs, MaskLo: 0xffffffff << ofs}
}
