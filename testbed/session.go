package testbed

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// Session is one long-lived TCP connection to an echo server (ServeTCP),
// for tests that change policy under an established connection and must
// see whether it survives.
type Session struct {
	from *Host
	conn net.Conn
	r    *bufio.Reader
	seen netip.AddrPort

	mu  sync.Mutex
	cut bool
}

// OpenSession connects from a host to dst:port and completes one echo, so
// a returned session is known to have worked.
func OpenSession(ctx context.Context, from *Host, dst netip.Addr, port uint16) (*Session, error) {
	pctx, cancel := probeContext(ctx)
	defer cancel()
	target := netip.AddrPortFrom(dst, port)
	conn, res, err := dialTCP(pctx, from, dialOpts{}, target)
	if err != nil {
		return nil, err
	}
	if res.Outcome != OK {
		return nil, fmt.Errorf("host %s: open session to %s: %s: %s", from.state.Name, target, res.Outcome, res.Detail)
	}
	s := &Session{from: from, conn: conn, r: bufio.NewReader(conn)}
	res, err = echoTCP(pctx, from, conn, s.r)
	if err == nil && res.Outcome != OK {
		err = fmt.Errorf("%s: %s", res.Outcome, res.Detail)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("host %s: open session to %s: %w", from.state.Name, target, err)
	}
	s.seen = res.Seen
	return s, nil
}

// Seen is the client address the server saw when the session opened.
func (s *Session) Seen() netip.AddrPort { return s.seen }

// Alive sends one line over the session and reports whether its echo came
// back within DefaultProbeTimeout. A session that failed once is cut for
// good: later bytes could belong to the lost exchange.
func (s *Session) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut {
		return false
	}
	ctx, cancel := probeContext(context.Background())
	defer cancel()
	res, err := echoTCP(ctx, s.from, s.conn, s.r)
	if err != nil || res.Outcome != OK {
		s.cut = true
		s.conn.Close()
	}
	return !s.cut
}

// Close ends the session.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = true
	if err := s.conn.Close(); err != nil && !isClosed(err) {
		return fmt.Errorf("host %s: close session: %w", s.from.state.Name, err)
	}
	return nil
}
