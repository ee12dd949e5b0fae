package testbed

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// The probes from a chosen source address are for a namespace that plays
// several outside machines at once (one per loopback alias): the NAT and
// security-group verdicts depend on which of them is speaking. The source
// must be one of the host's addresses, or the probe itself fails; an
// invalid src leaves the choice to the host's routes, as the plain probes
// do.

// TCPConnectFrom is TCPConnect from src.
func TCPConnectFrom(ctx context.Context, from *Host, src netip.Addr, dst netip.Addr, port uint16) (Result, error) {
	return tcpConnect(ctx, from, dialOpts{src: src}, netip.AddrPortFrom(dst, port))
}

// UDPExchangeFrom is UDPExchange from src.
func UDPExchangeFrom(ctx context.Context, from *Host, src netip.Addr, dst netip.Addr, port uint16) (Result, error) {
	return udpExchange(ctx, from, dialOpts{src: src}, netip.AddrPortFrom(dst, port))
}

// PingFrom is Ping from src.
func PingFrom(ctx context.Context, from *Host, src netip.Addr, dst netip.Addr) (Result, error) {
	return ping(ctx, from, src, dst)
}

// TCPConnectTTL is TCPConnect with the IPv4 TTL of the client's packets
// set to ttl, to see where a router decrements it and drops at zero.
func TCPConnectTTL(ctx context.Context, from *Host, dst netip.Addr, port uint16, ttl int) (Result, error) {
	return tcpConnect(ctx, from, dialOpts{ttl: ttl}, netip.AddrPortFrom(dst, port))
}

// dialOpts are where a probe's socket leaves from.
type dialOpts struct {
	src netip.Addr // invalid: the kernel picks the source
	ttl int        // 0: the system's default TTL
}

// dialer dials network ("tcp" or "udp") with the options.
func (o dialOpts) dialer(network string) *net.Dialer {
	d := &net.Dialer{}
	if src := netip.AddrPortFrom(o.src, 0); o.src.IsValid() && network == "udp" {
		d.LocalAddr = net.UDPAddrFromAddrPort(src)
	} else if o.src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(src)
	}
	if o.ttl > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL, o.ttl)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return d
}

// String describes the options for an error message.
func (o dialOpts) String() string {
	var s string
	if o.src.IsValid() {
		s += " from " + o.src.String()
	}
	if o.ttl > 0 {
		s += fmt.Sprintf(" with ttl %d", o.ttl)
	}
	return s
}

// localAddr is the socket's own address, IPv4 unmapped.
func localAddr(c net.Conn) netip.AddrPort {
	switch a := c.LocalAddr().(type) {
	case *net.TCPAddr:
		return unmapped(a.AddrPort())
	case *net.UDPAddr:
		return unmapped(a.AddrPort())
	}
	return netip.AddrPort{}
}
