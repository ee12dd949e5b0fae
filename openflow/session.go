package openflow

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SessionConfig says how to reach one bridge's OpenFlow endpoint.
//
// Exactly one of Dial, Listen and Listener is set. Dial connects actively,
// normally to the bridge's management socket "unix:<rundir>/<bridge>.mgmt",
// which needs no controller target on the bridge. Listen
// ("tcp:127.0.0.1:6653") accepts the connection ovs-vswitchd opens when the
// bridge's controller target is "tcp:127.0.0.1:6653"; Listener does the
// same on a listener the caller opened (in another network namespace, or
// handed over by systemd). The session closes the listener when Run ends.
//
// A listener hands whoever connects full control of the bridge, so every
// accepted connection is vetted before it counts: VerifyPeer (who is on
// the other end, asked before any byte is read), the handshake (bounded by
// HandshakeTimeout) and VerifySwitch (the datapath id the peer announced).
// Connections are vetted concurrently, so strangers that connect and say
// nothing cannot delay the real switch; a refused peer is logged and
// closed and never counts as connected.
//
// flowgate does not use contiv/ofnet's ofctrl here: it only offers the
// passive listener and hands out a Send without errors, replies or
// reconnects, which is the part this session is about.
type SessionConfig struct {
	Bridge   string // names the bridge in errors
	Dial     string // "unix:<path>" or "tcp:<host>:<port>"
	Listen   string // "tcp:<host>:<port>"
	Listener net.Listener
	// Logf, when set, receives one line per (re)connect and disconnect.
	Logf func(format string, args ...any)

	// HandshakeTimeout bounds the handshake and VerifySwitch of each
	// accepted connection; default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// VerifyPeer, when set, decides whether an accepted connection may
	// proceed to the handshake (e.g. by the process on its other end).
	VerifyPeer func(nc net.Conn) error
	// VerifySwitch, when set, decides whether an accepted connection whose
	// handshake announced datapathID is the bridge's switch.
	VerifySwitch func(ctx context.Context, datapathID uint64) error

	// PacketInRate is the controller meter's rate in packets per second
	// (meter.go), set on every connect; 0 means DefaultPacketInRate.
	PacketInRate uint32
}

// DefaultHandshakeTimeout bounds the handshake of an accepted connection.
// ovs-vswitchd answers in milliseconds; whoever is slower is not the switch.
const DefaultHandshakeTimeout = 2 * time.Second

// maxPendingHandshakes bounds the accepted connections being vetted at
// once; more are closed at once (and logged), so a flood of them costs a
// bounded number of descriptors.
const maxPendingHandshakes = 64

// Session is a reconnecting OpenFlow 1.3 connection to one bridge. Run
// keeps it connected; Apply and DumpFlows wait for a connection and run
// one at a time; Connects reports every (re)connect so that the owner can
// resynchronise the flow table.
type Session struct {
	cfg      SessionConfig
	listener net.Listener
	accepted chan vetted // listen mode: connections that passed every check

	mu    sync.Mutex
	conn  *ofConn
	ready chan struct{} // closed when conn is set; replaced when it drops

	opMu     sync.Mutex // one exchange at a time
	xidMu    sync.Mutex
	nextXID  uint32
	connects chan struct{}
	stats    sessionCounters
	// packetIns: PacketIns.
	packetIns chan PacketIn
	meters    portMeters // port_meters.go
	groups    groupTable // groups.go
}

