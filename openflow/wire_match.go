package openflow

import (
	"encoding/binary"
	"fmt"
	"github.com/flowgate/flowgate/flows"
	"net/netip"
)

const (
	ofpmtOXM       uint16 = 1      // ofp_match.type
	vlanCFIPresent uint16 = 0x1000 // OFPVID_PRESENT in vlan_vid
)

// oxmWriter appends OXM TLVs, dropping what OVS would drop anyway: an
// all-zero mask is a wildcard (no TLV) and an all-ones mask is an exact
// match (no mask). Keeping the encoder in OVS's normal form is what makes
// a decoded dump compare equal to the flows that were sent.
type oxmWriter struct{ b []byte }

func (w *oxmWriter) put(h oxmHeader, value, mask []byte) {
	if mask != nil && allBytes(mask, 0) {
		return
	}
	if mask != nil && allBytes(mask, 0xff) {
		mask = nil
	}
	hdr := h.wire32()
	if mask != nil {
		hdr = uint32(h.class)<<16 | uint32(h.field)<<9 | 1<<8 | uint32(2*h.size)
		masked := make([]byte, len(value))
		for i := range value {
			masked[i] = value[i] & mask[i]
		}
		value = masked
	}
	w.b = binary.BigEndian.AppendUint32(w.b, hdr)
	w.b = append(w.b, value...)
	w.b = append(w.b, mask...)
}

