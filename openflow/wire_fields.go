package openflow

import (
	"fmt"
	"github.com/flowgate/flowgate/flows"
)

// OXM/NXM field headers (ovs-fields(7) "OXM and NXM code points"). A header
// is class<<16 | field<<9 | hasmask<<8 | length; oxmHeader keeps class and
// field only and derives the rest.
type oxmHeader struct {
	class uint16
	field uint8
	size  uint8 // value length in bytes
}

const (
	classNXM0  uint16 = 0x0000 // NXM_OF_*
	classNXM1  uint16 = 0x0001 // NXM_NX_*
	classBasic uint16 = 0x8000 // OXM_OF_*
)

// Match and action field code points used by the encoder. OVS answers an
// OpenFlow 1.3 connection with the OXM form where one exists (and NXM
// otherwise), so these are also what flow-stats replies carry; the decoder
// additionally accepts the older NXM aliases in nxmAliases.
var (
	oxmInPort     = oxmHeader{classBasic, 0, 4}
	oxmMetadata   = oxmHeader{classBasic, 2, 8}
	oxmEthDst     = oxmHeader{classBasic, 3, 6}
	oxmEthSrc     = oxmHeader{classBasic, 4, 6}
	oxmEthType    = oxmHeader{classBasic, 5, 2}
	oxmVLANVID    = oxmHeader{classBasic, 6, 2}
	oxmIPProto    = oxmHeader{classBasic, 10, 1}
	oxmIPv4Src    = oxmHeader{classBasic, 11, 4}
	oxmIPv4Dst    = oxmHeader{classBasic, 12, 4}
	oxmTCPSrc     = oxmHeader{classBasic, 13, 2}
	oxmTCPDst     = oxmHeader{classBasic, 14, 2}
	oxmUDPSrc     = oxmHeader{classBasic, 15, 2}
	oxmUDPDst     = oxmHeader{classBasic, 16, 2}
	oxmSCTPSrc    = oxmHeader{classBasic, 17, 2}
	oxmSCTPDst    = oxmHeader{classBasic, 18, 2}
	oxmICMPv4Type = oxmHeader{classBasic, 19, 1}
	oxmICMPv4Code = oxmHeader{classBasic, 20, 1}
	oxmARPOp      = oxmHeader{classBasic, 21, 2}
	oxmARPSpa     = oxmHeader{classBasic, 22, 4}
	oxmARPTpa     = oxmHeader{classBasic, 23, 4}
	oxmARPSha     = oxmHeader{classBasic, 24, 6}
	oxmARPTha     = oxmHeader{classBasic, 25, 6}
	oxmIPv6Src    = oxmHeader{classBasic, 26, 16}
	oxmIPv6Dst    = oxmHeader{classBasic, 27, 16}
	oxmICMPv6Type = oxmHeader{classBasic, 29, 1}
	oxmICMPv6Code = oxmHeader{classBasic, 30, 1}
	oxmNDTarget   = oxmHeader{classBasic, 31, 16}
	oxmNDSll      = oxmHeader{classBasic, 32, 6}
	oxmNDTll      = oxmHeader{classBasic, 33, 6}
	oxmTunnelID   = oxmHeader{classBasic, 38, 8}
	nxmNXConjID   = oxmHeader{classNXM1, 37, 4}
	nxmNXCTState  = oxmHeader{classNXM1, 105, 4}
	nxmNXCTZone   = oxmHeader{classNXM1, 106, 2}
	nxmNXCTMark   = oxmHeader{classNXM1, 107, 4}
	nxmNXCTLabel  = oxmHeader{classNXM1, 108, 16}
	// Conntrack original-direction tuple addresses (OVS 2.8+).
	nxmNXCTNwSrc   = oxmHeader{classNXM1, 120, 4}
	nxmNXCTNwDst   = oxmHeader{classNXM1, 121, 4}
	nxmNXCTIPv6Src = oxmHeader{classNXM1, 122, 16}
	nxmNXCTIPv6Dst = oxmHeader{classNXM1, 123, 16}
	// The original direction's protocol and destination port.
	nxmNXCTNwProto = oxmHeader{classNXM1, 119, 1}
	nxmNXIPTTL     = oxmHeader{classNXM1, 29, 1}
	nxmNXCTTpDst   = oxmHeader{classNXM1, 125, 2}
	// The outer addresses of a tunnel, which have no OXM form.
	nxmNXTunIPv4Src = oxmHeader{classNXM1, 31, 4}
	nxmNXTunIPv4Dst = oxmHeader{classNXM1, 32, 4}
	nxmNXTunIPv6Src = oxmHeader{classNXM1, 109, 16}
	nxmNXTunIPv6Dst = oxmHeader{classNXM1, 110, 16}
	nxmOFInPort16   = oxmHeader{classNXM0, 0, 2} // NXM_OF_IN_PORT, the 16-bit in_port of move/load
	nxmNXRegFirst   = oxmHeader{classNXM1, 0, 4} // NXM_NX_REG0; REGn is field n
)

