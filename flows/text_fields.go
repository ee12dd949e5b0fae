package flows

import "fmt"

// fieldText is everything the text form needs to know about a Field: the
// names ovs-ofctl uses for it, its width, how set_field prints a value of
// it, and which match it needs before OVS lets an action touch it.
type fieldText struct {
	nxm    string // in load:/move:/output: subfields, e.g. "NXM_NX_REG0"
	oxm    string // after "->" in set_field:, e.g. "reg0"
	width  uint16 // bits
	format valueFormat
	prereq fieldPrereq
}

// valueFormat is how ovs-ofctl prints a whole-field set_field value
// (mf_format in lib/meta-flow.c).
type valueFormat uint8

const (
	valueHex     valueFormat = iota // "0x5", and "0" for zero
	valueDecimal                    // "80"
	valueIPv4                       // "10.0.0.1"
	valueIPv6                       // "fd00::1"
	valueMAC                        // "02:00:00:00:00:01"
)

// fieldPrereq is what a flow's match must contain before OVS accepts an
// action that reads or writes the field (OFPBAC_MATCH_INCONSISTENT
// otherwise), or, for conntrack fields, where they may be written.
type fieldPrereq uint8

const (
	prereqNone     fieldPrereq = iota
	prereqIP                   // ip or ipv6
	prereqIPv4                 // ip
	prereqIPv6                 // ipv6
	prereqARP                  // arp
	prereqTCP                  // tcp or tcp6
	prereqUDP                  // udp or udp6
	prereqICMPv4               // icmp
	prereqICMPv6               // icmp6
	prereqNDTarget             // icmp6 with icmp_type 135 or 136
	prereqNDTll                // icmp6 with icmp_type 136
	prereqCTExec               // writable only inside ct(commit,exec(...))
)

// fieldTexts maps every Field of the IR to its text form. FieldTPSrc and
// FieldTPDst are the TCP ports: OVS itself resolves the tp_src/tp_dst
// aliases to tcp_src/tcp_dst in actions, so a UDP or SCTP port cannot be
// written through them.
var fieldTexts = buildFieldTexts()

