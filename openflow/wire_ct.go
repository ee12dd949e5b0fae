package openflow

import (
	"encoding/binary"
	"fmt"
	"github.com/flowgate/flowgate/flows"
)

// encodeCT writes NXAST_CT: a 24-byte header followed by its nested
// actions, the nat(...) clause first (ovs-ofctl prints a leading NAT
// outside exec(...)) and then the exec loads.
func encodeCT(a flows.CT) ([]byte, error) {
	var flags uint16
	if a.Commit {
		flags |= nxCTFlagCommit
	}
	if a.Force {
		flags |= nxCTFlagForce
	}
	var zoneSrc uint32
	zone := a.Zone
	if a.ZoneField != nil {
		if a.Zone != 0 {
			return nil, fmt.Errorf("ct: zone=%d and a zone field are exclusive", a.Zone)
		}
		h, ofsNbits, err := refOnWire(*a.ZoneField)
		if err != nil {
			return nil, fmt.Errorf("ct zone: %w", err)
		}
		if ofsNbits&0x3f != 15 {
			return nil, fmt.Errorf("ct zone from %s: must be exactly 16 bits", flows.FieldName(a.ZoneField.Field))
		}
		zoneSrc, zone = h.wire32(), ofsNbits
	}
	table := nxCTRecircNone
	if a.Table != nil {
		if *a.Table == nxCTRecircNone {
			return nil, fmt.Errorf("ct: table=255 cannot be a recirculation target")
		}
		table = *a.Table
	}
	var nested []byte
	if a.NAT != nil {
		nat, err := encodeNAT(*a.NAT)
		if err != nil {
			return nil, err
		}
		nested = nat
	}
	for i, e := range a.Exec {
		var b []byte
		var err error
		switch x := e.(type) {
		case flows.Load:
			if !isCTWritable(x.Field.Field) {
				return nil, fmt.Errorf("ct exec action %d: only loads or moves into ct_mark or ct_label are allowed", i)
			}
			b, err = encodeLoad(x)
		case flows.Move:
			if !isCTWritable(x.Dst.Field) {
				return nil, fmt.Errorf("ct exec action %d: only loads or moves into ct_mark or ct_label are allowed", i)
			}
			b, err = encodeMove(x)
		default:
			return nil, fmt.Errorf("ct exec action %d: only loads or moves into ct_mark or ct_label are allowed, have %T", i, e)
		}
		if err != nil {
			return nil, fmt.Errorf("ct exec action %d: %w", i, err)
		}
		nested = append(nested, b...)
	}
	b := binary.BigEndian.AppendUint16(nxAction(nxastCT, uint16(24+len(nested))), flags)
	b = binary.BigEndian.AppendUint32(b, zoneSrc)
	b = binary.BigEndian.AppendUint16(b, zone)
	b = append(b, table, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, 0) // alg: none
	return append(b, nested...), nil
}

// encodeNAT writes NXAST_NAT: flags, a bitmap of the range parts present,
// and those parts in fixed order (IPv4 min/max or IPv6 min/max, then port
// min/max), padded to 8 bytes.
func encodeNAT(n flows.NAT) ([]byte, error) {
	var flags, present uint16
	var ranges []byte
	switch n.Kind {
	case flows.NATNone:
		if n.AddrMin.IsValid() || n.PortMin != 0 || n.Random || n.Persistent || n.Hash {
			return nil, fmt.Errorf("ct nat: a plain nat takes no address, port or flags")
		}
	case flows.NATSrc:
		flags |= nxNATFlagSrc
	case flows.NATDst:
		flags |= nxNATFlagDst
	default:
		return nil, fmt.Errorf("ct nat: unknown kind %d", n.Kind)
	}
	if n.Kind != flows.NATNone {
		if !n.AddrMin.IsValid() {
			return nil, fmt.Errorf("ct nat: src/dst translation needs an address")
		}
		if n.AddrMax.IsValid() && (n.AddrMax.Is4() != n.AddrMin.Is4() || n.AddrMax.Less(n.AddrMin)) {
			return nil, fmt.Errorf("ct nat: address range %s-%s is reversed or mixes families", n.AddrMin, n.AddrMax)
		}
		minBit, maxBit := nxNATRangeIPv4Min, nxNATRangeIPv4Max
		if n.AddrMin.Is6() {
			minBit, maxBit = nxNATRangeIPv6Min, nxNATRangeIPv6Max
		}
		present |= minBit
		ranges = append(ranges, n.AddrMin.AsSlice()...)
		if n.AddrMax.IsValid() {
			present |= maxBit
			ranges = append(ranges, n.AddrMax.AsSlice()...)
		}
	}
	if n.PortMin == 0 && n.PortMax != 0 || n.PortMax != 0 && n.PortMax < n.PortMin {
		return nil, fmt.Errorf("ct nat: port range %d-%d is invalid", n.PortMin, n.PortMax)
	}
	if n.PortMin != 0 {
		present |= nxNATRangeProtoMn
		ranges = binary.BigEndian.AppendUint16(ranges, n.PortMin)
		if n.PortMax != 0 {
			present |= nxNATRangeProtoMx
			ranges = binary.BigEndian.AppendUint16(ranges, n.PortMax)
		}
	}
	if n.Random && n.Hash {
		return nil, fmt.Errorf("ct nat: random and hash are exclusive")
	}
	if n.Persistent {
		flags |= nxNATPersistent
	}
	if n.Hash {
		flags |= nxNATProtoHash
	}
	if n.Random {
		flags |= nxNATProtoRandom
	}
	length := uint16(pad8(16 + len(ranges)))
	b := append(nxAction(nxastNAT, length), 0, 0)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, present)
	b = append(b, ranges...)
	return append(b, zeros(int(length)-len(b))...), nil
}

// isCTWritable reports whether f may be written inside ct(exec(...)).
func isCTWritable(f flows.Field) bool { return f == flows.FieldCTMark || f == flows.FieldCTLabel }
