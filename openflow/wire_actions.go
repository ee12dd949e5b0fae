package openflow

import (
	"encoding/binary"
	"fmt"
	"github.com/flowgate/flowgate/flows"
)

// OpenFlow 1.3 instruction and action types, and the Nicira extension
// subtypes (NXAST_*) flowgate uses, as numbered in OVS's ofp-actions.c.
const (
	ofpitGotoTable    uint16 = 1
	ofpitApplyActions uint16 = 4
	ofpitMeter        uint16 = 6

	ofpatOutput       uint16 = 0
	ofpatGroup        uint16 = 22
	ofpatDecNwTTL     uint16 = 24
	ofpatSetField     uint16 = 25
	ofpatExperimenter uint16 = 0xffff

	nxVendorID uint32 = 0x00002320

	nxastRegMove      uint16 = 6
	nxastRegLoad      uint16 = 7
	nxastResubmitTbl  uint16 = 14
	nxastOutputReg    uint16 = 15
	nxastDecTTL       uint16 = 18
	nxastController   uint16 = 20
	nxastConjunction  uint16 = 34
	nxastCT           uint16 = 35
	nxastNAT          uint16 = 36
	ofppInPort16      uint16 = 0xfff8 // OFPP_IN_PORT in 16-bit NX actions
	ofpcmlNoBuffer    uint16 = 0xffff // send the whole packet to the controller
	nxCTRecircNone    uint8  = 0xff
	nxCTFlagCommit    uint16 = 1 << 0
	nxCTFlagForce     uint16 = 1 << 1
	nxNATFlagSrc      uint16 = 1 << 0
	nxNATFlagDst      uint16 = 1 << 1
	nxNATPersistent   uint16 = 1 << 2
	nxNATProtoHash    uint16 = 1 << 3
	nxNATProtoRandom  uint16 = 1 << 4
	nxNATRangeIPv4Min uint16 = 1 << 0
	nxNATRangeIPv4Max uint16 = 1 << 1
	nxNATRangeIPv6Min uint16 = 1 << 2
	nxNATRangeIPv6Max uint16 = 1 << 3
	nxNATRangeProtoMn uint16 = 1 << 4
	nxNATRangeProtoMx uint16 = 1 << 5
)

// encodeInstructions turns a flow's action list into OpenFlow 1.3
// instructions: Meter (first) -> meter instruction, Goto (last) ->
// goto_table, everything else -> one apply-actions instruction, nothing
// for a drop.
func encodeInstructions(f flows.Flow) ([]byte, error) {
	var out, apply []byte
	acts := f.Actions
	if len(acts) == 1 {
		if _, ok := acts[0].(flows.Drop); ok {
			return nil, nil
		}
	}
	var gotoTable *uint8
	for i, a := range acts {
		switch a := a.(type) {
		case flows.Meter:
			if i != 0 {
				return nil, fmt.Errorf("action %d: meter must be the first action", i)
			}
			out = binary.BigEndian.AppendUint16(out, ofpitMeter)
			out = binary.BigEndian.AppendUint16(out, 8)
			out = binary.BigEndian.AppendUint32(out, a.ID)
		case flows.Goto:
			if i != len(acts)-1 {
				return nil, fmt.Errorf("action %d: goto_table must be the last action", i)
			}
			gotoTable = &a.Table
		case flows.Drop:
			return nil, fmt.Errorf("action %d: drop cannot be combined with other actions", i)
		default:
			b, err := encodeAction(a)
			if err != nil {
				return nil, fmt.Errorf("action %d: %w", i, err)
			}
			apply = append(apply, b...)
		}
	}
	if len(apply) > 0 {
		out = binary.BigEndian.AppendUint16(out, ofpitApplyActions)
		out = binary.BigEndian.AppendUint16(out, uint16(8+len(apply)))
		out = append(out, 0, 0, 0, 0)
		out = append(out, apply...)
	}
	if gotoTable != nil {
		out = binary.BigEndian.AppendUint16(out, ofpitGotoTable)
		out = binary.BigEndian.AppendUint16(out, 8)
		out = append(out, *gotoTable, 0, 0, 0)
	}
	return out, nil
}

// ofAction starts a standard action of the given type and total length.
func ofAction(typ, length uint16) []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, length), typ)
	return binary.BigEndian.AppendUint16(b, length)
}

