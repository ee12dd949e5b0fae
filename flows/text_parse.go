package flows

// The parser of ovs-ofctl's text form. flowgate itself never reads flows
// as text (it reads them from the switch in wire form); tests and tools use
// this to compare what OVS prints with what flowgate meant.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseFlow parses one line of `ovs-ofctl -O OpenFlow13 dump-flows` output
// (with or without statistics; these are ignored) into a Flow. It reads
// exactly the text form String writes, plus the statistics fields, so that
// ParseFlow(f.String()).String() == f.String(). Flow properties the IR
// cannot hold (timeouts, flags, importance) are an error rather than
// silently dropped.
func ParseFlow(line string) (Flow, error) {
	f, _, err := ParseDumpLine(line)
	return f, err
}

// ParseDumpLine is ParseFlow that also returns the flow's counters.
func ParseDumpLine(line string) (Flow, FlowStats, error) {
	var f Flow
	var st FlowStats
	line = strings.TrimSpace(line)
	matchPart, actionPart, ok := cutActions(line)
	if !ok {
		return f, st, fmt.Errorf("flow %q: no actions=", line)
	}
	f.Priority = DefaultPriority
	p := matchParser{m: &f.Match, seen: map[string]bool{}}
	for _, tok := range strings.Split(matchPart, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		key, val, hasVal := strings.Cut(tok, "=")
		var err error
		switch key {
		case "cookie":
			f.Cookie, err = strconv.ParseUint(val, 0, 64)
		case "table":
			var v uint64
			v, err = strconv.ParseUint(val, 10, 8)
			f.Table = uint8(v)
		case "priority":
			var v uint64
			v, err = strconv.ParseUint(val, 10, 16)
			f.Priority = uint16(v)
		case "n_packets":
			st.Packets, err = strconv.ParseUint(val, 10, 64)
		case "n_bytes":
			st.Bytes, err = strconv.ParseUint(val, 10, 64)
		case "duration", "idle_age", "hard_age":
			// Statistics the IR has no use for.
		case "idle_timeout", "hard_timeout", "importance", "send_flow_rem",
			"check_overlap", "reset_counts", "no_packet_counts", "no_byte_counts":
			err = fmt.Errorf("not representable in the flow IR")
		default:
			err = p.field(key, val, hasVal)
		}
		if err != nil {
			return f, st, fmt.Errorf("flow %q: %s: %w", line, tok, err)
		}
	}
	if err := p.finish(); err != nil {
		return f, st, fmt.Errorf("flow %q: %w", line, err)
	}
	actions, err := ParseActions(actionPart)
	if err != nil {
		return f, st, fmt.Errorf("flow %q: %w", line, err)
	}
	f.Actions = actions
	return f, st, nil
}

// ParseDump parses the whole output of dump-flows, skipping the
// "OFPST_FLOW reply" header lines that accompany statistics.
func ParseDump(out string) ([]Flow, []FlowStats, error) {
	var fs []Flow
	var sts []FlowStats
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "OFPST_FLOW reply") || strings.HasPrefix(t, "NXST_FLOW reply") {
			continue
		}
		f, st, err := ParseDumpLine(t)
		if err != nil {
			return nil, nil, err
		}
		fs = append(fs, f)
		sts = append(sts, st)
	}
	return fs, sts, nil
}

// cutActions splits a line at "actions=", which either starts the line
// or follows a space.
func cutActions(line string) (match, actions string, ok bool) {
	if strings.HasPrefix(line, "actions=") {
		return "", line[len("actions="):], true
	}
	m, a, ok := strings.Cut(line, " actions=")
	return m, a, ok
}

// matchParser fills a Match from ovs-ofctl match tokens. The protocol
// keywords set EthType/IPProto; finish checks that an explicit nw_proto did
// not contradict a keyword.
type matchParser struct {
	m    *Match
	seen map[string]bool
}

var protoKeywords = map[string]struct {
	ethType uint16
	proto   uint8 // 0: keyword names no IP protocol
}{
	"ip": {EthTypeIPv4, 0}, "icmp": {EthTypeIPv4, ProtoICMP}, "tcp": {EthTypeIPv4, ProtoTCP},
	"udp": {EthTypeIPv4, ProtoUDP}, "sctp": {EthTypeIPv4, ProtoSCTP},
	"ipv6": {EthTypeIPv6, 0}, "icmp6": {EthTypeIPv6, ProtoICMPv6}, "tcp6": {EthTypeIPv6, ProtoTCP},
	"udp6": {EthTypeIPv6, ProtoUDP}, "sctp6": {EthTypeIPv6, ProtoSCTP},
	"arp": {EthTypeARP, 0}, "rarp": {ethTypeRARP, 0}, "mpls": {ethTypeMPLS, 0}, "mplsm": {ethTypeMPLSMcast, 0},
}