func buildFieldTexts() map[Field]fieldText {
	m := map[Field]fieldText{
		FieldMetadata: {"OXM_OF_METADATA", "metadata", 64, valueHex, prereqNone},
		FieldCTMark:   {"NXM_NX_CT_MARK", "ct_mark", 32, valueHex, prereqCTExec},
		FieldCTLabel:  {"NXM_NX_CT_LABEL", "ct_label", 128, valueHex, prereqCTExec},
		FieldEthSrc:   {"NXM_OF_ETH_SRC", "eth_src", 48, valueMAC, prereqNone},
		FieldEthDst:   {"NXM_OF_ETH_DST", "eth_dst", 48, valueMAC, prereqNone},
		FieldIPv4Src:  {"NXM_OF_IP_SRC", "ip_src", 32, valueIPv4, prereqIPv4},
		FieldIPv4Dst:  {"NXM_OF_IP_DST", "ip_dst", 32, valueIPv4, prereqIPv4},
		FieldIPv6Src:  {"NXM_NX_IPV6_SRC", "ipv6_src", 128, valueIPv6, prereqIPv6},
		FieldIPv6Dst:  {"NXM_NX_IPV6_DST", "ipv6_dst", 128, valueIPv6, prereqIPv6},
		FieldARPOp:    {"NXM_OF_ARP_OP", "arp_op", 16, valueDecimal, prereqARP},
		FieldARPSha:   {"NXM_NX_ARP_SHA", "arp_sha", 48, valueMAC, prereqARP},
		FieldARPTha:   {"NXM_NX_ARP_THA", "arp_tha", 48, valueMAC, prereqARP},
		FieldARPSpa:   {"NXM_OF_ARP_SPA", "arp_spa", 32, valueIPv4, prereqARP},
		FieldARPTpa:   {"NXM_OF_ARP_TPA", "arp_tpa", 32, valueIPv4, prereqARP},
		// in_port in set_field is the 16-bit NXM_OF_IN_PORT; OVS rejects
		// a set_field of the 32-bit OXM in_port.
		FieldInPort:     {"NXM_OF_IN_PORT", "in_port", 16, valueDecimal, prereqNone},
		FieldTPSrc:      {"NXM_OF_TCP_SRC", "tcp_src", 16, valueDecimal, prereqTCP},
		FieldTPDst:      {"NXM_OF_TCP_DST", "tcp_dst", 16, valueDecimal, prereqTCP},
		FieldICMPType:   {"NXM_OF_ICMP_TYPE", "icmp_type", 8, valueDecimal, prereqICMPv4},
		FieldICMPv6Type: {"NXM_NX_ICMPV6_TYPE", "icmpv6_type", 8, valueDecimal, prereqICMPv6},
		FieldNDTarget:   {"NXM_NX_ND_TARGET", "nd_target", 128, valueIPv6, prereqNDTarget},
		FieldNDTll:      {"NXM_NX_ND_TLL", "nd_tll", 48, valueMAC, prereqNDTll},
		// For learn specs: a learned flow's match needs these before the
		// fields that depend on them. OVS prints eth_type in hex.
		FieldEthType: {"NXM_OF_ETH_TYPE", "eth_type", 16, valueHex, prereqNone},
		FieldIPProto: {"NXM_OF_IP_PROTO", "nw_proto", 8, valueDecimal, prereqIP},
		FieldUDPDst:  {"NXM_OF_UDP_DST", "udp_dst", 16, valueDecimal, prereqUDP},
		// Tunnel metadata: any packet has it (all zero when it did not
		// arrive over a tunnel), and any flow may set it.
		FieldTunID:      {"NXM_NX_TUN_ID", "tun_id", 64, valueHex, prereqNone},
		FieldTunSrc:     {"NXM_NX_TUN_IPV4_SRC", "tun_src", 32, valueIPv4, prereqNone},
		FieldTunDst:     {"NXM_NX_TUN_IPV4_DST", "tun_dst", 32, valueIPv4, prereqNone},
		FieldTunIPv6Src: {"NXM_NX_TUN_IPV6_SRC", "tun_ipv6_src", 128, valueIPv6, prereqNone},
		FieldTunIPv6Dst: {"NXM_NX_TUN_IPV6_DST", "tun_ipv6_dst", 128, valueIPv6, prereqNone},
	}
	for i := uint8(0); i < 16; i++ {
		m[RegField(i)] = fieldText{fmt.Sprintf("NXM_NX_REG%d", i), fmt.Sprintf("reg%d", i), 32, valueHex, prereqNone}
	}
	return m
}

// fieldReadOnly reports whether OVS refuses writes to f ("destination
// field eth_type is not writable"): a packet's EtherType and IP protocol
// can be matched, not rewritten.
func fieldReadOnly(f Field) bool { return f == FieldEthType || f == FieldIPProto }

// fieldsByNXM and fieldsByOXM invert fieldTexts for the parser.
var (
	fieldsByNXM = indexFieldTexts(func(t fieldText) string { return t.nxm })
	fieldsByOXM = indexFieldTexts(func(t fieldText) string { return t.oxm })
)

func indexFieldTexts(name func(fieldText) string) map[string]Field {
	idx := make(map[string]Field, len(fieldTexts))
	for f, t := range fieldTexts {
		idx[name(t)] = f
	}
	return idx
}

// fieldName is the field's NXM/OXM name as ovs-ofctl prints it in subfields.
// FieldName is the field's NXM/OXM name as ovs-ofctl prints it
// ("NXM_NX_REG0"), for messages about a field.
func FieldName(f Field) string { return fieldName(f) }

func fieldName(f Field) string {
	if t, ok := fieldTexts[f]; ok {
		return t.nxm
	}
	return fmt.Sprintf("Field(%d)", uint8(f))
}
