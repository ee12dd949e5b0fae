package testbed

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// The echo protocol: the client sends a token (a line over TCP, a datagram
// over UDP) and the server answers "<token> <source ip:port as it saw it>".
// The token proves the answer is for this probe; the source lets NAT tests
// check what address the far side saw.

// Server is a TCP or UDP echo server listening on all of a host's
// addresses. The testbed closes it at Close.
type Server struct {
	host  *Host
	proto string
	port  uint16

	ln net.Listener   // tcp
	pc net.PacketConn // udp

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	accepted int
	wg       sync.WaitGroup
}

// ServeTCP starts a TCP echo server on port in the host's namespace. Each
// connection is served until the client closes it, so one connection can
// carry many probes (see OpenSession).
func (h *Host) ServeTCP(port uint16) (*Server, error) {
	s := &Server{host: h, proto: "tcp", port: port, conns: map[net.Conn]struct{}{}}
	if err := h.in(func() (err error) { s.ln, err = net.Listen("tcp", ":"+strconv.Itoa(int(port))); return err }); err != nil {
		return nil, fmt.Errorf("host %s: serve tcp/%d: %w", h.state.Name, port, err)
	}
	h.tb.addServer(s)
	s.wg.Add(1)
	go s.acceptTCP()
	return s, nil
}

// ServeUDP starts a UDP echo server on port in the host's namespace. It
// answers each datagram from the address the datagram was sent to, as a
// server on a host with several addresses (loopback aliases) must: a
// reply from another source matches neither the client's connected
// socket nor the connection's conntrack entry.
func (h *Host) ServeUDP(port uint16) (*Server, error) {
	s := &Server{host: h, proto: "udp", port: port}
	if err := h.in(func() (err error) { s.pc, err = net.ListenPacket("udp", ":"+strconv.Itoa(int(port))); return err }); err != nil {
		return nil, fmt.Errorf("host %s: serve udp/%d: %w", h.state.Name, port, err)
	}
	if err := recvDestination(s.pc.(*net.UDPConn)); err != nil {
		s.pc.Close()
		return nil, fmt.Errorf("host %s: serve udp/%d: %w", h.state.Name, port, err)
	}
	h.tb.addServer(s)
	s.wg.Add(1)
	go s.serveUDP()
	return s, nil
}

func (tb *Testbed) addServer(s *Server) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.servers = append(tb.servers, s)
}

// Close stops the server and ends its open connections.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	} else {
		err = s.pc.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("host %s: close %s/%d server: %w", s.host.state.Name, s.proto, s.port, err)
	}
	return nil
}

// Accepted is how many TCP connections the server has accepted: the
// backends of a load-balanced service count their share with it.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *Server) acceptTCP() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.accepted++
		s.wg.Add(1)
		s.mu.Unlock()
		go s.echoTCP(c)
	}
}

func (s *Server) echoTCP(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	peer := unmapped(c.RemoteAddr().(*net.TCPAddr).AddrPort())
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(c, "%s %s\n", strings.TrimSuffix(line, "\n"), peer); err != nil {
			return
		}
	}
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	uc := s.pc.(*net.UDPConn)
	buf, oob := make([]byte, 1500), make([]byte, 256)
	for {
		n, oobn, _, addr, err := uc.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		reply := fmt.Appendf(nil, "%s %s", buf[:n], unmapped(addr))
		// A lost reply is the client's timeout.
		_, _, _ = uc.WriteMsgUDPAddrPort(reply, sourceFor(oob[:oobn]), addr)
	}
}

// unmapped turns the ::ffff:a.b.c.d form that a dual-stack socket reports
// for IPv4 peers back into a.b.c.d.
func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// parseEcho checks that reply answers token and returns the source the
// server saw.
func parseEcho(reply, token string) (netip.AddrPort, error) {
	got, seen, ok := strings.Cut(strings.TrimSuffix(reply, "\n"), " ")
	if !ok || got != token {
		return netip.AddrPort{}, fmt.Errorf("echo reply %q does not answer %q", reply, token)
	}
	ap, err := netip.ParseAddrPort(seen)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("echo reply %q: %w", reply, err)
	}
	return ap, nil
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
