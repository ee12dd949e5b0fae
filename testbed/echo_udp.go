package testbed

import (
	"errors"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The UDP echo server listens on the wildcard address, so that it serves
// every address of its host, and learns each datagram's destination from
// the kernel (IP_PKTINFO, IPV6_RECVPKTINFO) to answer from it.

// recvDestination asks the kernel to report the destination of every
// datagram c receives, IPv4 (on the dual-stack socket too) and IPv6.
func recvDestination(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1),
			unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1))
	}); err != nil {
		return err
	}
	return serr
}

// sourceFor reads the destination from a received datagram's control
// messages and returns the control message that sends the reply from it
// (nil when there is none: the kernel picks the source).
func sourceFor(oob []byte) []byte {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		var dst netip.Addr
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= 12:
			dst = netip.AddrFrom4([4]byte(m.Data[8:12])) // in_pktinfo: ifindex, spec_dst, addr
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= 16:
			dst = netip.AddrFrom16([16]byte(m.Data[:16])).Unmap() // in6_pktinfo: addr, ifindex
		default:
			continue
		}
		if dst.Is4() {
			var info [12]byte // in_pktinfo with spec_dst, the source to use
			a := dst.As4()
			copy(info[4:8], a[:])
			return cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, info[:])
		}
		var info [20]byte // in6_pktinfo: the source to use, no interface
		a := dst.As16()
		copy(info[:16], a[:])
		return cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, info[:])
	}
	return nil
}

// cmsg builds one control message.
func cmsg(level, typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}
