package openflow

import (
	"encoding/binary"
	"fmt"
	"github.com/flowgate/flowgate/flows"
	"net/netip"
)

// decodeInstructions is the inverse of encodeInstructions.
func decodeInstructions(b []byte) ([]flows.Action, error) {
	var meter, apply, gotoTable []flows.Action
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("instruction: truncated header")
		}
		typ, length := u16(b), int(u16(b[2:]))
		if length < 8 || length > len(b) {
			return nil, fmt.Errorf("instruction %d: bad length %d", typ, length)
		}
		body := b[:length]
		switch typ {
		case ofpitMeter:
			meter = []flows.Action{flows.Meter{ID: u32(body[4:])}}
		case ofpitApplyActions:
			acts, err := decodeActions(body[8:])
			if err != nil {
				return nil, err
			}
			apply = acts
		case ofpitGotoTable:
			gotoTable = []flows.Action{flows.Goto{Table: body[4]}}
		default:
			return nil, fmt.Errorf("instruction type %d is not used by flowgate", typ)
		}
		b = b[length:]
	}
	acts := append(append(meter, apply...), gotoTable...)
	if len(acts) == 0 {
		return nil, nil
	}
	return acts, nil
}

func decodeActions(b []byte) ([]flows.Action, error) {
	var acts []flows.Action
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("action: truncated header")
		}
		length := int(u16(b[2:]))
		if length < 8 || length > len(b) {
			return nil, fmt.Errorf("action type %d: bad length %d", u16(b), length)
		}
		a, err := decodeAction(b[:length])
		if err != nil {
			return nil, err
		}
		acts = append(acts, a)
		b = b[length:]
	}
	return acts, nil
}

func decodeAction(b []byte) (flows.Action, error) {
	switch typ := u16(b); typ {
	case ofpatOutput:
		if len(b) < 16 {
			return nil, fmt.Errorf("output: %d bytes, need 16", len(b))
		}
		port, maxLen := u32(b[4:]), u16(b[8:])
		if port == flows.PortController {
			return controllerAction(maxLen, flows.PacketInAction), nil
		}
		return flows.Output{Port: port}, nil
	case ofpatGroup:
		return flows.Group{ID: u32(b[4:])}, nil
	case ofpatDecNwTTL:
		return flows.DecTTL{}, nil
	case ofpatSetField:
		return decodeSetField(b)
	case ofpatExperimenter:
		if len(b) < 10 || u32(b[4:]) != nxVendorID {
			return nil, fmt.Errorf("action: experimenter %#x is not Nicira", u32(b[4:]))
		}
		return decodeNXAction(u16(b[8:]), b)
	default:
		return nil, fmt.Errorf("action type %d is not used by flowgate", typ)
	}
}

func controllerAction(maxLen uint16, reason uint8) flows.Controller {
	c := flows.Controller{MaxLen: maxLen, Reason: reason}
	if maxLen == ofpcmlNoBuffer {
		c.MaxLen = 0
	}
	return c
}

func decodeSetField(b []byte) (flows.Action, error) {
	h, hasMask := parseWire32(u32(b[4:]))
	if hasMask || len(b) < 8+int(h.size) {
		return nil, fmt.Errorf("set_field: masked or truncated field %#x", u32(b[4:]))
	}
	value := b[8 : 8+int(h.size)]
	field, ok := headerField(h)
	if !ok {
		return nil, fmt.Errorf("set_field: unsupported field class %#04x field %d", h.class, h.field)
	}
	switch field {
	case flows.FieldEthSrc:
		return flows.SetEthSrc{MAC: flows.MAC(value)}, nil
	case flows.FieldEthDst:
		return flows.SetEthDst{MAC: flows.MAC(value)}, nil
	case flows.FieldTunSrc, flows.FieldTunDst, flows.FieldTunIPv6Src, flows.FieldTunIPv6Dst:
		a, _ := netip.AddrFromSlice(value) // 4 or 16 bytes, as the header says
		return flows.SetTunnel{Src: field == flows.FieldTunSrc || field == flows.FieldTunIPv6Src, Addr: a}, nil
	}
	v, err := uint64Value(value)
	if err != nil {
		return nil, fmt.Errorf("set_field %s: %w", flows.FieldName(field), err)
	}
	return flows.Load{Field: flows.Whole(field), Value: v}, nil
}