func allBytes(b []byte, v byte) bool {
	for _, c := range b {
		if c != v {
			return false
		}
	}
	return true
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// maskOrNil turns the IR's "zero mask means exact" into the writer's
// "nil mask means exact".
func maskOrNil(mask []byte) []byte {
	if allBytes(mask, 0) {
		return nil
	}
	return mask
}

func prefixBytes(p netip.Prefix) (value, mask []byte) {
	p = p.Masked()
	value = p.Addr().AsSlice()
	mask = make([]byte, len(value))
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return value, mask
}

// encodeMatch returns a padded ofp_match in OXM form. Fields are written
// in prerequisite order (eth_type before IP fields, ip_proto before ports,
// icmpv6_type before nd_*) because OVS checks prerequisites TLV by TLV.
func encodeMatch(m flows.Match) ([]byte, error) {
	var w oxmWriter
	if m.InPort != 0 {
		w.put(oxmInPort, be32(m.InPort), nil)
	}
	if m.Metadata != nil {
		w.put(oxmMetadata, be64(m.Metadata.Value), maskOrNil(be64(m.Metadata.Mask)))
	}
	seen := map[uint8]bool{}
	for _, r := range m.Regs {
		if r.Index > 15 || seen[r.Index] {
			return nil, fmt.Errorf("match reg%d: register out of range or repeated", r.Index)
		}
		seen[r.Index] = true
	}
	for i := uint8(0); i <= 15; i++ {
		for _, r := range m.Regs {
			if r.Index == i {
				w.put(oxmHeader{classNXM1, i, 4}, be32(r.Value), maskOrNil(be32(r.Mask)))
			}
		}
	}
	if m.TunID != nil {
		w.put(oxmTunnelID, be64(m.TunID.Value), maskOrNil(be64(m.TunID.Mask)))
	}
	for _, t := range []struct {
		a      netip.Addr
		h4, h6 oxmHeader
	}{
		{m.TunSrc, nxmNXTunIPv4Src, nxmNXTunIPv6Src},
		{m.TunDst, nxmNXTunIPv4Dst, nxmNXTunIPv6Dst},
	} {
		switch {
		case t.a.Is4():
			w.put(t.h4, t.a.AsSlice(), nil)
		case t.a.Is6():
			w.put(t.h6, t.a.AsSlice(), nil)
		}
	}
	if mask := m.CTState.Set | m.CTState.Clear; mask != 0 {
		if m.CTState.Set&m.CTState.Clear != 0 {
			return nil, fmt.Errorf("match ct_state: bits %#x both set and clear", m.CTState.Set&m.CTState.Clear)
		}
		w.put(nxmNXCTState, be32(m.CTState.Set), be32(mask))
	}
	if m.CTZone != nil {
		w.put(nxmNXCTZone, be16(*m.CTZone), nil)
	}
	if m.CTMark != nil {
		w.put(nxmNXCTMark, be32(m.CTMark.Value), maskOrNil(be32(m.CTMark.Mask)))
	}
	if l := m.CTLabel; l != nil {
		value := append(be64(l.Hi), be64(l.Lo)...)
		w.put(nxmNXCTLabel, value, maskOrNil(append(be64(l.MaskHi), be64(l.MaskLo)...)))
	}
	if m.ConjID != nil {
		w.put(nxmNXConjID, be32(*m.ConjID), nil)
	}
	if m.EthSrc != nil {
		w.put(oxmEthSrc, m.EthSrc.Addr[:], maskOrNil(m.EthSrc.Mask[:]))
	}
	if m.EthDst != nil {
		w.put(oxmEthDst, m.EthDst.Addr[:], maskOrNil(m.EthDst.Mask[:]))
	}
	if m.VLANID != nil {
		if *m.VLANID > 0xfff {
			return nil, fmt.Errorf("match dl_vlan=%d: out of range", *m.VLANID)
		}
		w.put(oxmVLANVID, be16(*m.VLANID|vlanCFIPresent), nil)
	}
	if m.EthType != 0 {
		w.put(oxmEthType, be16(m.EthType), nil)
	}
	// After eth_type: OVS checks each TLV's prerequisites as it reads it.
	for _, p := range []struct {
		prefix netip.Prefix
		h4, h6 oxmHeader
	}{
		{m.CTNwSrc, nxmNXCTNwSrc, nxmNXCTIPv6Src},
		{m.CTNwDst, nxmNXCTNwDst, nxmNXCTIPv6Dst},
	} {
		if !p.prefix.IsValid() || p.prefix.Bits() == 0 {
			continue
		}
		value, mask := prefixBytes(p.prefix)
		h := p.h6
		if p.prefix.Addr().Is4() {
			h = p.h4
		}
		w.put(h, value, mask)
	}
	if m.CTNwProto != nil {
		w.put(nxmNXCTNwProto, []byte{*m.CTNwProto}, nil)
	}
	if m.CTTpDst != nil {
		if m.CTNwProto == nil {
			return nil, fmt.Errorf("match ct_tp_dst=%d: needs ct_nw_proto", *m.CTTpDst)
		}
		w.put(nxmNXCTTpDst, be16(*m.CTTpDst), nil)
	}
	if err := encodeL3(&w, m); err != nil {
		return nil, err
	}
	if err := encodeARP(&w, m); err != nil {
		return nil, err
	}

	body := w.b
	out := make([]byte, 0, pad8(4+len(body)))
	out = binary.BigEndian.AppendUint16(out, ofpmtOXM)
	out = binary.BigEndian.AppendUint16(out, uint16(4+len(body)))
	out = append(out, body...)
	return append(out, make([]byte, pad8(4+len(body))-4-len(body))...), nil
}

func encodeL3(w *oxmWriter, m flows.Match) error {
	ipv4, ipv6 := m.EthType == flows.EthTypeIPv4, m.EthType == flows.EthTypeIPv6
	for _, p := range []struct {
		name   string
		prefix netip.Prefix
		h4, h6 oxmHeader
	}{
		{"ip_src", m.IPSrc, oxmIPv4Src, oxmIPv6Src},
		{"ip_dst", m.IPDst, oxmIPv4Dst, oxmIPv6Dst},
	} {
		if !p.prefix.IsValid() || p.prefix.Bits() == 0 {
			continue
		}
		value, mask := prefixBytes(p.prefix)
		switch {
		case ipv4 && p.prefix.Addr().Is4():
			w.put(p.h4, value, mask)
		case ipv6 && p.prefix.Addr().Is6():
			w.put(p.h6, value, mask)
		default:
			return fmt.Errorf("match %s=%s: needs eth_type of the same IP version, have %#04x", p.name, p.prefix, m.EthType)
		}
	}
	if m.IPTTL != nil {
		if !ipv4 && !ipv6 {
			return fmt.Errorf("match nw_ttl=%d: needs eth_type ip or ipv6", *m.IPTTL)
		}
		w.put(nxmNXIPTTL, []byte{*m.IPTTL}, nil)
	}
	if m.IPProto == nil {
		if m.TPSrc != nil || m.TPDst != nil || m.ICMPType != nil || m.ICMPCode != nil {
			return fmt.Errorf("match: transport/ICMP fields need ip_proto")
		}
		return nil
	}
	if !ipv4 && !ipv6 {
		return fmt.Errorf("match ip_proto=%d: needs eth_type ip or ipv6", *m.IPProto)
	}
	w.put(oxmIPProto, []byte{*m.IPProto}, nil)
	if m.TPSrc != nil || m.TPDst != nil {
		src, dst, err := portHeaders(*m.IPProto)
		if err != nil {
			return fmt.Errorf("match: %w", err)
		}
		if m.TPSrc != nil {
			w.put(src, be16(m.TPSrc.Port), maskOrNil(be16(m.TPSrc.Mask)))
		}
		if m.TPDst != nil {
			w.put(dst, be16(m.TPDst.Port), maskOrNil(be16(m.TPDst.Mask)))
		}
	}
	if m.ICMPType != nil || m.ICMPCode != nil {
		typ, code := oxmICMPv4Type, oxmICMPv4Code
		switch {
		case ipv4 && *m.IPProto == flows.ProtoICMP:
		case ipv6 && *m.IPProto == flows.ProtoICMPv6:
			typ, code = oxmICMPv6Type, oxmICMPv6Code
		default:
			return fmt.Errorf("match icmp_type/icmp_code: needs ip_proto icmp (IPv4) or icmpv6 (IPv6)")
		}
		if m.ICMPType != nil {
			w.put(typ, []byte{*m.ICMPType}, nil)
		}
		if m.ICMPCode != nil {
			w.put(code, []byte{*m.ICMPCode}, nil)
		}
	}
	return encodeND(w, m)
}

func encodeND(w *oxmWriter, m flows.Match) error {
	if !m.NDTarget.IsValid() && m.NDSll == nil && m.NDTll == nil {
		return nil
	}
	isND := m.EthType == flows.EthTypeIPv6 && *m.IPProto == flows.ProtoICMPv6 && m.ICMPType != nil &&
		(*m.ICMPType == 135 || *m.ICMPType == 136)
	if !isND {
		return fmt.Errorf("match nd_*: needs icmpv6 type 135 or 136")
	}
	if m.NDTarget.IsValid() {
		if !m.NDTarget.Is6() {
			return fmt.Errorf("match nd_target=%s: not an IPv6 address", m.NDTarget)
		}
		t := m.NDTarget.As16()
		w.put(oxmNDTarget, t[:], nil)
	}
	if m.NDSll != nil {
		if *m.ICMPType != 135 {
			return fmt.Errorf("match nd_sll: needs icmpv6 type 135 (solicitation)")
		}
		w.put(oxmNDSll, m.NDSll[:], nil)
	}
	if m.NDTll != nil {
		if *m.ICMPType != 136 {
			return fmt.Errorf("match nd_tll: needs icmpv6 type 136 (advertisement)")
		}
		w.put(oxmNDTll, m.NDTll[:], nil)
	}
	return nil
}

func encodeARP(w *oxmWriter, m flows.Match) error {
	hasARP := m.ARPOp != nil || m.ARPSpa.IsValid() || m.ARPTpa.IsValid() || m.ARPSha != nil || m.ARPTha != nil
	if !hasARP {
		return nil
	}
	if m.EthType != flows.EthTypeARP {
		return fmt.Errorf("match arp_*: needs eth_type arp, have %#04x", m.EthType)
	}
	if m.ARPOp != nil {
		w.put(oxmARPOp, be16(*m.ARPOp), nil)
	}
	for _, p := range []struct {
		name   string
		prefix netip.Prefix
		h      oxmHeader
	}{{"arp_spa", m.ARPSpa, oxmARPSpa}, {"arp_tpa", m.ARPTpa, oxmARPTpa}} {
		if !p.prefix.IsValid() || p.prefix.Bits() == 0 {
			continue
		}
		if !p.prefix.Addr().Is4() {
			return fmt.Errorf("match %s=%s: not IPv4", p.name, p.prefix)
		}
		value, mask := prefixBytes(p.prefix)
		w.put(p.h, value, mask)
	}
	if m.ARPSha != nil {
		w.put(oxmARPSha, m.ARPSha.Addr[:], maskOrNil(m.ARPSha.Mask[:]))
	}
	if m.ARPTha != nil {
		w.put(oxmARPTha, m.ARPTha.Addr[:], maskOrNil(m.ARPTha.Mask[:]))
	}
	return nil
}

func pad8(n int) int { return (n + 7) &^ 7 }
