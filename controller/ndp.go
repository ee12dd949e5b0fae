package controller

import (
	"context"
	"encoding/binary"
	"net/netip"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/pipeline"
)

// Neighbour discovery for the router's IPv6 addresses: the pipeline sends
// a neighbour solicitation for a gateway6 or the external ip6 up, and the
// router helper answers with the neighbour advertisement "that address is
// at the router's MAC on this side", out of the port it came in on.

// answerSolicitation answers p if it is a solicitation for the router's
// own IPv6 address on the side it came from; it reports whether p was
// one.
func (r *resolver) answerSolicitation(ctx context.Context, p openflow.PacketIn) bool {
	src, srcMAC, target, ok := parseSolicitation(p.Data)
	if !ok {
		return false
	}
	sides := r.sides.Load()
	if sides == nil {
		return true
	}
	side, ok := (*sides)[p.InPort]
	if !ok || !side.IP6.IsValid() || (target != side.IP6 && target != side.LinkLocal) {
		return true
	}
	if err := r.session.PacketOut(ctx, p.InPort, neighbourAdvert(side, target, src, srcMAC)); err != nil && ctx.Err() == nil {
		r.logf("router %s: neighbour advertisement for %s: %v", side.Router, target, err)
	}
	return true
}

// parseSolicitation reads an Ethernet/IPv6/ICMPv6 neighbour solicitation.
func parseSolicitation(frame []byte) (src netip.Addr, srcMAC flows.MAC, target netip.Addr, ok bool) {
	const ipv6, icmp = 14, 14 + 40
	if len(frame) < icmp+24 || binary.BigEndian.Uint16(frame[12:]) != flows.EthTypeIPv6 ||
		frame[ipv6+6] != flows.ProtoICMPv6 || frame[icmp] != 135 {
		return src, srcMAC, target, false
	}
	copy(srcMAC[:], frame[6:12])
	src = netip.AddrFrom16([16]byte(frame[ipv6+8 : ipv6+24]))
	target = netip.AddrFrom16([16]byte(frame[icmp+8 : icmp+24]))
	return src, srcMAC, target, true
}

// neighbourAdvert is "target is at side.MAC" (router, solicited,
// override) to the solicitor, or to all nodes for a duplicate address
// check (unspecified source), with the target link-layer option.
func neighbourAdvert(side pipeline.RouterSide, target, to netip.Addr, toMAC flows.MAC) []byte {
	flags := byte(0xe0) // router, solicited, override
	dst := to
	if !to.IsValid() || to.IsUnspecified() {
		dst, toMAC, flags = netip.MustParseAddr("ff02::1"), flows.MAC{0x33, 0x33, 0, 0, 0, 1}, 0xa0
	}
	b := make([]byte, 0, 14+40+32)
	b = append(b, toMAC[:]...)
	b = append(b, side.MAC[:]...)
	b = binary.BigEndian.AppendUint16(b, flows.EthTypeIPv6)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, 32) // ICMPv6 NA with one option
	b = append(b, flows.ProtoICMPv6, 255)
	b = append(b, target.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	icmp := len(b)
	b = append(b, 136, 0, 0, 0, flags, 0, 0, 0)
	b = append(b, target.AsSlice()...)
	b = append(b, 2, 1) // target link-layer address, 8 bytes
	b = append(b, side.MAC[:]...)
	binary.BigEndian.PutUint16(b[icmp+2:], icmpv6Checksum(target, dst, b[icmp:]))
	return b
}

// answerRouterSolicitation answers a router solicitation on a network the
// router advertises on; it reports whether p was one.
func (r *resolver) answerRouterSolicitation(ctx context.Context, p openflow.PacketIn) bool {
	const ipv6, icmp = 14, 14 + 40
	f := p.Data
	if len(f) < icmp+8 || binary.BigEndian.Uint16(f[12:]) != flows.EthTypeIPv6 || f[ipv6+6] != flows.ProtoICMPv6 || f[icmp] != 133 {
		return false
	}
	if sides := r.sides.Load(); sides != nil {
		if side, ok := (*sides)[p.InPort]; ok && side.Prefix6.IsValid() {
			r.advertise(ctx, side)
		}
	}
	return true
}