// NewSession validates cfg and, in listen mode, binds the port at once so
// that a wrong address fails here rather than in the background.
func NewSession(cfg SessionConfig) (*Session, error) {
	s := &Session{cfg: cfg, ready: make(chan struct{}), nextXID: 16, connects: make(chan struct{}, 1),
		accepted: make(chan vetted), packetIns: make(chan PacketIn, packetInQueue)}
	if s.cfg.HandshakeTimeout <= 0 {
		s.cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	set := 0
	for _, given := range []bool{cfg.Dial != "", cfg.Listen != "", cfg.Listener != nil} {
		if given {
			set++
		}
	}
	switch {
	case set != 1:
		return nil, fmt.Errorf("OpenFlow session for bridge %s: set exactly one of Dial, Listen and Listener", cfg.Bridge)
	case cfg.Listener != nil:
		s.listener = cfg.Listener
	case cfg.Listen != "":
		addr, ok := strings.CutPrefix(cfg.Listen, "tcp:")
		if !ok {
			return nil, fmt.Errorf("OpenFlow session for bridge %s: listen target %q is not tcp:<host>:<port>", cfg.Bridge, cfg.Listen)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("OpenFlow session for bridge %s: %w", cfg.Bridge, err)
		}
		s.listener = l
	default:
		if _, _, err := splitTarget(cfg.Dial); err != nil {
			return nil, fmt.Errorf("OpenFlow session for bridge %s: %w", cfg.Bridge, err)
		}
	}
	return s, nil
}

func splitTarget(t string) (network, addr string, err error) {
	network, addr, ok := strings.Cut(t, ":")
	if !ok || (network != "unix" && network != "tcp") || addr == "" {
		return "", "", fmt.Errorf("target %q is not unix:<path> or tcp:<host>:<port>", t)
	}
	return network, addr, nil
}

// ListenAddr is the address a listening session is bound to.
func (s *Session) ListenAddr() net.Addr {
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Connects delivers a value after every successful (re)connect. It holds
// at most one pending value: several reconnects in a row before the owner
// looks collapse into one, which is all a resync needs.
func (s *Session) Connects() <-chan struct{} { return s.connects }

// Run connects, and reconnects with backoff whenever the connection drops,
// until ctx ends. It returns ctx's error. Call it once per Session.
//
// In listen mode a vetted connection that arrives while another is in use
// replaces it: only ovs-vswitchd passes the checks, and a new connection
// from it means the old one is dead (it restarted) even if no FIN came.
func (s *Session) Run(ctx context.Context) error {
	if s.listener != nil {
		stop := context.AfterFunc(ctx, func() { s.listener.Close() })
		defer stop()
		go s.acceptLoop(ctx)
	}
	// Local sockets: retrying often is cheap, and every second without a
	// connection after an ovs-vswitchd restart is a second without flows.
	backoff := newBackoff(50*time.Millisecond, time.Second)
	var next *vetted
	for ctx.Err() == nil {
		var v vetted
		switch {
		case next != nil:
			v, next = *next, nil
		case s.listener != nil:
			select {
			case v = <-s.accepted:
			case <-ctx.Done():
				continue
			}
		default:
			c, dpid, err := s.dial(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.logf("openflow %s: connect: %v (retrying)", s.cfg.Bridge, err)
					backoff.wait(ctx)
				}
				continue
			}
			backoff.reset()
			v = vetted{c: c, dpid: dpid}
		}
		c := v.c
		n := s.stats.connects.Add(1)
		s.logf("openflow %s: connected (datapath %016x, peer %s, connect #%d)", s.cfg.Bridge, v.dpid, peerName(c.nc), n)
		// Notify before publishing the connection: whoever takes the
		// notice and then reads the switch is sure to read this one.
		select {
		case s.connects <- struct{}{}:
		default:
		}
		deliver := s.deliverPacketIn
		c.async.Store(&deliver)
		// Service connections get packet-ins only after this.
		msgs := append([][]byte{setConfigMessage(s.allocXIDs(1)), setAsyncPacketIns(s.allocXIDs(1))}, controllerMeterMessages(s)...)
		msgs = append(msgs, s.allPortMeterMessages()...)
		if err := c.send(msgs...); err != nil {
			s.logf("openflow %s: set config: %v", s.cfg.Bridge, err)
		}
		s.installGroups(ctx, c) // groups.go: before any flow can send to them
		s.setConn(c)
		select {
		case <-c.closed:
			s.logf("openflow %s: %v", s.cfg.Bridge, c.err)
		case nv := <-s.accepted: // only the listener sends here
			s.logf("openflow %s: the switch connected again (peer %s); closing the old connection", s.cfg.Bridge, peerName(nv.c.nc))
			c.close(errDisconnected)
			next = &nv
		case <-ctx.Done():
			c.close(errDisconnected)
		}
		s.clearConn(c)
	}
	return ctx.Err()
}

// vetted is a connection that completed the handshake and passed every
// check, with the datapath id the switch announced.
type vetted struct {
	c    *ofConn
	dpid uint64
}

func (s *Session) dial(ctx context.Context) (*ofConn, uint64, error) {
	network, addr, _ := splitTarget(s.cfg.Dial)
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, 0, err
	}
	return newOFConn(ctx, nc)
}

// acceptLoop accepts until the listener closes and vets every connection
// on a goroutine of its own, so that a peer that stalls costs only its own
// deadline; the vetted ones go to Run.
func (s *Session) acceptLoop(ctx context.Context) {
	pending := make(chan struct{}, maxPendingHandshakes)
	for {
		nc, err := s.listener.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: do not spin.
			s.logf("openflow %s: accept: %v", s.cfg.Bridge, err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case pending <- struct{}{}:
		default:
			s.logf("openflow %s: refused peer %s: %d handshakes already in progress", s.cfg.Bridge, peerName(nc), maxPendingHandshakes)
			nc.Close()
			continue
		}
		go func() {
			defer func() { <-pending }()
			c, dpid, err := s.vet(ctx, nc)
			if err != nil {
				if ctx.Err() == nil {
					s.logf("openflow %s: refused peer %s: %v", s.cfg.Bridge, peerName(nc), err)
				}
				return
			}
			select {
			case s.accepted <- vetted{c: c, dpid: dpid}:
			case <-ctx.Done():
				c.close(errDisconnected)
			}
		}()
	}
}

