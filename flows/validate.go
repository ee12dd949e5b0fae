package flows

import (
	"errors"
	"fmt"
	"net/netip"
)

// MaxTable is the highest table a flow may live in or jump to: OVS keeps
// table 254 for itself and 255 means "all tables".
const MaxTable uint8 = 253

// MaxGroupID is the highest group id OpenFlow allows (OFPG_MAX); the ids
// above it name reserved groups.
const MaxGroupID uint32 = 0xffffff00

// Validate reports every reason OVS would refuse the flow, or would
// silently install something other than what the text form prints: missing
// match prerequisites, actions that need a match the flow lacks,
// misplaced instructions, out-of-range values. The error names the flow
// and each problem.
func (f Flow) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if f.Table > MaxTable {
		bad("table %d: above %d, reserved by OVS", f.Table, MaxTable)
	}
	if f.Cookie == ^uint64(0) {
		bad("cookie 0xffffffffffffffff is reserved by OpenFlow")
	}
	validateMatch(f.Match, bad)
	validateActions(f, bad)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("flow %q: %w", f.String(), errors.Join(errs...))
}

type complaint func(format string, args ...any)

func isIP(ethType uint16) bool { return ethType == EthTypeIPv4 || ethType == EthTypeIPv6 }

func validateMatch(m Match, bad complaint) {
	if m.InPort != 0 && m.InPort > 0xfeff && m.InPort != PortLocal && m.InPort != PortController {
		bad("in_port %d: not a port number (1-65279, LOCAL or CONTROLLER)", m.InPort)
	}
	seenReg := map[uint8]bool{}
	for _, r := range m.Regs {
		if r.Index > 15 {
			bad("reg%d: registers are reg0-reg15", r.Index)
		}
		if seenReg[r.Index] {
			bad("reg%d matched twice", r.Index)
		}
		seenReg[r.Index] = true
	}
	validateTunnel(m, bad)
	if m.CTState.Set&m.CTState.Clear != 0 {
		bad("ct_state %s: a flag both set and clear", formatCTState(m.CTState))
	}
	if (m.CTState.Set|m.CTState.Clear)&^0xff != 0 {
		bad("ct_state has bits outside the 8 known flags")
	}
	if m.VLANID != nil && *m.VLANID > 0xfff {
		bad("dl_vlan %d: VLAN IDs are 0-4095", *m.VLANID)
	}
	checkFamily := func(name string, p netip.Prefix) {
		if !p.IsValid() {
			return
		}
		want, kw := EthTypeIPv6, "ipv6"
		if p.Addr().Is4() {
			want, kw = EthTypeIPv4, "ip"
		}
		if m.EthType != want {
			bad("%s %s needs %s (dl_type 0x%04x), have dl_type 0x%04x", name, p, kw, want, m.EthType)
		}
	}
	checkFamily("ip source", m.IPSrc)
	checkFamily("ip destination", m.IPDst)
	checkFamily("conntrack original source", m.CTNwSrc)
	checkFamily("conntrack original destination", m.CTNwDst)
	// OVS wants a valid connection state for the original tuple:
	// +new, +est, +rel, +rpl, +snat or +dnat, or +trk-inv (is_ct_valid
	// in lib/flow.c).
	validCT := m.CTState.Set&(CTNew|CTEst|CTRel|CTRpl|CTSNAT|CTDNAT) != 0 || (m.CTState.Set&CTTrk != 0 && m.CTState.Clear&CTInv != 0)
	if (m.CTNwSrc.IsValid() || m.CTNwDst.IsValid()) && !validCT {
		bad("ct_nw_src/ct_nw_dst need a valid ct_state (+new, +est, +rel, +rpl or +trk-inv)")
	}
	if m.CTNwProto != nil && !validCT {
		bad("ct_nw_proto needs a valid ct_state (+new, +est, +rel, +rpl or +trk-inv)")
	}
	// OVS drops a ct_nw_proto of 0 from the match (and with it ct_tp_dst).
	if m.CTNwProto != nil && *m.CTNwProto == 0 {
		bad("ct_nw_proto 0 matches nothing OVS keeps: it installs the flow without it")
	}
	// OVS accepts ct_tp_dst alone but drops it from the installed flow.
	if m.CTTpDst != nil && m.CTNwProto == nil {
		bad("ct_tp_dst needs ct_nw_proto")
	}
	if m.IPProto != nil && !isIP(m.EthType) {
		bad("nw_proto needs ip or ipv6")
	}
	if m.IPTTL != nil && !isIP(m.EthType) {
		bad("nw_ttl needs ip or ipv6")
	}
	if m.TPSrc != nil || m.TPDst != nil {
		if m.IPProto == nil || (*m.IPProto != ProtoTCP && *m.IPProto != ProtoUDP && *m.IPProto != ProtoSCTP) || !isIP(m.EthType) {
			bad("tp_src/tp_dst need tcp, udp or sctp (v4 or v6)")
		}
	}
	if m.ICMPType != nil || m.ICMPCode != nil {
		v4 := m.EthType == EthTypeIPv4 && m.IPProto != nil && *m.IPProto == ProtoICMP
		v6 := m.EthType == EthTypeIPv6 && m.IPProto != nil && *m.IPProto == ProtoICMPv6
		if !v4 && !v6 {
			bad("icmp_type/icmp_code need icmp (ip, proto 1) or icmp6 (ipv6, proto 58)")
		}
	}
	if (m.ARPOp != nil || m.ARPSpa.IsValid() || m.ARPTpa.IsValid() || m.ARPSha != nil || m.ARPTha != nil) && m.EthType != EthTypeARP {
		bad("arp_* fields need arp")
	}
	for _, p := range []struct {
		name string
		v    bool
		is4  bool
	}{{"arp_spa", m.ARPSpa.IsValid(), m.ARPSpa.Addr().Is4()}, {"arp_tpa", m.ARPTpa.IsValid(), m.ARPTpa.Addr().Is4()}} {
		if p.v && !p.is4 {
			bad("%s must be an IPv4 prefix", p.name)
		}
	}
	if m.ARPOp != nil && *m.ARPOp > 0xff {
		bad("arp_op %d: OVS matches only the low 8 bits", *m.ARPOp)
	}
	// OVS silently drops ND fields from a match whose icmp_code is not 0.
	if m.NDTarget.IsValid() && (prereqMissing(prereqNDTarget, m) != "" || !m.NDTarget.Is6()) {
		bad("nd_target needs icmp6 with icmp_type 135 or 136, icmp_code 0 or unmatched, and an IPv6 address")
	}
	if m.NDSll != nil && (prereqMissing(prereqNDTarget, m) != "" || *m.ICMPType != 135) {
		bad("nd_sll needs icmp6 with icmp_type 135 (neighbour solicitation), icmp_code 0 or unmatched")
	}
	if m.NDTll != nil && prereqMissing(prereqNDTll, m) != "" {
		bad("nd_tll needs icmp6 with icmp_type 136 (neighbour advertisement), icmp_code 0 or unmatched")
	}
}

