package openflow

import (
	"encoding/binary"
	"fmt"
	"github.com/flowgate/flowgate/flows"
	"net/netip"
)

// oxmTLV is one decoded match TLV; mask is nil for an exact match.
type oxmTLV struct {
	h           oxmHeader
	value, mask []byte
}

// decodeMatch parses a padded ofp_match and returns the Match and the
// number of bytes it occupied (including padding).
func decodeMatch(b []byte) (flows.Match, int, error) {
	var m flows.Match
	if len(b) < 4 {
		return m, 0, fmt.Errorf("match: %d bytes, need 4", len(b))
	}
	typ, length := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
	if typ != ofpmtOXM || length < 4 || pad8(length) > len(b) {
		return m, 0, fmt.Errorf("match: type %d length %d in %d bytes", typ, length, len(b))
	}
	var tlvs []oxmTLV
	for p := b[4:length]; len(p) > 0; {
		if len(p) < 4 {
			return m, 0, fmt.Errorf("match: truncated TLV header")
		}
		h, hasMask := parseWire32(binary.BigEndian.Uint32(p))
		n := int(h.size)
		if hasMask {
			n *= 2
		}
		if len(p) < 4+n {
			return m, 0, fmt.Errorf("match: truncated TLV %#x", binary.BigEndian.Uint32(p))
		}
		t := oxmTLV{h: canonicalHeader(h), value: p[4 : 4+int(h.size)]}
		if hasMask {
			t.mask = p[4+int(h.size) : 4+n]
		}
		tlvs = append(tlvs, t)
		p = p[4+n:]
	}
	for _, t := range tlvs {
		if err := setFromTLV(&m, t); err != nil {
			return m, 0, err
		}
	}
	return m, pad8(length), nil
}

func u16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func u32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func u64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// mask helpers return the IR's "0 = exact" for a nil wire mask.
func mask16(m []byte) uint16 {
	if m == nil {
		return 0
	}
	return u16(m)
}
func mask32(m []byte) uint32 {
	if m == nil {
		return 0
	}
	return u32(m)
}
func mask64(m []byte) uint64 {
	if m == nil {
		return 0
	}
	return u64(m)
}

func macMatch(t oxmTLV) *flows.MACMatch {
	mm := &flows.MACMatch{}
	copy(mm.Addr[:], t.value)
	copy(mm.Mask[:], t.mask)
	return mm
}

