package flows

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ActionsString renders an action list as ovs-ofctl prints it after
// "actions=". The conventions for actions OVS can print in two ways are
// described at the top of text.go.
func ActionsString(actions []Action) string {
	if len(actions) == 0 {
		return "drop"
	}
	parts := make([]string, len(actions))
	for i, a := range actions {
		parts[i] = formatAction(a)
	}
	return strings.Join(parts, ",")
}

func formatAction(a Action) string {
	switch a := a.(type) {
	case Output:
		if a.Port == PortController {
			// OVS turns output:CONTROLLER into its controller action.
			return formatAction(Controller{Reason: PacketInAction})
		}
		if n, ok := portNames[a.Port]; ok {
			return n
		}
		return "output:" + strconv.FormatUint(uint64(a.Port), 10)
	case OutputReg:
		return "output:" + formatFieldRef(a.Field)
	case Goto:
		return "goto_table:" + strconv.Itoa(int(a.Table))
	case Resubmit:
		return "resubmit(," + strconv.Itoa(int(a.Table)) + ")"
	case Drop:
		return "drop"
	case DecTTL:
		return "dec_ttl"
	case SetEthSrc:
		return "set_field:" + a.MAC.String() + "->eth_src"
	case SetEthDst:
		return "set_field:" + a.MAC.String() + "->eth_dst"
	case SetTunnel:
		return "set_field:" + formatAddr(a.Addr) + "->" + tunnelFieldName(a)
	case Load:
		return formatLoad(a)
	case Move:
		return "move:" + formatFieldRef(a.Src) + "->" + formatFieldRef(a.Dst)
	case Conjunction:
		return "conjunction(" + strconv.FormatUint(uint64(a.ID), 10) + "," + strconv.Itoa(int(a.Clause)) + "/" + strconv.Itoa(int(a.NClauses)) + ")"
	case Group:
		return fmt.Sprintf("group:%d", a.ID)
	case Meter:
		return fmt.Sprintf("meter:%d", a.ID)
	case Controller:
		return formatController(a)
	case CT:
		return formatCT(a)
	case Learn:
		return formatLearn(a)
	}
	return fmt.Sprintf("<unknown action %T>", a)
}

// tunnelFieldName is the set_field name of the tunnel address t sets:
// tun_src/tun_dst for IPv4, tun_ipv6_src/tun_ipv6_dst otherwise.
func tunnelFieldName(t SetTunnel) string {
	f := FieldTunDst
	switch {
	case t.Src && t.Addr.Is4():
		f = FieldTunSrc
	case t.Src:
		f = FieldTunIPv6Src
	case !t.Addr.Is4():
		f = FieldTunIPv6Dst
	}
	return fieldTexts[f].oxm
}

// formatLoad follows the convention in text.go: whole field = OXM
// set-field, explicit bits = NX reg_load.
func formatLoad(l Load) string {
	if l.Field.Bits == 0 {
		t := fieldTexts[l.Field.Field]
		return "set_field:" + formatFieldValue(t.format, l.Value) + "->" + t.oxm
	}
	return "load:" + hexC(l.Value) + "->" + formatFieldRef(l.Field)
}

// formatFieldValue prints a set_field value the way mf_format does for the
// field's type. Values wider than 64 bits (IPv6, ct_label) carry zeros in
// their upper half.
func formatFieldValue(f valueFormat, v uint64) string {
	switch f {
	case valueDecimal:
		return strconv.FormatUint(v, 10)
	case valueIPv4:
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
	case valueIPv6:
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[15-i] = byte(v >> (8 * i))
		}
		return formatAddr(netip.AddrFrom16(b))
	case valueMAC:
		return macFromUint64(v).String()
	}
	return hexC(v)
}

func macFromUint64(v uint64) MAC {
	var m MAC
	for i := 0; i < 6; i++ {
		m[5-i] = byte(v >> (8 * i))
	}
	return m
}

// formatFieldRef prints a subfield: "[]" for the whole field, "[n]" for a
// single bit, "[a..b]" for a range (mf_format_subfield).
func formatFieldRef(r FieldRef) string {
	t := fieldTexts[r.Field]
	name := t.nxm
	if name == "" {
		name = fieldName(r.Field)
	}
	switch {
	case r.Bits == 0 || (r.Ofs == 0 && r.Bits >= t.width):
		return name + "[]"
	case r.Bits == 1:
		return fmt.Sprintf("%s[%d]", name, r.Ofs)
	}
	return fmt.Sprintf("%s[%d..%d]", name, r.Ofs, r.Ofs+r.Bits-1)
}

var packetInReasonNames = []string{"no_match", "action", "invalid_ttl", "action_set", "group", "packet_out"}

func formatController(c Controller) string {
	maxLen := c.MaxLen
	if maxLen == 0 {
		maxLen = 0xffff // OFPCML_NO_BUFFER: the whole packet
	}
	if c.Reason == PacketInAction {
		return fmt.Sprintf("CONTROLLER:%d", maxLen)
	}
	reason := strconv.Itoa(int(c.Reason))
	if int(c.Reason) < len(packetInReasonNames) {
		reason = packetInReasonNames[c.Reason]
	}
	s := "controller(reason=" + reason
	if maxLen != 0xffff {
		s += fmt.Sprintf(",max_len=%d", maxLen)
	}
	return s + ")"
}

