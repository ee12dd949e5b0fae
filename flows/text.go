package flows

// The text form of a flow is the line `ovs-ofctl -O OpenFlow13 dump-flows
// --no-stats` prints for it (without the leading space), byte for byte, so
// that what flowgate logs, diffs and golden-tests is what an operator sees on
// the switch. The field order and number formats follow OVS 3.1
// (match_format in lib/match.c, ofpacts_format in lib/ofp-actions.c) and were
// checked against a running ovs-vswitchd; the round-trip property test keeps
// them honest.
//
// Where OVS prints one action in more than one way, depending on how it was
// encoded on the wire, the text form prints what the wire encoder sends:
//
//   - Load into a whole field (FieldRef.Bits == 0) is an OXM set-field and
//     prints as "set_field:<value>-><oxm name>"; Load into explicit bits
//     (Bits > 0, even all of them) is a Nicira reg_load and prints as
//     "load:<hex>-><NXM name>[a..b]".
//   - SetEthSrc/SetEthDst are OXM set-fields ("set_field:<mac>->eth_src");
//     OpenFlow 1.3 has no mod_dl_src.
//   - SetTunnel prints "set_field:<addr>->tun_dst" (tun_src, or
//     tun_ipv6_dst/tun_ipv6_src for an IPv6 address), as a Load into the
//     whole field does; the parser returns SetTunnel.
//   - Controller with reason action prints as "CONTROLLER:<max_len>", any
//     other reason as "controller(reason=...)"; Output to PortController is
//     not used (Validate rejects it) because OVS prints it like Controller.
//   - An empty action list and a lone Drop both print as "drop".

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPriority is OpenFlow's default flow priority; ovs-ofctl omits
// "priority=" when a flow has it.
const DefaultPriority uint16 = 0x8000

// String renders f in canonical ovs-ofctl text form.
func (f Flow) String() string {
	b := make([]byte, 0, 160)
	if f.Cookie != 0 {
		b = append(b, "cookie=0x"...)
		b = strconv.AppendUint(b, f.Cookie, 16)
		b = append(b, ", "...)
	}
	if f.Table != 0 {
		b = append(b, "table="...)
		b = strconv.AppendUint(b, uint64(f.Table), 10)
		b = append(b, ", "...)
	}
	n := len(b)
	b = appendMatch(b, f.Match, f.Priority)
	if len(b) > n {
		b = append(b, ' ')
	}
	b = append(b, "actions="...)
	b = append(b, ActionsString(f.Actions)...)
	return string(b)
}

// Key is the flow's identity on the switch: table, priority and match.
// Two flows with the same Key cannot coexist; adding one replaces the other.
// It is built without fmt: a compile keys every flow it makes.
func (f Flow) Key() string {
	b := make([]byte, 0, 96)
	b = append(b, "table="...)
	b = strconv.AppendUint(b, uint64(f.Table), 10)
	b = append(b, ",priority="...)
	b = strconv.AppendUint(b, uint64(f.Priority), 10)
	n := len(b)
	b = append(b, ',')
	b = appendMatch(b, f.Match, DefaultPriority)
	if len(b) == n+1 {
		b = b[:n]
	}
	return string(b)
}

// String renders the match alone, as ovs-ofctl prints it for a flow of
// default priority ("" matches everything).
func (m Match) String() string { return string(appendMatch(nil, m, DefaultPriority)) }

// formatMatch is the match as ovs-ofctl prints it for a flow of priority.
func formatMatch(m Match, priority uint16) string { return string(appendMatch(nil, m, priority)) }

// matchWriter appends comma-separated name=value items.
type matchWriter struct {
	b     []byte
	first bool
}

func (w *matchWriter) name(n string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, n...)
}

func (w *matchWriter) dec(n string, v uint64) {
	w.name(n)
	w.b = append(w.b, '=')
	w.b = strconv.AppendUint(w.b, v, 10)
}

func (w *matchWriter) text(n, v string) {
	w.name(n)
	w.b = append(w.b, '=')
	w.b = append(w.b, v...)
}

func (w *matchWriter) hexC(n string, v uint64) {
	w.name(n)
	w.b = append(w.b, '=')
	w.b = appendHexC(w.b, v)
}

func (w *matchWriter) masked32(n string, v Masked32) {
	w.name(n)
	w.b = append(w.b, '=')
	if v.Mask == 0 || v.Mask == ^uint32(0) {
		w.b = appendHexC(w.b, uint64(v.Value))
		return
	}
	w.b = appendHexC(w.b, uint64(v.Value&v.Mask))
	w.b = append(w.b, '/')
	w.b = appendHexC(w.b, uint64(v.Mask))
}

