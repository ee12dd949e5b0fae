package pipeline

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/flowgate/flowgate/flows"
)

// Priorities in TablePortSecurity.
const (
	// prioNDAllowed: a port's own neighbour solicitations and
	// advertisements (target, sll, tll checked).
	prioNDAllowed uint16 = 300
	// prioNDRefused: any other NS/NA, and every router advertisement: a
	// port must not answer for addresses it does not own or pose as a
	// router. Without it the generic IPv6 source check below would let
	// them through.
	prioNDRefused uint16 = 250
	// prioSourceAllowed: IP, ARP and DHCP from the port's own addresses.
	prioSourceAllowed uint16 = 200
)

// source is one (MAC, prefix) a port may send from.
type source struct {
	mac    flows.MAC
	prefix netip.Prefix
}

// sources lists what p may send from: its MAC with each of its IPs and,
// when it speaks IPv6, its EUI-64 link-local address (without which
// neighbour discovery cannot work), then its allowed address pairs.
func sources(p boundPort) []source {
	own := flows.MAC(p.MAC)
	var out []source
	v6 := false
	for _, ip := range p.IPs {
		out = append(out, source{own, addrPrefix(ip)})
		v6 = v6 || ip.Is6()
	}
	for _, ap := range p.AllowedAddressPairs {
		mac := flows.MAC(ap.MAC)
		if mac == (flows.MAC{}) {
			mac = own
		}
		out = append(out, source{mac, ap.Prefix.Masked()})
		v6 = v6 || ap.Prefix.Addr().Is6()
	}
	if v6 {
		out = append(out, source{own, addrPrefix(linkLocal(own))})
	}
	return out
}

// linkLocal is the EUI-64 link-local address of mac (RFC 4291 appendix A).
func linkLocal(mac flows.MAC) netip.Addr {
	b := [16]byte{0: 0xfe, 1: 0x80}
	b[8], b[9], b[10] = mac[0]^0x02, mac[1], mac[2]
	b[11], b[12] = 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b)
}

// portSecurityFlows are the anti-spoofing flows of a filtered port; an
// unfiltered port gets none (classify skips the table for it).
func portSecurityFlows(p boundPort) []flows.Flow {
	if !p.PortSecurity {
		return nil
	}
	var out []flows.Flow
	allow := func(prio uint16, m flows.Match) {
		m.InPort = p.ofport
		out = append(out, flows.Flow{
			Table: uint8(TablePortSecurity), Priority: prio, Cookie: p.cookie,
			Match: m, Actions: []flows.Action{goTo(TableConntrack)},
		})
	}
	own := flows.MAC(p.MAC)
	macs := map[flows.MAC]bool{}
	for _, s := range sources(p) {
		src := flows.ExactMAC(s.mac)
		if s.prefix.Addr().Is4() {
			allow(prioSourceAllowed, flows.Match{EthSrc: src, EthType: flows.EthTypeIPv4, IPSrc: s.prefix})
			allow(prioSourceAllowed, flows.Match{EthSrc: src, EthType: flows.EthTypeARP, ARPSha: src, ARPSpa: s.prefix})
			continue
		}
		allow(prioSourceAllowed, flows.Match{EthSrc: src, EthType: flows.EthTypeIPv6, IPSrc: s.prefix})
		for _, sll := range []flows.MAC{s.mac, {}} { // the option may be absent
			allow(prioNDAllowed, ndMatch(135, src, s.prefix, func(m *flows.Match) { m.NDSll = &sll }))
		}
		if s.prefix.IsSingleIP() {
			// A node answers for the address it owns, from that address.
			for _, tll := range []flows.MAC{s.mac, {}} {
				allow(prioNDAllowed, ndMatch(136, src, s.prefix, func(m *flows.Match) {
					m.NDTarget, m.NDTll = s.prefix.Addr(), &tll
				}))
			}
		}
		macs[s.mac] = true
	}
	for _, mac := range sortedMACs(macs) {
		// Duplicate address detection solicits from :: without an sll.
		src := flows.ExactMAC(mac)
		allow(prioNDAllowed, ndMatch(135, src, addrPrefix(netip.IPv6Unspecified()), func(m *flows.Match) { m.NDSll = &flows.MAC{} }))
	}
	// DHCP discover/request before the port has an address, and ARP
	// probes (RFC 5227), come from 0.0.0.0 and the port's own MAC.
	unspecified := addrPrefix(netip.IPv4Unspecified())
	allow(prioSourceAllowed, flows.Match{
		EthSrc: flows.ExactMAC(own), EthType: flows.EthTypeIPv4, IPProto: flows.U8(flows.ProtoUDP),
		IPSrc: unspecified, IPDst: addrPrefix(netip.AddrFrom4([4]byte{255, 255, 255, 255})),
		TPSrc: flows.ExactPort(68), TPDst: flows.ExactPort(67),
	})
	allow(prioSourceAllowed, flows.Match{EthSrc: flows.ExactMAC(own), EthType: flows.EthTypeARP, ARPSha: flows.ExactMAC(own), ARPSpa: unspecified})
	return out
}

// ndMatch is an ICMPv6 neighbour discovery packet of type t from mac and
// source prefix src; set adds the ND option checks.
func ndMatch(t uint8, mac *flows.MACMatch, src netip.Prefix, set func(*flows.Match)) flows.Match {
	m := flows.Match{EthSrc: mac, EthType: flows.EthTypeIPv6, IPSrc: src,
		IPProto: flows.U8(flows.ProtoICMPv6), ICMPType: flows.U8(t), ICMPCode: flows.U8(0)}
	set(&m)
	return m
}

// portSecurityInfraFlows refuse neighbour discovery that no port's
// allow flow took.
func portSecurityInfraFlows() []flows.Flow {
	var out []flows.Flow
	for _, t := range []uint8{134, 135, 136} {
		out = append(out, flows.Flow{
			Table: uint8(TablePortSecurity), Priority: prioNDRefused, Cookie: infraCookie(TablePortSecurity),
			Match: flows.Match{EthType: flows.EthTypeIPv6, IPProto: flows.U8(flows.ProtoICMPv6), ICMPType: flows.U8(t)},
		})
	}
	return out
}

func sortedMACs(set map[flows.MAC]bool) []flows.MAC {
	var out []flows.MAC
	for m := range set {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b flows.MAC) int { return bytes.Compare(a[:], b[:]) })
	return out
}