// nxmAliases maps pre-OXM NXM code points to the OXM ones above, so that
// a reply using either spelling decodes to the same field.
var nxmAliases = map[oxmHeader]oxmHeader{
	{classNXM0, 1, 6}:   oxmEthDst,
	{classNXM0, 2, 6}:   oxmEthSrc,
	{classNXM0, 3, 2}:   oxmEthType,
	{classNXM0, 6, 1}:   oxmIPProto,
	{classNXM0, 7, 4}:   oxmIPv4Src,
	{classNXM0, 8, 4}:   oxmIPv4Dst,
	{classNXM0, 9, 2}:   oxmTCPSrc,
	{classNXM0, 10, 2}:  oxmTCPDst,
	{classNXM0, 11, 2}:  oxmUDPSrc,
	{classNXM0, 12, 2}:  oxmUDPDst,
	{classNXM0, 13, 1}:  oxmICMPv4Type,
	{classNXM0, 14, 1}:  oxmICMPv4Code,
	{classNXM0, 15, 2}:  oxmARPOp,
	{classNXM0, 16, 4}:  oxmARPSpa,
	{classNXM0, 17, 4}:  oxmARPTpa,
	{classNXM1, 17, 6}:  oxmARPSha,
	{classNXM1, 18, 6}:  oxmARPTha,
	{classNXM1, 19, 16}: oxmIPv6Src,
	{classNXM1, 20, 16}: oxmIPv6Dst,
	{classNXM1, 21, 1}:  oxmICMPv6Type,
	{classNXM1, 22, 1}:  oxmICMPv6Code,
	{classNXM1, 23, 16}: oxmNDTarget,
	{classNXM1, 24, 6}:  oxmNDSll,
	{classNXM1, 25, 6}:  oxmNDTll,
	{classNXM1, 16, 8}:  oxmTunnelID, // NXM_NX_TUN_ID
}

func canonicalHeader(h oxmHeader) oxmHeader {
	if c, ok := nxmAliases[h]; ok {
		return c
	}
	return h
}

// wire32 is the 32-bit header as it appears on the wire, for actions that
// name a field (set_field, reg_load, reg_move, output_reg, ct zone_src).
func (h oxmHeader) wire32() uint32 {
	return uint32(h.class)<<16 | uint32(h.field)<<9 | uint32(h.size)
}

func parseWire32(v uint32) (h oxmHeader, hasMask bool) {
	h = oxmHeader{class: uint16(v >> 16), field: uint8(v>>9) & 0x7f, size: uint8(v)}
	if v&0x100 != 0 {
		hasMask = true
		h.size /= 2
	}
	return h, hasMask
}

// actionFields maps the IR's Fields to the code points actions use. As in
// the text form, FieldTPSrc/FieldTPDst are the TCP ports and FieldICMPType
// is the ICMPv4 type (what OVS's tp_src/tp_dst/icmp_type aliases resolve
// to), and FieldInPort is the 16-bit NXM_OF_IN_PORT.
var actionFields = buildActionFields()