func (w *matchWriter) prefix(n string, pfx netip.Prefix) {
	if !pfx.IsValid() || pfx.Bits() == 0 {
		return // a /0 prefix matches everything and OVS drops it
	}
	pfx = pfx.Masked()
	w.name(n)
	w.b = append(w.b, '=')
	w.b = appendAddr(w.b, pfx.Addr())
	if pfx.Bits() != pfx.Addr().BitLen() {
		w.b = append(w.b, '/')
		w.b = strconv.AppendInt(w.b, int64(pfx.Bits()), 10)
	}
}

// appendMatch appends the match in match_format order: priority, conj_id,
// conntrack fields (ct_nw_proto and ct_tp_dst after the original-direction
// addresses), protocol shorthand, registers, tunnel metadata, metadata,
// in_port, VLAN, Ethernet addresses, dl_type (when no shorthand names it),
// L3 addresses, nw_proto/arp_op, ARP hardware addresses, then ICMP/ND or
// L4 ports.
func appendMatch(b []byte, m Match, priority uint16) []byte {
	w := matchWriter{b: b, first: true}
	if priority != DefaultPriority {
		w.dec("priority", uint64(priority))
	}
	if m.ConjID != nil {
		w.dec("conj_id", uint64(*m.ConjID))
	}
	if s := formatCTState(m.CTState); s != "" {
		w.text("ct_state", s)
	}
	if m.CTZone != nil {
		w.dec("ct_zone", uint64(*m.CTZone))
	}
	if m.CTMark != nil {
		w.masked32("ct_mark", *m.CTMark)
	}
	if m.CTLabel != nil {
		w.text("ct_label", formatMasked128(*m.CTLabel))
	}
	if m.CTNwSrc.IsValid() && m.CTNwSrc.Addr().Is4() {
		w.prefix("ct_nw_src", m.CTNwSrc)
	}
	if m.CTNwDst.IsValid() && m.CTNwDst.Addr().Is4() {
		w.prefix("ct_nw_dst", m.CTNwDst)
	}
	if m.CTNwSrc.IsValid() && m.CTNwSrc.Addr().Is6() {
		w.prefix("ct_ipv6_src", m.CTNwSrc)
	}
	if m.CTNwDst.IsValid() && m.CTNwDst.Addr().Is6() {
		w.prefix("ct_ipv6_dst", m.CTNwDst)
	}
	if m.CTNwProto != nil {
		w.dec("ct_nw_proto", uint64(*m.CTNwProto))
		// OVS prints the conntrack ports only after ct_nw_proto (and drops
		// them from a match without it; Validate refuses that).
		if m.CTTpDst != nil {
			w.dec("ct_tp_dst", uint64(*m.CTTpDst))
		}
	}
	shorthand, protoNamed := protocolShorthand(m.EthType, m.IPProto)
	if shorthand != "" {
		w.name(shorthand)
	}
	if len(m.Regs) > 0 {
		var regs [16]*RegMatch // register order without sorting the caller's slice
		for i := range m.Regs {
			if r := &m.Regs[i]; r.Index < 16 && regs[r.Index] == nil {
				regs[r.Index] = r
			}
		}
		for _, r := range regs {
			if r != nil {
				w.masked32(regNames[r.Index], r.Masked32)
			}
		}
	}
	// format_flow_tunnel: the key, then the IPv4 and the IPv6 addresses.
	if m.TunID != nil {
		w.text("tun_id", formatMasked64(*m.TunID))
	}
	if m.TunSrc.Is4() {
		w.text("tun_src", m.TunSrc.String())
	}
	if m.TunDst.Is4() {
		w.text("tun_dst", m.TunDst.String())
	}
	if m.TunSrc.Is6() {
		w.text("tun_ipv6_src", formatAddr(m.TunSrc))
	}
	if m.TunDst.Is6() {
		w.text("tun_ipv6_dst", formatAddr(m.TunDst))
	}
	if m.Metadata != nil {
		w.text("metadata", formatMasked64(*m.Metadata))
	}
	if m.InPort != 0 {
		w.text("in_port", formatPort(m.InPort))
	}
	if m.VLANID != nil {
		w.dec("dl_vlan", uint64(*m.VLANID))
	}
	if m.EthSrc != nil {
		w.text("dl_src", formatMACMatch(*m.EthSrc))
	}
	if m.EthDst != nil {
		w.text("dl_dst", formatMACMatch(*m.EthDst))
	}
	if m.EthType != 0 && shorthand == "" {
		w.name("dl_type=0x")
		w.b = append(w.b, hex4(m.EthType)...)
	}
	switch m.EthType {
	case EthTypeIPv6:
		w.prefix("ipv6_src", m.IPSrc)
		w.prefix("ipv6_dst", m.IPDst)
	case EthTypeARP:
		w.prefix("arp_spa", m.ARPSpa)
		w.prefix("arp_tpa", m.ARPTpa)
	default:
		w.prefix("nw_src", m.IPSrc)
		w.prefix("nw_dst", m.IPDst)
	}
	if m.IPProto != nil && !protoNamed {
		w.dec("nw_proto", uint64(*m.IPProto))
	}
	if m.ARPOp != nil {
		w.dec("arp_op", uint64(*m.ARPOp))
	}
	if m.ARPSha != nil {
		w.text("arp_sha", formatMACMatch(*m.ARPSha))
	}
	if m.ARPTha != nil {
		w.text("arp_tha", formatMACMatch(*m.ARPTha))
	}
	if m.IPTTL != nil {
		w.dec("nw_ttl", uint64(*m.IPTTL))
	}
	if m.ICMPType != nil {
		w.dec("icmp_type", uint64(*m.ICMPType))
	}
	if m.ICMPCode != nil {
		w.dec("icmp_code", uint64(*m.ICMPCode))
	}
	if m.NDTarget.IsValid() {
		w.text("nd_target", formatAddr(m.NDTarget))
	}
	if m.NDSll != nil {
		w.text("nd_sll", m.NDSll.String())
	}
	if m.NDTll != nil {
		w.text("nd_tll", m.NDTll.String())
	}
	if m.TPSrc != nil {
		w.text("tp_src", formatPortMatch(*m.TPSrc))
	}
	if m.TPDst != nil {
		w.text("tp_dst", formatPortMatch(*m.TPDst))
	}
	return w.b
}