// formatCT prints ct(...) in format_CT order: commit, force, table, zone,
// nat, exec.
func formatCT(c CT) string {
	var p []string
	if c.Commit {
		p = append(p, "commit")
	}
	if c.Force {
		p = append(p, "force")
	}
	if c.Table != nil {
		p = append(p, fmt.Sprintf("table=%d", *c.Table))
	}
	switch {
	case c.ZoneField != nil:
		p = append(p, "zone="+formatFieldRef(*c.ZoneField))
	case c.Zone != 0:
		p = append(p, fmt.Sprintf("zone=%d", c.Zone))
	}
	if c.NAT != nil {
		p = append(p, formatNAT(*c.NAT))
	}
	if len(c.Exec) > 0 {
		p = append(p, "exec("+ActionsString(c.Exec)+")")
	}
	return "ct(" + strings.Join(p, ",") + ")"
}

// formatNAT prints nat, nat(src), nat(src=A-B:P-Q,persistent,hash,random).
// IPv6 addresses are bracketed only when a port range follows them.
func formatNAT(n NAT) string {
	if n.Kind == NATNone {
		return "nat"
	}
	s := "nat(src"
	if n.Kind == NATDst {
		s = "nat(dst"
	}
	if n.AddrMin.IsValid() {
		addr := func(a netip.Addr) string {
			if a.Is6() && n.PortMin != 0 {
				return "[" + formatAddr(a) + "]"
			}
			return formatAddr(a)
		}
		s += "=" + addr(n.AddrMin)
		if n.AddrMax.IsValid() && n.AddrMax != n.AddrMin {
			s += "-" + addr(n.AddrMax)
		}
		if n.PortMin != 0 {
			s += ":" + strconv.Itoa(int(n.PortMin))
			if n.PortMax != 0 && n.PortMax != n.PortMin {
				s += "-" + strconv.Itoa(int(n.PortMax))
			}
		}
	}
	if n.Persistent {
		s += ",persistent"
	}
	if n.Hash {
		s += ",hash"
	}
	if n.Random {
		s += ",random"
	}
	return s + ")"
}

// formatLearn prints learn(...) in learn_format order (lib/learn.c):
// table, timeouts, priority unless the default, cookie unless zero, then
// the specs in their order.
func formatLearn(l Learn) string {
	b := make([]byte, 0, 128)
	b = append(b, "learn(table="...)
	b = strconv.AppendUint(b, uint64(l.Table), 10)
	if l.IdleTimeout != 0 {
		b = append(b, ",idle_timeout="...)
		b = strconv.AppendUint(b, uint64(l.IdleTimeout), 10)
	}
	if l.HardTimeout != 0 {
		b = append(b, ",hard_timeout="...)
		b = strconv.AppendUint(b, uint64(l.HardTimeout), 10)
	}
	if l.Priority != DefaultPriority {
		b = append(b, ",priority="...)
		b = strconv.AppendUint(b, uint64(l.Priority), 10)
	}
	if l.Cookie != 0 {
		b = append(b, ",cookie="...)
		b = appendHexC(b, l.Cookie)
	}
	for _, sp := range l.Specs {
		b = append(b, ',')
		b = append(b, formatLearnSpec(sp)...)
	}
	return string(append(b, ')'))
}

// formatLearnSpec prints one spec as ovs-ofctl does:
//
//	eth_type=0x800                      match a whole field against a value
//	NXM_NX_REG1[0..3]=0x5               match some bits against a value
//	NXM_OF_IP_SRC[]                     match a field against its own value
//	NXM_NX_REG2[]=NXM_NX_REG3[]         match a field against another's value
//	load:0x3->NXM_NX_REG9[16..31]       load a value
//	load:NXM_NX_REG1[]->NXM_NX_REG2[]   load a field's value
func formatLearnSpec(sp LearnSpec) string {
	switch {
	case sp.Load && sp.Src == nil:
		return "load:" + hexC(sp.Value) + "->" + formatFieldRef(sp.Dst)
	case sp.Load:
		return "load:" + formatFieldRef(*sp.Src) + "->" + formatFieldRef(sp.Dst)
	case sp.Src == nil:
		t := fieldTexts[sp.Dst.Field]
		if sp.Dst.Ofs == 0 && bitsOf(sp.Dst) == t.width && t.oxm != "" {
			return t.oxm + "=" + formatFieldValue(t.format, sp.Value)
		}
		return formatFieldRef(sp.Dst) + "=" + hexC(sp.Value)
	case sp.Src.Field == sp.Dst.Field && sp.Src.Ofs == sp.Dst.Ofs:
		return formatFieldRef(sp.Dst)
	}
	return formatFieldRef(sp.Dst) + "=" + formatFieldRef(*sp.Src)
}