// nxAction starts a Nicira vendor action (type, len, vendor, subtype).
func nxAction(subtype, length uint16) []byte {
	b := ofAction(ofpatExperimenter, length)
	b = binary.BigEndian.AppendUint32(b, nxVendorID)
	return binary.BigEndian.AppendUint16(b, subtype)
}

func zeros(n int) []byte { return make([]byte, n) }

func encodeAction(a flows.Action) ([]byte, error) {
	switch a := a.(type) {
	case flows.Output:
		if a.Port == flows.PortController {
			return nil, fmt.Errorf("output:CONTROLLER: use the Controller action, which OVS turns it into")
		}
		b := binary.BigEndian.AppendUint32(ofAction(ofpatOutput, 16), a.Port)
		b = binary.BigEndian.AppendUint16(b, 0)
		return append(b, zeros(6)...), nil
	case flows.Controller:
		return encodeController(a), nil
	case flows.OutputReg:
		h, ofsNbits, err := refOnWire(a.Field)
		if err != nil {
			return nil, fmt.Errorf("output:%s: %w", flows.FieldName(a.Field.Field), err)
		}
		b := binary.BigEndian.AppendUint16(nxAction(nxastOutputReg, 24), ofsNbits)
		b = binary.BigEndian.AppendUint32(b, h.wire32())
		b = binary.BigEndian.AppendUint16(b, ofpcmlNoBuffer)
		return append(b, zeros(6)...), nil
	case flows.Resubmit:
		b := binary.BigEndian.AppendUint16(nxAction(nxastResubmitTbl, 16), ofppInPort16)
		return append(b, a.Table, 0, 0, 0), nil
	case flows.DecTTL:
		return append(ofAction(ofpatDecNwTTL, 8), zeros(4)...), nil
	case flows.SetEthSrc:
		return encodeSetField(oxmEthSrc, a.MAC[:]), nil
	case flows.SetEthDst:
		return encodeSetField(oxmEthDst, a.MAC[:]), nil
	case flows.SetTunnel:
		return encodeSetTunnel(a)
	case flows.Load:
		return encodeLoad(a)
	case flows.Move:
		return encodeMove(a)
	case flows.Conjunction:
		if a.NClauses < 2 || a.NClauses > 64 || a.Clause < 1 || a.Clause > a.NClauses {
			return nil, fmt.Errorf("conjunction(%d,%d/%d): clause must be 1..n with 2 <= n <= 64", a.ID, a.Clause, a.NClauses)
		}
		// The wire clause is 0-based; ovs-ofctl prints it 1-based.
		b := append(nxAction(nxastConjunction, 16), a.Clause-1, a.NClauses)
		return binary.BigEndian.AppendUint32(b, a.ID), nil
	case flows.Group:
		return binary.BigEndian.AppendUint32(ofAction(ofpatGroup, 8), a.ID), nil
	case flows.CT:
		return encodeCT(a)
	case flows.Learn:
		return encodeLearn(a)
	case flows.Meter, flows.Goto, flows.Drop:
		return nil, fmt.Errorf("%T is only valid at the top level of a flow's actions", a)
	}
	return nil, fmt.Errorf("unsupported action %T", a)
}

// encodeController uses a plain output to CONTROLLER for reason "action"
// (OVS re-encodes it that way and prints "CONTROLLER:<len>"), and
// NXAST_CONTROLLER for any other reason.
func encodeController(a flows.Controller) []byte {
	maxLen := a.MaxLen
	if maxLen == 0 {
		maxLen = ofpcmlNoBuffer
	}
	if a.Reason == flows.PacketInAction {
		b := binary.BigEndian.AppendUint32(ofAction(ofpatOutput, 16), flows.PortController)
		b = binary.BigEndian.AppendUint16(b, maxLen)
		return append(b, zeros(6)...)
	}
	b := binary.BigEndian.AppendUint16(nxAction(nxastController, 16), maxLen)
	b = binary.BigEndian.AppendUint16(b, 0) // controller_id
	return append(b, a.Reason, 0)
}

func encodeSetField(h oxmHeader, value []byte) []byte {
	length := uint16(pad8(8 + len(value)))
	b := binary.BigEndian.AppendUint32(ofAction(ofpatSetField, length), h.wire32())
	b = append(b, value...)
	return append(b, zeros(int(length)-8-len(value))...)
}