// vet runs the checks on an accepted connection and, if it passes them
// all, starts its reader. It closes nc on any failure.
func (s *Session) vet(ctx context.Context, nc net.Conn) (*ofConn, uint64, error) {
	if s.cfg.VerifyPeer != nil {
		if err := s.cfg.VerifyPeer(nc); err != nil {
			nc.Close()
			return nil, 0, err
		}
	}
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	br := bufio.NewReaderSize(nc, 64<<10)
	dpid, err := handshake(hctx, nc, br)
	if err != nil {
		nc.Close()
		return nil, 0, err
	}
	if s.cfg.VerifySwitch != nil {
		if err := s.cfg.VerifySwitch(hctx, dpid); err != nil {
			nc.Close()
			return nil, 0, fmt.Errorf("datapath %016x: %w", dpid, err)
		}
	}
	return startOFConn(nc, br), dpid, nil
}

// peerName is the remote address of nc for log lines.
func peerName(nc net.Conn) string {
	if a := nc.RemoteAddr(); a != nil && a.String() != "" {
		return a.String()
	}
	return nc.LocalAddr().Network() + " peer"
}

func (s *Session) setConn(c *ofConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn = c
	close(s.ready)
}

func (s *Session) clearConn(c *ofConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == c {
		s.conn = nil
		s.ready = make(chan struct{})
	}
}

// Connected reports whether the session has a switch connection now.
func (s *Session) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

// current waits until the session is connected.
func (s *Session) current(ctx context.Context) (*ofConn, error) {
	for {
		s.mu.Lock()
		c, ready := s.conn, s.ready
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("bridge %s: not connected: %w", s.cfg.Bridge, ctx.Err())
		}
	}
}

// allocXIDs reserves n consecutive transaction ids. The range never wraps,
// so that "xid in [first, last]" routes replies correctly.
func (s *Session) allocXIDs(n int) uint32 {
	s.xidMu.Lock()
	defer s.xidMu.Unlock()
	if uint64(s.nextXID)+uint64(n) > 0xffffffff {
		s.nextXID = 16
	}
	first := s.nextXID
	s.nextXID += uint32(n)
	return first
}

func (s *Session) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// Barrier waits until the switch has processed everything sent before it.
func (s *Session) Barrier(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	c, err := s.current(ctx)
	if err != nil {
		return err
	}
	xid := s.allocXIDs(1)
	ex := c.startExchange(xid, xid)
	defer c.endExchange(ex)
	msg, _ := finishMessage(ofpHeader(ofptBarrierRequest, xid))
	if err := c.send(msg); err != nil {
		return fmt.Errorf("bridge %s: barrier: %w", s.cfg.Bridge, err)
	}
	for {
		m, err := c.recv(ctx, ex)
		if err != nil {
			return fmt.Errorf("bridge %s: barrier: %w", s.cfg.Bridge, err)
		}
		switch m.typ {
		case ofptBarrierReply:
			return nil
		case ofptError:
			return fmt.Errorf("bridge %s: barrier: %w", s.cfg.Bridge, switchErr(m))
		}
	}
}

func switchErr(m ofMsg) error {
	se, err := parseSwitchError(m.body)
	if err != nil {
		return err
	}
	return se
}

// backoff doubles a wait from min to max.
type backoff struct{ min, max, cur time.Duration }

func newBackoff(min, max time.Duration) *backoff { return &backoff{min, max, min} }
func (b *backoff) reset()                        { b.cur = b.min }
func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.cur)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	b.cur = min(2*b.cur, b.max)
}

// IsDisconnected reports whether err came from the connection dropping
// (the change may or may not have reached the switch; resync after the
// reconnect finds out).
func IsDisconnected(err error) bool { return errors.Is(err, errDisconnected) }

// sessionCounters are updated with atomics; Stats copies them.
type sessionCounters struct {
	connects, flowMods, bundlesCommitted, bundlesFailed, applies atomic.Uint64
	groupMods                                                    atomic.Uint64
	packetInsDropped                                             atomic.Uint64
	applyNanos, lastApplyNanos                                   atomic.Int64
}

// SessionStats are a session's counters since it was created; the
// controller exports them (e.g. as Prometheus counter/gauge funcs).
type SessionStats struct {
	Connects         uint64        // successful connects; reconnects = Connects-1
	FlowMods         uint64        // flow-mods sent inside bundles
	BundlesCommitted uint64        // bundles the switch committed
	BundlesFailed    uint64        // bundles refused or lost with the connection
	Applies          uint64        // Apply calls that sent a bundle
	ApplyTime        time.Duration // total time spent in those
	LastApplyTime    time.Duration // duration of the latest one
	PacketInsDropped uint64        // packet-ins dropped because the owner fell behind
	GroupMods        uint64        // group-mods sent (adds or modifies, and deletes)
}

// Stats returns a snapshot of the counters.
func (s *Session) Stats() SessionStats {
	c := &s.stats
	return SessionStats{
		Connects:         c.connects.Load(),
		FlowMods:         c.flowMods.Load(),
		BundlesCommitted: c.bundlesCommitted.Load(),
		BundlesFailed:    c.bundlesFailed.Load(),
		Applies:          c.applies.Load(),
		ApplyTime:        time.Duration(c.applyNanos.Load()),
		LastApplyTime:    time.Duration(c.lastApplyNanos.Load()),
		PacketInsDropped: c.packetInsDropped.Load(),
		GroupMods:        c.groupMods.Load(),
	}
}