func (p *matchParser) field(key, val string, hasVal bool) error {
	if p.seen[key] {
		return fmt.Errorf("%s given twice", key)
	}
	p.seen[key] = true
	m := p.m
	if kw, ok := protoKeywords[key]; ok && !hasVal {
		if m.EthType != 0 {
			return fmt.Errorf("second protocol keyword")
		}
		m.EthType = kw.ethType
		if kw.proto != 0 {
			m.IPProto = U8(kw.proto)
		}
		return nil
	}
	if !hasVal {
		return fmt.Errorf("unknown match keyword")
	}
	var err error
	switch key {
	case "conj_id":
		m.ConjID, err = parseUintPtr[uint32](val, 32)
	case "ct_state":
		m.CTState, err = parseCTState(val)
	case "ct_zone":
		m.CTZone, err = parseUintPtr[uint16](val, 16)
	case "ct_mark":
		var v Masked32
		v, err = parseMasked32(val)
		m.CTMark = &v
	case "ct_label":
		var v Masked128
		v, err = parseMasked128(val)
		m.CTLabel = &v
	case "ct_nw_src", "ct_ipv6_src":
		m.CTNwSrc, err = parsePrefix(val)
	case "ct_nw_dst", "ct_ipv6_dst":
		m.CTNwDst, err = parsePrefix(val)
	case "ct_nw_proto":
		m.CTNwProto, err = parseUintPtr[uint8](val, 8)
	case "ct_tp_dst":
		m.CTTpDst, err = parseUintPtr[uint16](val, 16)
	case "metadata":
		var v Masked64
		v, err = parseMasked64(val)
		m.Metadata = &v
	case "tun_id":
		var v Masked64
		v, err = parseMasked64(val)
		m.TunID = &v
	case "tun_src", "tun_ipv6_src":
		m.TunSrc, err = parseTunnelAddr(key, val, m.TunSrc)
	case "tun_dst", "tun_ipv6_dst":
		m.TunDst, err = parseTunnelAddr(key, val, m.TunDst)
	case "in_port":
		m.InPort, err = parsePort(val)
	case "dl_vlan":
		m.VLANID, err = parseUintPtr[uint16](val, 12)
	case "dl_src":
		m.EthSrc, err = parseMACMatch(val)
	case "dl_dst":
		m.EthDst, err = parseMACMatch(val)
	case "dl_type":
		var v uint64
		v, err = strconv.ParseUint(val, 0, 16)
		m.EthType = uint16(v)
	case "nw_src", "ipv6_src":
		m.IPSrc, err = parsePrefix(val)
	case "nw_dst", "ipv6_dst":
		m.IPDst, err = parsePrefix(val)
	case "nw_proto":
		m.IPProto, err = parseUintPtr[uint8](val, 8)
	case "nw_ttl":
		m.IPTTL, err = parseUintPtr[uint8](val, 8)
	case "arp_spa":
		m.ARPSpa, err = parsePrefix(val)
	case "arp_tpa":
		m.ARPTpa, err = parsePrefix(val)
	case "arp_op":
		m.ARPOp, err = parseUintPtr[uint16](val, 16)
	case "arp_sha":
		m.ARPSha, err = parseMACMatch(val)
	case "arp_tha":
		m.ARPTha, err = parseMACMatch(val)
	case "icmp_type":
		m.ICMPType, err = parseUintPtr[uint8](val, 8)
	case "icmp_code":
		m.ICMPCode, err = parseUintPtr[uint8](val, 8)
	case "nd_target":
		m.NDTarget, err = netip.ParseAddr(val)
	case "nd_sll":
		m.NDSll, err = parseMACPtr(val)
	case "nd_tll":
		m.NDTll, err = parseMACPtr(val)
	case "tp_src":
		m.TPSrc, err = parsePortMatch(val)
	case "tp_dst":
		m.TPDst, err = parsePortMatch(val)
	default:
		if i, ok := regIndex(key); ok {
			var v Masked32
			v, err = parseMasked32(val)
			m.Regs = append(m.Regs, RegMatch{Index: i, Masked32: v})
			return err
		}
		return fmt.Errorf("unknown match field")
	}
	return err
}

// finish rejects "tcp,nw_proto=17": a keyword that names a protocol and an
// explicit nw_proto would contradict each other, and OVS never prints both.
func (p *matchParser) finish() error {
	if p.seen["nw_proto"] {
		for kw, v := range protoKeywords {
			if v.proto != 0 && p.seen[kw] {
				return fmt.Errorf("nw_proto together with %s", kw)
			}
		}
	}
	return nil
}

func regIndex(key string) (uint8, bool) {
	s, ok := strings.CutPrefix(key, "reg")
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseUint(s, 10, 8)
	if err != nil || i > 15 {
		return 0, false
	}
	return uint8(i), true
}

func parseUintPtr[T uint8 | uint16 | uint32](s string, bits int) (*T, error) {
	v, err := strconv.ParseUint(s, 0, bits)
	if err != nil {
		return nil, err
	}
	t := T(v)
	return &t, nil
}