// validateTunnel checks the tunnel addresses. OVS accepts all of these and
// installs them as printed, but the flow would match no packet: a tunnel
// is IPv4 or IPv6, and an IPv4 tunnel's addresses are in tun_src/tun_dst,
// never in tun_ipv6_src/tun_ipv6_dst as IPv4-mapped addresses. A zone
// has no meaning for an outer address (and String would print it).
func validateTunnel(m Match, bad complaint) {
	name := func(dir string, a netip.Addr) string {
		if a.Is6() {
			return "tun_ipv6_" + dir
		}
		return "tun_" + dir
	}
	for _, t := range []struct {
		dir string
		a   netip.Addr
	}{{"src", m.TunSrc}, {"dst", m.TunDst}} {
		switch {
		case !t.a.IsValid():
		case t.a.Zone() != "":
			bad("%s %s: an outer address has no zone", name(t.dir, t.a), t.a)
		case t.a.Is4In6():
			bad("%s %s: an IPv4 tunnel's addresses are matched as IPv4, never as IPv4-mapped IPv6", name(t.dir, t.a), t.a)
		}
	}
	if m.TunSrc.IsValid() && m.TunDst.IsValid() && m.TunSrc.Is4() != m.TunDst.Is4() {
		bad("%s %s and %s %s: a tunnel is IPv4 or IPv6, so the flow would match nothing",
			name("src", m.TunSrc), m.TunSrc, name("dst", m.TunDst), m.TunDst)
	}
}
