package testbed

import (
	"bufio"
	"context"
	"net"
	"net/netip"
)

// TCPConnectFrom is TCPConnect from a chosen source address of the host
// (one of its loopback aliases, say), for a namespace that plays several
// outside machines at once: the NAT and security-group verdicts depend on
// which of them is speaking.
func TCPConnectFrom(ctx context.Context, from *Host, src netip.Addr, dst netip.Addr, port uint16) (Result, error) {
	ctx, cancel := probeContext(ctx)
	defer cancel()
	target := netip.AddrPortFrom(dst, port).String()
	var conn net.Conn
	var dialErr error
	if err := from.in(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		conn, dialErr = d.DialContext(ctx, "tcp", target)
		return nil
	}); err != nil {
		return Result{}, err
	}
	if dialErr != nil {
		return failedProbe(from, "tcp connect "+target+" from "+src.String(), dialErr)
	}
	defer conn.Close()
	return echoTCP(ctx, from, conn, bufio.NewReader(conn))
}
