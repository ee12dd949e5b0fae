package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// The short-connection exchange: the client connects, sends one byte,
// reads the server's three-byte answer to EOF (the server closes first,
// as an HTTP/1.0 server does) and closes. Each cycle is a new connection
// through conntrack: SYN, SYN-ACK, ACK, data both ways, FIN both ways.
const (
	connRequest = "x"
	connReply   = "ok\n"
	// connTimeout bounds one cycle; a cycle that takes longer counts as
	// failed.
	connTimeout = 2 * time.Second
)

// connServer answers the exchange on a port inside a host's namespace.
type connServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startConnServer(h *testbed.Host, port uint16) (*connServer, error) {
	s := &connServer{}
	if err := testbed.InNetns(h.Netns(), func() (err error) {
		s.ln, err = net.Listen("tcp", ":"+strconv.Itoa(int(port)))
		return err
	}); err != nil {
		return nil, fmt.Errorf("host %s: listen tcp/%d: %w", h.Name(), port, err)
	}
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return // closed
			}
			s.wg.Go(func() { answer(c) })
		}
	})
	return s, nil
}

func answer(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(connTimeout))
	buf := make([]byte, len(connRequest))
	if _, err := io.ReadFull(c, buf); err != nil {
		return
	}
	_, _ = io.WriteString(c, connReply)
}

func (s *connServer) stop() {
	s.ln.Close()
	s.wg.Wait()
}

// connRate is one run of back-to-back short connections.
type connRate struct {
	Conns, Failed int
	Elapsed       time.Duration
}

// PerSecond is the rate of completed connections.
func (r connRate) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Conns) / r.Elapsed.Seconds()
}

// runConns makes short connections one after the other from client to
// dst:port for d or until limit of them completed, whichever comes first.
func runConns(ctx context.Context, client *testbed.Host, dst string, port uint16, d time.Duration, limit int) (connRate, error) {
	addr := net.JoinHostPort(dst, strconv.Itoa(int(port)))
	var r connRate
	var lastErr error
	err := testbed.InNetns(client.Netns(), func() error {
		dialer := net.Dialer{Timeout: connTimeout}
		start := time.Now()
		deadline := start.Add(d)
		for r.Conns < limit && ctx.Err() == nil {
			now := time.Now()
			if !now.Before(deadline) {
				break
			}
			if err := oneConn(ctx, &dialer, addr); err != nil {
				r.Failed++
				lastErr = err
			} else {
				r.Conns++
			}
		}
		r.Elapsed = time.Since(start)
		return nil
	})
	if err != nil {
		return connRate{}, err
	}
	if ctx.Err() != nil {
		return connRate{}, ctx.Err()
	}
	if r.Conns == 0 {
		return r, fmt.Errorf("host %s: no connection to %s completed: %w", client.Name(), addr, lastErr)
	}
	return r, nil
}

var errShortReply = errors.New("short reply")

func oneConn(ctx context.Context, dialer *net.Dialer, addr string) error {
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(connTimeout))
	if _, err := io.WriteString(c, connRequest); err != nil {
		return err
	}
	var buf [8]byte
	n, err := io.ReadAtLeast(c, buf[:], len(connReply))
	if err != nil {
		return err
	}
	if string(buf[:n]) != connReply {
		return errShortReply
	}
	// Read to the server's FIN, so the server closed first and the
	// connection is over on both sides before the next one starts.
	if _, err := c.Read(buf[:]); err != io.EOF {
		return fmt.Errorf("want EOF after the reply, got %v", err)
	}
	return nil
}