// encodeSetTunnel sets the outer address in the field of its family. A
// zone cannot go on the wire, and an invalid address has no family.
func encodeSetTunnel(a flows.SetTunnel) ([]byte, error) {
	switch {
	case !a.Addr.IsValid():
		return nil, fmt.Errorf("set tunnel address: no address")
	case a.Addr.Zone() != "":
		return nil, fmt.Errorf("set tunnel address %s: an outer address has no zone", a.Addr)
	}
	h := nxmNXTunIPv6Dst
	switch {
	case a.Src && a.Addr.Is4():
		h = nxmNXTunIPv4Src
	case a.Src:
		h = nxmNXTunIPv6Src
	case a.Addr.Is4():
		h = nxmNXTunIPv4Dst
	}
	return encodeSetField(h, a.Addr.AsSlice()), nil
}

// resolveRef resolves a FieldRef to its code point and bit range,
// checking that the slice lies inside the field.
func resolveRef(r flows.FieldRef) (h oxmHeader, ofs, n uint16, err error) {
	h, err = fieldHeader(r.Field)
	if err != nil {
		return h, 0, 0, err
	}
	ofs, n = r.Ofs, r.Bits
	if n == 0 {
		ofs, n = 0, fieldBits(h)
	}
	if ofs+n > fieldBits(h) {
		return h, 0, 0, fmt.Errorf("bits [%d..%d] outside the %d-bit field", ofs, ofs+n-1, fieldBits(h))
	}
	return h, ofs, n, nil
}

// refOnWire is resolveRef packed into NX ofs_nbits (offset<<6 | bits-1),
// which can express at most 64 bits.
func refOnWire(r flows.FieldRef) (oxmHeader, uint16, error) {
	h, ofs, n, err := resolveRef(r)
	if err != nil {
		return h, 0, err
	}
	if n > 64 {
		return h, 0, fmt.Errorf("%d bits: at most 64 fit in this action", n)
	}
	return h, ofs<<6 | (n - 1), nil
}

// encodeLoad writes a whole-field Load as OFPAT_SET_FIELD and a bit-slice
// Load as NXAST_REG_LOAD; OVS remembers which one it was given and prints
// "set_field:V->field" or "load:V->NXM_...[a..b]" accordingly.
func encodeLoad(a flows.Load) ([]byte, error) {
	name := flows.FieldName(a.Field.Field)
	if a.Field.Bits == 0 {
		h, err := fieldHeader(a.Field.Field)
		if err != nil {
			return nil, fmt.Errorf("set_field %s: %w", name, err)
		}
		value := make([]byte, h.size)
		if h.size >= 8 {
			binary.BigEndian.PutUint64(value[h.size-8:], a.Value)
		} else {
			if a.Value>>(8*h.size) != 0 {
				return nil, fmt.Errorf("set_field %#x->%s: value wider than the field", a.Value, name)
			}
			full := be64(a.Value)
			copy(value, full[8-h.size:])
		}
		return encodeSetField(h, value), nil
	}
	h, ofsNbits, err := refOnWire(a.Field)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if a.Field.Bits < 64 && a.Value>>a.Field.Bits != 0 {
		return nil, fmt.Errorf("load %#x->%s[%d bits]: value does not fit", a.Value, name, a.Field.Bits)
	}
	b := binary.BigEndian.AppendUint16(nxAction(nxastRegLoad, 24), ofsNbits)
	b = binary.BigEndian.AppendUint32(b, h.wire32())
	return binary.BigEndian.AppendUint64(b, a.Value), nil
}

func encodeMove(a flows.Move) ([]byte, error) {
	sh, sOfs, n, err := resolveRef(a.Src)
	if err != nil {
		return nil, fmt.Errorf("move from %s: %w", flows.FieldName(a.Src.Field), err)
	}
	dh, dOfs, dn, err := resolveRef(a.Dst)
	if err != nil {
		return nil, fmt.Errorf("move to %s: %w", flows.FieldName(a.Dst.Field), err)
	}
	if n != dn {
		return nil, fmt.Errorf("move %s->%s: widths %d and %d differ", flows.FieldName(a.Src.Field), flows.FieldName(a.Dst.Field), n, dn)
	}
	b := binary.BigEndian.AppendUint16(nxAction(nxastRegMove, 24), n)
	b = binary.BigEndian.AppendUint16(b, sOfs)
	b = binary.BigEndian.AppendUint16(b, dOfs)
	b = binary.BigEndian.AppendUint32(b, sh.wire32())
	return binary.BigEndian.AppendUint32(b, dh.wire32()), nil
}
