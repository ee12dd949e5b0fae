package pipeline

import (
	"fmt"

	"github.com/flowgate/flowgate/flows"
)

// mergeMatch returns a with every field b sets added. The builders merge
// partial matches (a port, a remote prefix, a protocol) into one flow;
// both setting one field to different values is a compiler bug.
func mergeMatch(a, b flows.Match) (flows.Match, error) {
	var conflict []string
	set := func(name string, aSet, bSet, equal bool) bool {
		if aSet && bSet && !equal {
			conflict = append(conflict, name)
			return false
		}
		return bSet
	}
	if set("in_port", a.InPort != 0, b.InPort != 0, a.InPort == b.InPort) {
		a.InPort = b.InPort
	}
	for _, rb := range b.Regs {
		dup := false
		for _, ra := range a.Regs {
			if ra.Index == rb.Index {
				dup = true
				if ra != rb {
					conflict = append(conflict, fmt.Sprintf("reg%d", rb.Index))
				}
			}
		}
		if !dup {
			a.Regs = append(a.Regs, rb)
		}
	}
	if b.CTState != (flows.CTStateMatch{}) {
		a.CTState.Set |= b.CTState.Set
		a.CTState.Clear |= b.CTState.Clear
		if a.CTState.Set&a.CTState.Clear != 0 {
			conflict = append(conflict, "ct_state")
		}
	}
	if set("ct_label", a.CTLabel != nil, b.CTLabel != nil, a.CTLabel != nil && b.CTLabel != nil && *a.CTLabel == *b.CTLabel) {
		a.CTLabel = b.CTLabel
	}
	if set("ct_nw_src", a.CTNwSrc.IsValid(), b.CTNwSrc.IsValid(), a.CTNwSrc == b.CTNwSrc) {
		a.CTNwSrc = b.CTNwSrc
	}
	if set("ct_nw_dst", a.CTNwDst.IsValid(), b.CTNwDst.IsValid(), a.CTNwDst == b.CTNwDst) {
		a.CTNwDst = b.CTNwDst
	}
	if set("tun_id", a.TunID != nil, b.TunID != nil, a.TunID != nil && b.TunID != nil && *a.TunID == *b.TunID) {
		a.TunID = b.TunID
	}
	if set("tun_src", a.TunSrc.IsValid(), b.TunSrc.IsValid(), a.TunSrc == b.TunSrc) {
		a.TunSrc = b.TunSrc
	}
	if set("tun_dst", a.TunDst.IsValid(), b.TunDst.IsValid(), a.TunDst == b.TunDst) {
		a.TunDst = b.TunDst
	}
	if set("ct_nw_proto", a.CTNwProto != nil, b.CTNwProto != nil, a.CTNwProto != nil && b.CTNwProto != nil && *a.CTNwProto == *b.CTNwProto) {
		a.CTNwProto = b.CTNwProto
	}
	if set("ct_tp_dst", a.CTTpDst != nil, b.CTTpDst != nil, a.CTTpDst != nil && b.CTTpDst != nil && *a.CTTpDst == *b.CTTpDst) {
		a.CTTpDst = b.CTTpDst
	}
	if set("dl_src", a.EthSrc != nil, b.EthSrc != nil, a.EthSrc != nil && b.EthSrc != nil && *a.EthSrc == *b.EthSrc) {
		a.EthSrc = b.EthSrc
	}
	if set("dl_dst", a.EthDst != nil, b.EthDst != nil, a.EthDst != nil && b.EthDst != nil && *a.EthDst == *b.EthDst) {
		a.EthDst = b.EthDst
	}
	if set("dl_type", a.EthType != 0, b.EthType != 0, a.EthType == b.EthType) {
		a.EthType = b.EthType
	}
	if set("nw_src", a.IPSrc.IsValid(), b.IPSrc.IsValid(), a.IPSrc == b.IPSrc) {
		a.IPSrc = b.IPSrc
	}
	if set("nw_dst", a.IPDst.IsValid(), b.IPDst.IsValid(), a.IPDst == b.IPDst) {
		a.IPDst = b.IPDst
	}
	if set("nw_proto", a.IPProto != nil, b.IPProto != nil, a.IPProto != nil && b.IPProto != nil && *a.IPProto == *b.IPProto) {
		a.IPProto = b.IPProto
	}
	if set("nw_ttl", a.IPTTL != nil, b.IPTTL != nil, a.IPTTL != nil && b.IPTTL != nil && *a.IPTTL == *b.IPTTL) {
		a.IPTTL = b.IPTTL
	}
	if set("tp_dst", a.TPDst != nil, b.TPDst != nil, a.TPDst != nil && b.TPDst != nil && *a.TPDst == *b.TPDst) {
		a.TPDst = b.TPDst
	}
	if set("tp_src", a.TPSrc != nil, b.TPSrc != nil, a.TPSrc != nil && b.TPSrc != nil && *a.TPSrc == *b.TPSrc) {
		a.TPSrc = b.TPSrc // policies match replies by their source port
	}
	if set("icmp_type", a.ICMPType != nil, b.ICMPType != nil, a.ICMPType != nil && b.ICMPType != nil && *a.ICMPType == *b.ICMPType) {
		a.ICMPType = b.ICMPType
	}
	if set("icmp_code", a.ICMPCode != nil, b.ICMPCode != nil, a.ICMPCode != nil && b.ICMPCode != nil && *a.ICMPCode == *b.ICMPCode) {
		a.ICMPCode = b.ICMPCode
	}
	if b.ConjID != nil || b.Metadata != nil || b.CTZone != nil || b.CTMark != nil || b.VLANID != nil ||
		b.ARPOp != nil || b.ARPSpa.IsValid() || b.ARPTpa.IsValid() || b.ARPSha != nil ||
		b.ARPTha != nil || b.NDTarget.IsValid() || b.NDSll != nil || b.NDTll != nil {
		conflict = append(conflict, "a field the ACL builders never combine")
	}
	if len(conflict) > 0 {
		return flows.Match{}, fmt.Errorf("merge %q into %q: conflicting %v", b.String(), a.String(), conflict)
	}
	return a, nil
}
