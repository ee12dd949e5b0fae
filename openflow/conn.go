package openflow

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ofMsg is one OpenFlow message as read from the wire.
type ofMsg struct {
	version, typ uint8
	xid          uint32
	body         []byte // after the 8-byte header
}

// errDisconnected is returned by requests in flight when the connection
// to the switch drops.
var errDisconnected = errors.New("connection to the switch closed")

// ofConn is one OpenFlow 1.3 connection: its own framing on a net.Conn, a
// reader goroutine that answers echo requests and routes replies to the
// one exchange in progress, and buffered writes. Exchanges are serialised
// by the Session, which is why a single "current exchange" is enough.
type ofConn struct {
	nc net.Conn

	wmu sync.Mutex
	bw  *bufio.Writer

	cur atomic.Pointer[exchange]
	// async receives packet-ins; set before the connection is published
	// and read by the reader only.
	async  atomic.Pointer[func(ofMsg)]
	closed chan struct{}
	err    error // why the reader stopped; read after closed
	once   sync.Once
}

// exchange receives every message whose xid lies in [first, last].
type exchange struct {
	first, last uint32
	ch          chan ofMsg
	done        chan struct{}
}

func (c *ofConn) startExchange(first, last uint32) *exchange {
	ex := &exchange{first: first, last: last, ch: make(chan ofMsg, 64), done: make(chan struct{})}
	c.cur.Store(ex)
	return ex
}

func (c *ofConn) endExchange(ex *exchange) {
	c.cur.CompareAndSwap(ex, nil)
	close(ex.done)
}

// recv waits for the next message of ex.
func (c *ofConn) recv(ctx context.Context, ex *exchange) (ofMsg, error) {
	select {
	case m := <-ex.ch:
		return m, nil
	case <-c.closed:
		// Deliver what the reader queued before it stopped.
		select {
		case m := <-ex.ch:
			return m, nil
		default:
		}
		return ofMsg{}, c.err
	case <-ctx.Done():
		return ofMsg{}, ctx.Err()
	}
}

func readMsg(r *bufio.Reader) (ofMsg, error) {
	var hdr [ofpHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return ofMsg{}, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if n < ofpHeaderLen {
		return ofMsg{}, fmt.Errorf("OpenFlow message with length %d", n)
	}
	m := ofMsg{version: hdr[0], typ: hdr[1], xid: binary.BigEndian.Uint32(hdr[4:]), body: make([]byte, n-ofpHeaderLen)}
	_, err := io.ReadFull(r, m.body)
	return m, err
}

// write queues messages; flush sends them.
func (c *ofConn) write(msgs ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, m := range msgs {
		if _, err := c.bw.Write(m); err != nil {
			return err
		}
	}
	return nil
}

func (c *ofConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.bw.Flush()
}

func (c *ofConn) send(msgs ...[]byte) error {
	if err := c.write(msgs...); err != nil {
		return err
	}
	return c.flush()
}

func (c *ofConn) close(err error) {
	c.once.Do(func() {
		c.err = err
		c.nc.Close()
		close(c.closed)
	})
}

// handshake exchanges HELLO (both sides must speak OpenFlow 1.3) and asks
// for the features, which the switch must answer before anything else.
// It runs before the reader starts, so it reads the connection directly.
func handshake(ctx context.Context, nc net.Conn, br *bufio.Reader) (datapathID uint64, err error) {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	defer nc.SetDeadline(time.Time{})

	hello, _ := finishMessage(ofpHeader(ofptHello, 0))
	features, _ := finishMessage(ofpHeader(ofptFeaturesRequest, 1))
	if _, err := nc.Write(append(hello, features...)); err != nil {
		return 0, fmt.Errorf("send hello: %w", err)
	}
	gotHello := false
	for {
		m, err := readMsg(br)
		if err != nil {
			return 0, fmt.Errorf("handshake: %w", err)
		}
		switch m.typ {
		case ofptHello:
			// The negotiated version is the lower of the two headers'; OVS
			// offers its highest allowed, so anything below 1.3 means the
			// bridge does not allow OpenFlow 1.3.
			if m.version < ofp13Version {
				return 0, fmt.Errorf("switch speaks OpenFlow version %#x, flowgate needs 1.3 (set the bridge's protocols to include OpenFlow13)", m.version)
			}
			gotHello = true
		case ofptError:
			se, perr := parseSwitchError(m.body)
			if perr != nil {
				return 0, fmt.Errorf("handshake: %w", perr)
			}
			return 0, fmt.Errorf("handshake refused: %w", se)
		case ofptEchoRequest:
			reply := append(ofpHeader(ofptEchoReply, m.xid), m.body...)
			reply, _ = finishMessage(reply)
			if _, err := nc.Write(reply); err != nil {
				return 0, err
			}
		case ofptFeaturesReply:
			if !gotHello || len(m.body) < 8 {
				return 0, fmt.Errorf("handshake: unexpected features reply")
			}
			return binary.BigEndian.Uint64(m.body), nil
		}
	}
}

// newOFConn performs the handshake and starts the reader.
func newOFConn(ctx context.Context, nc net.Conn) (*ofConn, uint64, error) {
	br := bufio.NewReaderSize(nc, 64<<10)
	dpid, err := handshake(ctx, nc, br)
	if err != nil {
		nc.Close()
		return nil, 0, err
	}
	return startOFConn(nc, br), dpid, nil
}

// startOFConn starts the reader of a connection whose handshake is done.
func startOFConn(nc net.Conn, br *bufio.Reader) *ofConn {
	c := &ofConn{nc: nc, bw: bufio.NewWriterSize(nc, 256<<10), closed: make(chan struct{})}
	go c.readLoop(br)
	return c
}

func (c *ofConn) readLoop(br *bufio.Reader) {
	for {
		m, err := readMsg(br)
		if err != nil {
			c.close(fmt.Errorf("%w: %v", errDisconnected, err))
			return
		}
		if m.typ == ofptEchoRequest {
			reply, _ := finishMessage(append(ofpHeader(ofptEchoReply, m.xid), m.body...))
			if err := c.send(reply); err != nil {
				c.close(fmt.Errorf("%w: echo reply: %v", errDisconnected, err))
				return
			}
			continue
		}
		if m.typ == ofptPacketIn {
			if f := c.async.Load(); f != nil {
				(*f)(m)
			}
			continue
		}
		ex := c.cur.Load()
		if ex == nil || m.xid < ex.first || m.xid > ex.last {
			continue // unsolicited (port status, late replies of an abandoned exchange)
		}
		select {
		case ex.ch <- m:
		case <-ex.done:
		case <-c.closed:
			return
		}
	}
}