// advertiseAll sends a router advertisement out of every port of every
// network the router advertises on (unsolicited, every raInterval).
func (r *resolver) advertiseAll(ctx context.Context) {
	if sides := r.sides.Load(); sides != nil {
		for _, side := range *sides {
			if side.Prefix6.IsValid() {
				r.advertise(ctx, side)
			}
		}
	}
}

// advertiseNew advertises to the ports that have not had an
// advertisement yet (new ports, a new router), so a change does not send
// one to every port.
func (r *resolver) advertiseNew(ctx context.Context) {
	if sides := r.sides.Load(); sides != nil {
		for port, side := range *sides {
			if side.Prefix6.IsValid() && !r.advertised[port] {
				r.advertise(ctx, side)
			}
		}
	}
}

func (r *resolver) advertise(ctx context.Context, side pipeline.RouterSide) {
	if r.advertised == nil {
		r.advertised = map[uint32]bool{}
	}
	r.advertised[side.Port] = true
	if err := r.session.PacketOut(ctx, side.Port, routerAdvert(side)); err != nil && ctx.Err() == nil {
		r.logf("router %s: router advertisement: %v", side.Router, err)
	}
}

// raLifetime is the router lifetime hosts give the default route an
// advertisement installs; advertisements come every raInterval.
const raLifetime = 1800

// routerAdvert advertises the router as the default router of side's
// network and its cidr6 as on-link (RFC 4861 4.2), from the router's
// link-local address there to all nodes, with its MAC.
func routerAdvert(side pipeline.RouterSide) []byte {
	allNodes := netip.MustParseAddr("ff02::1")
	b := make([]byte, 0, 14+40+56)
	b = append(b, 0x33, 0x33, 0, 0, 0, 1)
	b = append(b, side.MAC[:]...)
	b = binary.BigEndian.AppendUint16(b, flows.EthTypeIPv6)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, 16+8+32) // RA, source link-layer, prefix information
	b = append(b, flows.ProtoICMPv6, 255)
	b = append(b, side.LinkLocal.AsSlice()...)
	b = append(b, allNodes.AsSlice()...)
	icmp := len(b)
	b = append(b, 134, 0, 0, 0, 64, 0) // type, code, checksum, cur hop limit, flags
	b = binary.BigEndian.AppendUint16(b, raLifetime)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // reachable time, retrans timer: unspecified
	b = append(b, 1, 1)                   // source link-layer address
	b = append(b, side.MAC[:]...)
	// Prefix information: on-link, not autonomous. A port may send only
	// from the addresses the intent gives it (port security), so hosts
	// must not configure addresses of their own from the prefix.
	b = append(b, 3, 4, byte(side.Prefix6.Bits()), 0x80)
	b = binary.BigEndian.AppendUint32(b, 86400) // valid lifetime
	b = binary.BigEndian.AppendUint32(b, 14400) // preferred lifetime
	b = append(b, 0, 0, 0, 0)
	b = append(b, side.Prefix6.Masked().Addr().AsSlice()...)
	binary.BigEndian.PutUint16(b[icmp+2:], icmpv6Checksum(side.LinkLocal, allNodes, b[icmp:]))
	return b
}

// icmpv6Checksum is the ICMPv6 checksum over the IPv6 pseudo-header and
// the message (RFC 4443).
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	pseudo := make([]byte, 0, 40+len(msg))
	pseudo = append(pseudo, src.AsSlice()...)
	pseudo = append(pseudo, dst.AsSlice()...)
	pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(msg)))
	pseudo = append(pseudo, 0, 0, 0, flows.ProtoICMPv6)
	pseudo = append(pseudo, msg...)
	return checksum(pseudo)
}