// parseValueMask splits "v/m"; without "/" the mask is zero (exact).
func parseValueMask(s string, bits int) (v, m uint64, err error) {
	vs, ms, masked := strings.Cut(s, "/")
	if v, err = strconv.ParseUint(vs, 0, bits); err != nil {
		return 0, 0, err
	}
	if masked {
		if m, err = strconv.ParseUint(ms, 0, bits); err != nil {
			return 0, 0, err
		}
	}
	return v, m, nil
}

func parseMasked32(s string) (Masked32, error) {
	v, m, err := parseValueMask(s, 32)
	return Masked32{Value: uint32(v), Mask: uint32(m)}, err
}

func parseMasked64(s string) (Masked64, error) {
	v, m, err := parseValueMask(s, 64)
	return Masked64{Value: v, Mask: m}, err
}

func parseMasked128(s string) (Masked128, error) {
	vs, ms, masked := strings.Cut(s, "/")
	var r Masked128
	var err error
	if r.Hi, r.Lo, err = parseUint128(vs); err != nil {
		return r, err
	}
	if masked {
		if r.MaskHi, r.MaskLo, err = parseUint128(ms); err != nil {
			return r, err
		}
	}
	return r, nil
}

// parseUint128 reads a hex ("0x...") or decimal-zero 128-bit value.
func parseUint128(s string) (hi, lo uint64, err error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		v, err := strconv.ParseUint(s, 10, 64)
		return 0, v, err
	}
	if h == "" || len(h) > 32 {
		return 0, 0, fmt.Errorf("bad 128-bit value %q", s)
	}
	if len(h) > 16 {
		if hi, err = strconv.ParseUint(h[:len(h)-16], 16, 64); err != nil {
			return 0, 0, err
		}
		h = h[len(h)-16:]
	}
	lo, err = strconv.ParseUint(h, 16, 64)
	return hi, lo, err
}

func parseCTState(s string) (CTStateMatch, error) {
	var st CTStateMatch
	if s != "" && s[0] != '+' && s[0] != '-' {
		// Exact form, "rpl|dnat" or "0": every flag is matched.
		if s != "0" {
			for _, name := range strings.Split(s, "|") {
				bit := ctStateBit(name)
				if bit == 0 {
					return st, fmt.Errorf("unknown ct_state flag %q", name)
				}
				st.Set |= bit
			}
		}
		st.Clear = ctStateAll &^ st.Set
		return st, nil
	}
	for s != "" {
		sign := s[0]
		if sign != '+' && sign != '-' {
			return st, fmt.Errorf("ct_state flag must start with + or -")
		}
		s = s[1:]
		end := strings.IndexAny(s, "+-")
		if end < 0 {
			end = len(s)
		}
		name := s[:end]
		s = s[end:]
		bit := ctStateBit(name)
		if bit == 0 {
			return st, fmt.Errorf("unknown ct_state flag %q", name)
		}
		if sign == '+' {
			st.Set |= bit
		} else {
			st.Clear |= bit
		}
	}
	return st, nil
}

func ctStateBit(name string) uint32 {
	for _, n := range ctStateNames {
		if n.name == name {
			return n.bit
		}
	}
	return 0
}

func parsePort(s string) (uint32, error) {
	for p, n := range portNames {
		if n == s {
			return p, nil
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err
}

func parseMACPtr(s string) (*MAC, error) {
	m, err := ParseMAC(s)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func parseMACMatch(s string) (*MACMatch, error) {
	as, ms, masked := strings.Cut(s, "/")
	var mm MACMatch
	var err error
	if mm.Addr, err = ParseMAC(as); err != nil {
		return nil, err
	}
	if masked {
		if mm.Mask, err = ParseMAC(ms); err != nil {
			return nil, err
		}
	}
	return &mm, nil
}

// parsePrefix reads "10.0.0.0/24" or an exact "10.0.0.1". OVS prints
// non-contiguous masks as "addr/mask", which the IR cannot hold.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseTunnelAddr reads the exact address of tun_src/tun_dst (IPv4) or
// tun_ipv6_src/tun_ipv6_dst (IPv6). The IR holds one source and one
// destination, so a line that matches both families of either is an
// error, as is a masked address.
func parseTunnelAddr(key, s string, have netip.Addr) (netip.Addr, error) {
	if have.IsValid() {
		return have, fmt.Errorf("a tunnel address of each family: not representable in the flow IR")
	}
	if strings.Contains(s, "/") {
		return netip.Addr{}, fmt.Errorf("masked tunnel address: not representable in the flow IR")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, err
	}
	if want6 := strings.HasPrefix(key, "tun_ipv6_"); a.Is6() != want6 {
		return netip.Addr{}, fmt.Errorf("%s is not of the family %s names", s, key)
	}
	return a, nil
}

func parsePortMatch(s string) (*PortMatch, error) {
	v, m, err := parseValueMask(s, 16)
	if err != nil {
		return nil, err
	}
	return &PortMatch{Port: uint16(v), Mask: uint16(m)}, nil
}