var regNames = func() (names [16]string) {
	for i := range names {
		names[i] = "reg" + strconv.Itoa(i)
	}
	return names
}()

// hex4 is a 16-bit value as four hex digits.
func hex4(v uint16) []byte {
	const digits = "0123456789abcdef"
	return []byte{digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf]}
}

// appendHexC appends like C's "%#x": "0x" prefix except for zero.
func appendHexC(b []byte, v uint64) []byte {
	if v == 0 {
		return append(b, '0')
	}
	b = append(b, "0x"...)
	return strconv.AppendUint(b, v, 16)
}

// appendAddr appends an address as OVS prints it (formatAddr).
func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		return a.AppendTo(b)
	}
	return append(b, formatAddr(a)...)
}

// protocolShorthand is the keyword ovs-ofctl prints for an EtherType (and IP
// protocol): "tcp" stands for dl_type=0x0800,nw_proto=6. protoNamed reports
// whether the keyword already says the IP protocol.
func protocolShorthand(ethType uint16, proto *uint8) (shorthand string, protoNamed bool) {
	switch ethType {
	case EthTypeIPv4, EthTypeIPv6:
		names, plain := ipv4ProtoNames, "ip"
		if ethType == EthTypeIPv6 {
			names, plain = ipv6ProtoNames, "ipv6"
		}
		if proto != nil {
			if s, ok := names[*proto]; ok {
				return s, true
			}
		}
		return plain, false
	case EthTypeARP:
		return "arp", false
	case ethTypeRARP:
		return "rarp", false
	case ethTypeMPLS:
		return "mpls", false
	case ethTypeMPLSMcast:
		return "mplsm", false
	}
	return "", false
}

// IP protocols with a keyword of their own. OVS 3.1 has none for IGMP:
// it prints "ip,nw_proto=2".
var (
	ipv4ProtoNames = map[uint8]string{ProtoICMP: "icmp", ProtoTCP: "tcp", ProtoUDP: "udp", ProtoSCTP: "sctp"}
	ipv6ProtoNames = map[uint8]string{ProtoICMPv6: "icmp6", ProtoTCP: "tcp6", ProtoUDP: "udp6", ProtoSCTP: "sctp6"}
)

// EtherTypes that have an ovs-ofctl keyword but no use in flowgate.
const (
	ethTypeRARP      uint16 = 0x8035
	ethTypeMPLS      uint16 = 0x8847
	ethTypeMPLSMcast uint16 = 0x8848
)

// ctStateAll is every ct_state flag OVS knows.
const ctStateAll = CTNew | CTEst | CTRel | CTRpl | CTInv | CTTrk | CTSNAT | CTDNAT