// tlvPrefix turns an address TLV with a CIDR mask into a prefix; OpenFlow
// allows arbitrary bit masks but the IR (and flowgate) only use prefixes.
func tlvPrefix(t oxmTLV) (netip.Prefix, error) {
	addr, _ := netip.AddrFromSlice(t.value)
	if t.mask == nil {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	bits := 0
	for i, c := range t.mask {
		for j := 7; j >= 0; j-- {
			if c&(1<<j) == 0 {
				continue
			}
			if bits != i*8+7-j {
				return netip.Prefix{}, fmt.Errorf("match: address mask %x is not a prefix", t.mask)
			}
			bits++
		}
	}
	return netip.PrefixFrom(addr, bits), nil
}

func setFromTLV(m *flows.Match, t oxmTLV) error {
	h, v := t.h, t.value
	if h.class == classNXM1 && h.field <= 15 && h.size == 4 {
		m.Regs = append(m.Regs, flows.Reg(h.field, u32(v), mask32(t.mask)))
		return nil
	}
	var err error
	switch h {
	case oxmInPort:
		m.InPort = u32(v)
	case oxmMetadata:
		m.Metadata = &flows.Masked64{Value: u64(v), Mask: mask64(t.mask)}
	case oxmTunnelID:
		m.TunID = &flows.Masked64{Value: u64(v), Mask: mask64(t.mask)}
	case nxmNXTunIPv4Src, nxmNXTunIPv6Src:
		m.TunSrc, err = tunnelAddr("tun_src", m.TunSrc, t)
	case nxmNXTunIPv4Dst, nxmNXTunIPv6Dst:
		m.TunDst, err = tunnelAddr("tun_dst", m.TunDst, t)
	case nxmNXCTState:
		mask := uint32(0xffffffff)
		if t.mask != nil {
			mask = u32(t.mask)
		}
		m.CTState = flows.CTStateMatch{Set: u32(v) & mask, Clear: ^u32(v) & mask}
	case nxmNXCTZone:
		m.CTZone = flows.U16(u16(v))
	case nxmNXCTMark:
		m.CTMark = &flows.Masked32{Value: u32(v), Mask: mask32(t.mask)}
	case nxmNXCTLabel:
		l := &flows.Masked128{Hi: u64(v), Lo: u64(v[8:])}
		if t.mask != nil {
			l.MaskHi, l.MaskLo = u64(t.mask), u64(t.mask[8:])
		}
		m.CTLabel = l
	case nxmNXCTNwSrc, nxmNXCTIPv6Src:
		m.CTNwSrc, err = tlvPrefix(t)
	case nxmNXCTNwDst, nxmNXCTIPv6Dst:
		m.CTNwDst, err = tlvPrefix(t)
	case nxmNXCTNwProto:
		m.CTNwProto = flows.U8(v[0])
	case nxmNXCTTpDst:
		if t.mask != nil && u16(t.mask) != 0xffff {
			return fmt.Errorf("match ct_tp_dst=%#x/%x: only an exact port is supported", u16(v), t.mask)
		}
		m.CTTpDst = flows.U16(u16(v))
	case nxmNXConjID:
		m.ConjID = flows.U32(u32(v))
	case oxmEthSrc:
		m.EthSrc = macMatch(t)
	case oxmEthDst:
		m.EthDst = macMatch(t)
	case oxmVLANVID:
		if t.mask != nil || u16(v)&vlanCFIPresent == 0 {
			return fmt.Errorf("match vlan_vid=%#x/%x: only an exact VLAN ID is supported", u16(v), t.mask)
		}
		m.VLANID = flows.U16(u16(v) &^ vlanCFIPresent)
	case oxmEthType:
		m.EthType = u16(v)
	case oxmIPProto:
		m.IPProto = flows.U8(v[0])
	case nxmNXIPTTL:
		m.IPTTL = flows.U8(v[0])
	case oxmIPv4Src, oxmIPv6Src:
		m.IPSrc, err = tlvPrefix(t)
	case oxmIPv4Dst, oxmIPv6Dst:
		m.IPDst, err = tlvPrefix(t)
	case oxmTCPSrc, oxmUDPSrc, oxmSCTPSrc:
		m.TPSrc = &flows.PortMatch{Port: u16(v), Mask: mask16(t.mask)}
	case oxmTCPDst, oxmUDPDst, oxmSCTPDst:
		m.TPDst = &flows.PortMatch{Port: u16(v), Mask: mask16(t.mask)}
	case oxmICMPv4Type, oxmICMPv6Type:
		m.ICMPType = flows.U8(v[0])
	case oxmICMPv4Code, oxmICMPv6Code:
		m.ICMPCode = flows.U8(v[0])
	case oxmARPOp:
		m.ARPOp = flows.U16(u16(v))
	case oxmARPSpa:
		m.ARPSpa, err = tlvPrefix(t)
	case oxmARPTpa:
		m.ARPTpa, err = tlvPrefix(t)
	case oxmARPSha:
		m.ARPSha = macMatch(t)
	case oxmARPTha:
		m.ARPTha = macMatch(t)
	case oxmNDTarget:
		if t.mask != nil {
			return fmt.Errorf("match nd_target: masked targets are not supported")
		}
		m.NDTarget = netip.AddrFrom16([16]byte(v))
	case oxmNDSll:
		m.NDSll = &flows.MAC{}
		copy(m.NDSll[:], v)
	case oxmNDTll:
		m.NDTll = &flows.MAC{}
		copy(m.NDTll[:], v)
	default:
		return fmt.Errorf("match: unsupported field class %#04x field %d", h.class, h.field)
	}
	return err
}

// tunnelAddr reads an outer address TLV. The IR holds one exact source
// and one exact destination: a masked address, or one of each family
// (which OVS accepts from others), is an error.
func tunnelAddr(name string, have netip.Addr, t oxmTLV) (netip.Addr, error) {
	if t.mask != nil && !allBytes(t.mask, 0xff) {
		return have, fmt.Errorf("match %s: masked tunnel addresses are not supported", name)
	}
	if have.IsValid() {
		return have, fmt.Errorf("match %s: an IPv4 and an IPv6 address are not supported", name)
	}
	a, _ := netip.AddrFromSlice(t.value)
	return a, nil
}
