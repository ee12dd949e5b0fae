package intent

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// parseAddr parses an IPv4 or IPv6 address. Zones ("fe80::1%eth0") are
// refused: they name a host interface, which means nothing on a bridge.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s is not an IP address", quote(s))
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s has a zone; zones are not allowed", quote(s))
	}
	return a, nil
}

// parseNetwork parses a prefix that names a set of addresses (a network's
// cidr, a rule's remote_cidr, an allowed address pair). It must be canonical:
// "10.0.0.5/24" is refused rather than silently read as 10.0.0.0/24, because
// it is most often a gateway or host address pasted into the wrong field and
// the user should see which network they are about to get. Where bareIsHost
// is set, a plain address means that one host (/32 or /128).
func parseNetwork(s string, bareIsHost bool) (netip.Prefix, error) {
	if bareIsHost && !strings.Contains(s, "/") {
		a, err := parseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if !strings.Contains(s, "/") {
			return netip.Prefix{}, fmt.Errorf("%s needs a prefix length, e.g. 10.0.0.0/24", quote(s))
		}
		return netip.Prefix{}, fmt.Errorf("%s is not a valid prefix", quote(s))
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set; the network is %s", p, p.Masked())
	}
	return p, nil
}

// parseInterfacePrefix parses an address with its on-link prefix length, as
// an interface is configured ("192.0.2.10/24"): host bits are the point.
func parseInterfacePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		if _, err := parseAddr(s); err == nil {
			return netip.Prefix{}, fmt.Errorf("%s needs the on-link prefix length, e.g. %s/24", quote(s), s)
		}
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not an address with a prefix length (e.g. 192.0.2.10/24)", quote(s))
	}
	if problem := reservedIn(p.Addr(), p.Masked()); problem != "" {
		return netip.Prefix{}, fmt.Errorf("%s %s; give the router's own address, e.g. %s",
			p.Addr(), problem, netip.PrefixFrom(p.Addr().Next(), p.Bits()))
	}
	return p, nil
}

// reservedIn says why a cannot be a host address in network p, or "".
// IPv4 networks reserve their first (network) and last (broadcast) address,
// except /31 and /32 which have no room for that (RFC 3021). IPv6 networks
// reserve their first address as the subnet-router anycast (RFC 4291).
func reservedIn(a netip.Addr, p netip.Prefix) string {
	if a.Is4() && p.Bits() <= 30 {
		if a == p.Addr() {
			return fmt.Sprintf("is the network address of %s", p)
		}
		if a == lastAddr(p) {
			return fmt.Sprintf("is the broadcast address of %s", p)
		}
	}
	if a.Is6() && p.Bits() <= 126 && a == p.Addr() {
		return fmt.Sprintf("is the subnet-router anycast address of %s", p)
	}
	return ""
}

// lastAddr is the highest address of a canonical prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// parseMAC parses an Ethernet address in any form net.ParseMAC knows.
func parseMAC(s string) ([6]byte, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return [6]byte{}, fmt.Errorf("%s is not an Ethernet MAC address (e.g. 02:00:0a:00:00:0b)", quote(s))
	}
	return [6]byte(hw), nil
}

// parseUnicastMAC parses a MAC that a host may send from: not multicast
// (including broadcast), not all zeros.
func parseUnicastMAC(s string) ([6]byte, error) {
	mac, err := parseMAC(s)
	if err != nil {
		return mac, err
	}
	switch {
	case mac == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}:
		return mac, fmt.Errorf("%s is the broadcast address; a port needs a unicast MAC", formatMAC(mac))
	case mac[0]&1 != 0:
		return mac, fmt.Errorf("%s is a multicast address; a port needs a unicast MAC", formatMAC(mac))
	case mac == [6]byte{}:
		return mac, fmt.Errorf("%s is the zero address; a port needs a unicast MAC", formatMAC(mac))
	}
	return mac, nil
}

func formatMAC(mac [6]byte) string {
	return net.HardwareAddr(mac[:]).String()
}

// parsePortRange parses "N" or "N-M" with 1 <= N <= M <= 65535.
func parsePortRange(s string) (lo, hi uint16, err error) {
	first, last, isRange := strings.Cut(s, "-")
	if !isRange {
		last = first
	}
	a, errA := strconv.ParseUint(first, 10, 32)
	b, errB := strconv.ParseUint(last, 10, 32)
	switch {
	case errA != nil || errB != nil:
		return 0, 0, fmt.Errorf("%s is not a port or a range (N or N-M)", quote(s))
	case a == 0 || b == 0:
		return 0, 0, fmt.Errorf("%s: port 0 is not a port; ports are 1-65535", quote(s))
	case a > 65535 || b > 65535:
		return 0, 0, fmt.Errorf("%s: ports are 1-65535", quote(s))
	case a > b:
		return 0, 0, fmt.Errorf("range %d-%d is reversed", a, b)
	}
	return uint16(a), uint16(b), nil
}

// checkPort checks a single L4 port number.
func checkPort(n int64) (uint16, error) {
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%d is not a port; ports are 1-65535", n)
	}
	return uint16(n), nil
}

// parseTCPOrUDP parses the protocol of a NAT or load-balancer entry, where
// only TCP and UDP have ports to translate; absent means tcp.
func parseTCPOrUDP(s string) (int, error) {
	switch strings.ToLower(s) {
	case "", "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	}
	return 0, fmt.Errorf("%s is not tcp or udp", quote(s))
}

func protocolName(p int) string {
	switch p {
	case ProtocolAny:
		return "any"
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoSCTP:
		return "sctp"
	}
	return strconv.Itoa(p)
}