func buildActionFields() map[flows.Field]oxmHeader {
	m := map[flows.Field]oxmHeader{
		flows.FieldMetadata: oxmMetadata, flows.FieldCTMark: nxmNXCTMark, flows.FieldCTLabel: nxmNXCTLabel,
		flows.FieldEthSrc: oxmEthSrc, flows.FieldEthDst: oxmEthDst,
		flows.FieldIPv4Src: oxmIPv4Src, flows.FieldIPv4Dst: oxmIPv4Dst, flows.FieldIPv6Src: oxmIPv6Src, flows.FieldIPv6Dst: oxmIPv6Dst,
		flows.FieldARPOp: oxmARPOp, flows.FieldARPSha: oxmARPSha, flows.FieldARPTha: oxmARPTha, flows.FieldARPSpa: oxmARPSpa, flows.FieldARPTpa: oxmARPTpa,
		flows.FieldInPort: nxmOFInPort16, flows.FieldTPSrc: oxmTCPSrc, flows.FieldTPDst: oxmTCPDst, flows.FieldICMPType: oxmICMPv4Type,
		flows.FieldICMPv6Type: oxmICMPv6Type,
		flows.FieldNDTarget:   oxmNDTarget, flows.FieldNDTll: oxmNDTll,
		flows.FieldEthType: oxmEthType, flows.FieldIPProto: oxmIPProto, flows.FieldUDPDst: oxmUDPDst,
		flows.FieldTunID: oxmTunnelID, flows.FieldTunSrc: nxmNXTunIPv4Src, flows.FieldTunDst: nxmNXTunIPv4Dst,
		flows.FieldTunIPv6Src: nxmNXTunIPv6Src, flows.FieldTunIPv6Dst: nxmNXTunIPv6Dst,
	}
	for i := uint8(0); i <= 15; i++ {
		m[flows.RegField(i)] = oxmHeader{classNXM1, nxmNXRegFirst.field + i, 4}
	}
	return m
}

// fieldsByHeader inverts actionFields for the decoder.
var fieldsByHeader = func() map[oxmHeader]flows.Field {
	m := make(map[oxmHeader]flows.Field, len(actionFields))
	for f, h := range actionFields {
		m[h] = f
	}
	return m
}()

// nxmForms maps OXM code points to the NXM ones that name the same
// field: learn specs are encoded with these, as ovs-ofctl encodes them.
var nxmForms = func() map[oxmHeader]oxmHeader {
	m := make(map[oxmHeader]oxmHeader, len(nxmAliases))
	for nxm, oxm := range nxmAliases {
		m[oxm] = nxm
	}
	return m
}()

// nxmForm is h's NXM code point where it has one (OVS's
// nxm_header_from_mff), h otherwise (metadata has no NXM form).
func nxmForm(h oxmHeader) oxmHeader {
	if n, ok := nxmForms[h]; ok {
		return n
	}
	return h
}

func fieldHeader(f flows.Field) (oxmHeader, error) {
	if h, ok := actionFields[f]; ok {
		return h, nil
	}
	return oxmHeader{}, fmt.Errorf("field %d has no OpenFlow code point", f)
}

func headerField(h oxmHeader) (flows.Field, bool) {
	f, ok := fieldsByHeader[canonicalHeader(h)]
	return f, ok
}

func portHeaders(proto uint8) (src, dst oxmHeader, err error) {
	switch proto {
	case flows.ProtoTCP:
		return oxmTCPSrc, oxmTCPDst, nil
	case flows.ProtoUDP:
		return oxmUDPSrc, oxmUDPDst, nil
	case flows.ProtoSCTP:
		return oxmSCTPSrc, oxmSCTPDst, nil
	}
	return oxmHeader{}, oxmHeader{}, fmt.Errorf("transport ports need ip_proto tcp, udp or sctp, have %d", proto)
}

// fieldBits is the width of a field in bits.
func fieldBits(h oxmHeader) uint16 { return uint16(h.size) * 8 }