var ctStateNames = []struct {
	bit  uint32
	name string
}{
	{CTNew, "new"}, {CTEst, "est"}, {CTRel, "rel"}, {CTRpl, "rpl"},
	{CTInv, "inv"}, {CTTrk, "trk"}, {CTSNAT, "snat"}, {CTDNAT, "dnat"},
}

// formatCTState prints the flags in bit order, "+" for set, "-" for
// clear. When all eight flags are matched OVS prints the exact value
// instead: the set flags joined by "|", or "0" (format_flags_masked).
func formatCTState(s CTStateMatch) string {
	if s.Set|s.Clear == ctStateAll {
		var set []string
		for _, n := range ctStateNames {
			if s.Set&n.bit != 0 {
				set = append(set, n.name)
			}
		}
		if len(set) == 0 {
			return "0"
		}
		return strings.Join(set, "|")
	}
	var b strings.Builder
	for _, n := range ctStateNames {
		switch {
		case s.Set&n.bit != 0:
			b.WriteString("+" + n.name)
		case s.Clear&n.bit != 0:
			b.WriteString("-" + n.name)
		}
	}
	return b.String()
}

// sortedRegs returns the register matches in register order without
// touching the caller's slice.
func sortedRegs(regs []RegMatch) []RegMatch {
	out := append([]RegMatch(nil), regs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Index < out[j-1].Index; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// formatMasked32 prints "0x5/0xff", or "0x5" when exact; zero prints as
// "0", as C's %#x does.
func formatMasked32(v Masked32) string {
	if v.Mask == 0 || v.Mask == ^uint32(0) {
		return hexC(uint64(v.Value))
	}
	return hexC(uint64(v.Value&v.Mask)) + "/" + hexC(uint64(v.Mask))
}

func formatMasked64(v Masked64) string {
	if v.Mask == 0 || v.Mask == ^uint64(0) {
		return hexC(v.Value)
	}
	return hexC(v.Value&v.Mask) + "/" + hexC(v.Mask)
}

func formatMasked128(v Masked128) string {
	if (v.MaskHi == 0 && v.MaskLo == 0) || (v.MaskHi == ^uint64(0) && v.MaskLo == ^uint64(0)) {
		return hex128(v.Hi, v.Lo)
	}
	return hex128(v.Hi&v.MaskHi, v.Lo&v.MaskLo) + "/" + hex128(v.MaskHi, v.MaskLo)
}

// hexC formats like C's "%#x": "0x" prefix except for zero.
func hexC(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// hex128 formats a 128-bit value the way OVS's ds_put_hex does.
func hex128(hi, lo uint64) string {
	if hi == 0 {
		return hexC(lo)
	}
	return fmt.Sprintf("0x%x%016x", hi, lo)
}

// formatPortMatch prints a transport port: decimal when exact, hex
// value/mask otherwise (format_be16_masked).
func formatPortMatch(p PortMatch) string {
	if p.Mask == 0 || p.Mask == 0xffff {
		return strconv.Itoa(int(p.Port))
	}
	return fmt.Sprintf("0x%x/0x%x", p.Port&p.Mask, p.Mask)
}

func formatMACMatch(m MACMatch) string {
	if m.Mask == (MAC{}) || m.Mask == MACBroadcast {
		return m.Addr.String()
	}
	var a MAC
	for i := range a {
		a[i] = m.Addr[i] & m.Mask[i]
	}
	return a.String() + "/" + m.Mask.String()
}

// formatAddr prints an address as OVS does (inet_ntop). glibc writes an
// IPv6 address whose first 96 bits are zero, and which is neither :: nor
// ::1-style, with a dotted IPv4 tail ("::1.2.3.4"); Go writes "::102:304".
func formatAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		b := a.As16()
		zero96 := true
		for _, x := range b[:12] {
			zero96 = zero96 && x == 0
		}
		if zero96 && (b[12] != 0 || b[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte(b[12:])).String()
		}
	}
	return a.String()
}

var portNames = map[uint32]string{
	PortInPort: "IN_PORT", PortTable: "TABLE", PortNormal: "NORMAL",
	PortFlood: "FLOOD", PortAll: "ALL", PortController: "CONTROLLER",
	PortLocal: "LOCAL",
}

// formatPort prints an OpenFlow port number, or the name of a reserved one.
func formatPort(port uint32) string {
	if n, ok := portNames[port]; ok {
		return n
	}
	return strconv.FormatUint(uint64(port), 10)
}
