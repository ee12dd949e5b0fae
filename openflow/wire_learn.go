package openflow

import (
	"encoding/binary"
	"fmt"

	"github.com/flowgate/flowgate/flows"
)

// NXAST_LEARN (struct nx_action_learn in OVS's ofp-actions.c): a 32-byte
// header, then one flow_mod_spec per LearnSpec, padded with zeros to a
// multiple of 8 (a zero spec header ends the list). A spec starts with a
// 16-bit header
//
//	bit 13: source is an immediate value (else a field)
//	bits 12..11: destination is a match (0) or a load (1)
//	bits 9..0: number of bits
//
// followed by the source (a field's 32-bit NXM header and 16-bit offset,
// or the value in as many 16-bit units as the bits need) and the
// destination field (header and offset). Fields use their NXM code points
// where they have one, as ovs-ofctl writes them.
const (
	nxastLearn          uint16 = 16
	nxLearnSrcImmediate uint16 = 1 << 13
	nxLearnDstLoad      uint16 = 1 << 11
	nxLearnDstMask      uint16 = 3 << 11
	nxLearnNBitsMask    uint16 = 0x3ff
	nxLearnHeaderLen           = 32
)

func encodeLearn(l flows.Learn) ([]byte, error) {
	if l.Table == ofpTableAll {
		return nil, fmt.Errorf("learn: table 255 is not a table")
	}
	var specs []byte
	for i, sp := range l.Specs {
		dh, dOfs, n, err := resolveRef(sp.Dst)
		if err != nil {
			return nil, fmt.Errorf("learn spec %d: %s: %w", i, flows.FieldName(sp.Dst.Field), err)
		}
		hdr := n
		if sp.Load {
			hdr |= nxLearnDstLoad
		}
		if sp.Src == nil {
			hdr |= nxLearnSrcImmediate
		}
		specs = binary.BigEndian.AppendUint16(specs, hdr)
		if sp.Src != nil {
			sh, sOfs, sn, err := resolveRef(*sp.Src)
			if err != nil {
				return nil, fmt.Errorf("learn spec %d: %s: %w", i, flows.FieldName(sp.Src.Field), err)
			}
			if sn != n {
				return nil, fmt.Errorf("learn spec %d: source is %d bits, destination %d", i, sn, n)
			}
			specs = binary.BigEndian.AppendUint32(specs, nxmForm(sh).wire32())
			specs = binary.BigEndian.AppendUint16(specs, sOfs)
		} else {
			if n < 64 && sp.Value>>n != 0 {
				return nil, fmt.Errorf("learn spec %d: value %#x does not fit in %d bits", i, sp.Value, n)
			}
			size := 2 * int((n+15)/16)
			value := make([]byte, max(size, 8))
			binary.BigEndian.PutUint64(value[len(value)-8:], sp.Value)
			specs = append(specs, value[len(value)-size:]...)
		}
		specs = binary.BigEndian.AppendUint32(specs, nxmForm(dh).wire32())
		specs = binary.BigEndian.AppendUint16(specs, dOfs)
	}
	length := pad8(nxLearnHeaderLen + len(specs))
	if length > 0xffff {
		return nil, fmt.Errorf("learn: %d specs do not fit in one action", len(l.Specs))
	}
	b := nxAction(nxastLearn, uint16(length))
	b = binary.BigEndian.AppendUint16(b, l.IdleTimeout)
	b = binary.BigEndian.AppendUint16(b, l.HardTimeout)
	b = binary.BigEndian.AppendUint16(b, l.Priority)
	b = binary.BigEndian.AppendUint64(b, l.Cookie)
	b = binary.BigEndian.AppendUint16(b, 0) // flags
	b = append(b, l.Table, 0)
	b = binary.BigEndian.AppendUint16(b, 0) // fin_idle_timeout
	b = binary.BigEndian.AppendUint16(b, 0) // fin_hard_timeout
	b = append(b, specs...)
	return append(b, zeros(length-len(b))...), nil
}

// decodeLearn is the inverse of encodeLearn. Learn features the IR does
// not hold (flags, FIN timeouts, output specs) are an error.
func decodeLearn(b []byte) (flows.Action, error) {
	if len(b) < nxLearnHeaderLen {
		return nil, fmt.Errorf("learn: %d bytes, need %d", len(b), nxLearnHeaderLen)
	}
	l := flows.Learn{IdleTimeout: u16(b[10:]), HardTimeout: u16(b[12:]), Priority: u16(b[14:]), Cookie: u64(b[16:]), Table: b[26]}
	if flags := u16(b[24:]); flags != 0 {
		return nil, fmt.Errorf("learn: flags %#x are not used by flowgate", flags)
	}
	if u16(b[28:]) != 0 || u16(b[30:]) != 0 {
		return nil, fmt.Errorf("learn: FIN timeouts are not used by flowgate")
	}
	p := b[nxLearnHeaderLen:]
	take := func(k int) ([]byte, error) {
		if len(p) < k {
			return nil, fmt.Errorf("learn spec %d: truncated", len(l.Specs))
		}
		v := p[:k]
		p = p[k:]
		return v, nil
	}
	for len(p) >= 2 && u16(p) != 0 {
		hdr := u16(p)
		p = p[2:]
		n := hdr & nxLearnNBitsMask
		dst := hdr & nxLearnDstMask
		if hdr&^(nxLearnSrcImmediate|nxLearnDstMask|nxLearnNBitsMask) != 0 || dst > nxLearnDstLoad || n == 0 {
			return nil, fmt.Errorf("learn spec %d: header %#04x is not used by flowgate", len(l.Specs), hdr)
		}
		sp := flows.LearnSpec{Load: dst == nxLearnDstLoad}
		if hdr&nxLearnSrcImmediate == 0 {
			f, err := take(6)
			if err != nil {
				return nil, err
			}
			ref, _, err := refFromWire(u32(f), u16(f[4:]), n)
			if err != nil {
				return nil, fmt.Errorf("learn spec %d source: %w", len(l.Specs), err)
			}
			sp.Src = &ref
		} else {
			v, err := take(2 * int((n+15)/16))
			if err != nil {
				return nil, err
			}
			if sp.Value, err = uint64Value(v); err != nil {
				return nil, fmt.Errorf("learn spec %d: %w", len(l.Specs), err)
			}
		}
		f, err := take(6)
		if err != nil {
			return nil, err
		}
		if sp.Dst, _, err = refFromWire(u32(f), u16(f[4:]), n); err != nil {
			return nil, fmt.Errorf("learn spec %d destination: %w", len(l.Specs), err)
		}
		l.Specs = append(l.Specs, sp)
	}
	if !allBytes(p, 0) {
		return nil, fmt.Errorf("learn: bytes after the specs")
	}
	return l, nil
}