// uint64Value reads a big-endian field value into the IR's uint64, which
// holds the low 64 bits of wide fields such as ct_label.
func uint64Value(b []byte) (uint64, error) {
	var v uint64
	for i, c := range b {
		if len(b)-i > 8 && c != 0 {
			return 0, fmt.Errorf("value %x does not fit in 64 bits", b)
		}
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// refFromWire turns a code point and NX ofs/nbits into a FieldRef, in the
// normal form where a ref covering the whole field is Whole.
func refFromWire(hdr uint32, ofs, n uint16) (flows.FieldRef, oxmHeader, error) {
	h, _ := parseWire32(hdr)
	f, ok := headerField(h)
	if !ok {
		return flows.FieldRef{}, h, fmt.Errorf("unsupported field class %#04x field %d", h.class, h.field)
	}
	if ofs == 0 && n == fieldBits(h) {
		return flows.Whole(f), h, nil
	}
	return flows.Bits(f, ofs, n), h, nil
}

func decodeNXAction(subtype uint16, b []byte) (flows.Action, error) {
	need := map[uint16]int{nxastRegMove: 24, nxastRegLoad: 24, nxastResubmitTbl: 16,
		nxastOutputReg: 24, nxastController: 16, nxastConjunction: 16, nxastCT: 24, nxastLearn: nxLearnHeaderLen}
	if n, ok := need[subtype]; ok && len(b) < n {
		return nil, fmt.Errorf("nx action %d: %d bytes, need %d", subtype, len(b), n)
	}
	switch subtype {
	case nxastResubmitTbl:
		if u16(b[10:]) != ofppInPort16 {
			return nil, fmt.Errorf("resubmit: in_port %d is not used by flowgate", u16(b[10:]))
		}
		return flows.Resubmit{Table: b[12]}, nil
	case nxastDecTTL:
		return flows.DecTTL{}, nil
	case nxastController:
		return controllerAction(u16(b[10:]), b[14]), nil
	case nxastConjunction:
		return flows.Conjunction{ID: u32(b[12:]), Clause: b[10] + 1, NClauses: b[11]}, nil
	case nxastOutputReg:
		ofsNbits := u16(b[10:])
		ref, _, err := refFromWire(u32(b[12:]), ofsNbits>>6, ofsNbits&0x3f+1)
		if err != nil {
			return nil, fmt.Errorf("output_reg: %w", err)
		}
		return flows.OutputReg{Field: ref}, nil
	case nxastRegLoad:
		ofsNbits := u16(b[10:])
		h, _ := parseWire32(u32(b[12:]))
		f, ok := headerField(h)
		if !ok {
			return nil, fmt.Errorf("load: unsupported field class %#04x field %d", h.class, h.field)
		}
		// A reg_load always decodes as a bit slice, even when it covers the
		// whole field: OVS prints it as load:, not set_field:.
		return flows.Load{Field: flows.Bits(f, ofsNbits>>6, ofsNbits&0x3f+1), Value: u64(b[16:])}, nil
	case nxastRegMove:
		n, srcOfs, dstOfs := u16(b[10:]), u16(b[12:]), u16(b[14:])
		src, _, err := refFromWire(u32(b[16:]), srcOfs, n)
		if err != nil {
			return nil, fmt.Errorf("move: %w", err)
		}
		dst, _, err := refFromWire(u32(b[20:]), dstOfs, n)
		if err != nil {
			return nil, fmt.Errorf("move: %w", err)
		}
		return flows.Move{Src: src, Dst: dst}, nil
	case nxastCT:
		return decodeCT(b)
	case nxastLearn:
		return decodeLearn(b)
	}
	return nil, fmt.Errorf("nx action subtype %d is not used by flowgate", subtype)
}

func decodeCT(b []byte) (flows.Action, error) {
	flags, zoneSrc, zone, table := u16(b[10:]), u32(b[12:]), u16(b[16:]), b[18]
	ct := flows.CT{Commit: flags&nxCTFlagCommit != 0, Force: flags&nxCTFlagForce != 0}
	if zoneSrc != 0 {
		ref, _, err := refFromWire(zoneSrc, zone>>6, zone&0x3f+1)
		if err != nil {
			return nil, fmt.Errorf("ct zone: %w", err)
		}
		ct.ZoneField = &ref
	} else {
		ct.Zone = zone
	}
	if table != nxCTRecircNone {
		ct.Table = flows.U8(table)
	}
	nested, err := decodeActionsNested(b[24:])
	if err != nil {
		return nil, fmt.Errorf("ct: %w", err)
	}
	for i, a := range nested {
		if nat, ok := a.(flows.NAT); ok {
			if i != 0 {
				return nil, fmt.Errorf("ct: nat is not the first nested action")
			}
			ct.NAT = &nat
			continue
		}
		ct.Exec = append(ct.Exec, a.(flows.Action))
	}
	return ct, nil
}

// decodeActionsNested decodes the actions inside ct(), where NXAST_NAT may
// appear; it returns NAT values (not an Action) for those.
func decodeActionsNested(b []byte) ([]any, error) {
	var out []any
	for len(b) > 0 {
		if len(b) < 10 {
			return nil, fmt.Errorf("action: truncated header")
		}
		length := int(u16(b[2:]))
		if length < 8 || length > len(b) {
			return nil, fmt.Errorf("action type %d: bad length %d", u16(b), length)
		}
		a := b[:length]
		if u16(a) == ofpatExperimenter && u32(a[4:]) == nxVendorID && u16(a[8:]) == nxastNAT {
			nat, err := decodeNAT(a)
			if err != nil {
				return nil, err
			}
			out = append(out, nat)
		} else {
			act, err := decodeAction(a)
			if err != nil {
				return nil, err
			}
			out = append(out, act)
		}
		b = b[length:]
	}
	return out, nil
}

func decodeNAT(b []byte) (flows.NAT, error) {
	if len(b) < 16 {
		return flows.NAT{}, fmt.Errorf("nat: %d bytes, need 16", len(b))
	}
	flags, present := u16(b[12:]), u16(b[14:])
	var n flows.NAT
	switch {
	case flags&nxNATFlagSrc != 0:
		n.Kind = flows.NATSrc
	case flags&nxNATFlagDst != 0:
		n.Kind = flows.NATDst
	}
	n.Persistent = flags&nxNATPersistent != 0
	n.Hash = flags&nxNATProtoHash != 0
	n.Random = flags&nxNATProtoRandom != 0
	p := b[16:]
	take := func(k int) ([]byte, error) {
		if len(p) < k {
			return nil, fmt.Errorf("nat: truncated range")
		}
		v := p[:k]
		p = p[k:]
		return v, nil
	}
	for _, part := range []struct {
		bit  uint16
		size int
		dst  *netip.Addr
	}{
		{nxNATRangeIPv4Min, 4, &n.AddrMin}, {nxNATRangeIPv4Max, 4, &n.AddrMax},
		{nxNATRangeIPv6Min, 16, &n.AddrMin}, {nxNATRangeIPv6Max, 16, &n.AddrMax},
	} {
		if present&part.bit == 0 {
			continue
		}
		v, err := take(part.size)
		if err != nil {
			return n, err
		}
		*part.dst, _ = netip.AddrFromSlice(v)
	}
	for _, part := range []struct {
		bit uint16
		dst *uint16
	}{{nxNATRangeProtoMn, &n.PortMin}, {nxNATRangeProtoMx, &n.PortMax}} {
		if present&part.bit == 0 {
			continue
		}
		v, err := take(2)
		if err != nil {
			return n, err
		}
		*part.dst = binary.BigEndian.Uint16(v)
	}
	return n, nil
}
