package testbed

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultProbeTimeout bounds a probe whose context has no deadline. A
// denied probe (dropped packets) costs exactly this long, so it is short;
// an allowed one on the userspace datapath answers in milliseconds.
const DefaultProbeTimeout = time.Second

// Outcome is what a probe observed.
type Outcome int

const (
	// OK: the reply came back (and for TCP/UDP, the echo matched).
	OK Outcome = iota + 1
	// Refused: something answered no, e.g. a TCP RST or an ICMP
	// unreachable (port, host, admin prohibited), or there was no route.
	Refused
	// TimedOut: nothing came back in time; packets were dropped.
	TimedOut
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Refused:
		return "refused"
	case TimedOut:
		return "timed out"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is the outcome of one probe.
type Result struct {
	Outcome Outcome
	// Seen is the source address and port the echo server saw (TCP and
	// UDP probes that are OK): the client's own address unless NAT
	// rewrote it.
	Seen netip.AddrPort
	// Local is the client's own address and port (TCP and UDP probes
	// that are OK): where Seen differs from it, NAT rewrote the source.
	Local netip.AddrPort
	// Detail says why a probe was not OK (the error or ping's words).
	Detail string
}

// The probes return an error only when the probe itself could not be made
// (no namespace, a malformed echo); a denied or unanswered probe is a
// Result.

// Ping sends ICMP echo requests from a host to dst (IPv4 or IPv6) until one
// is answered or the timeout passes. Requests go out every 200 ms, so one
// lost packet (an ARP/ND miss) does not fail a reachable destination.
func Ping(ctx context.Context, from *Host, dst netip.Addr) (Result, error) {
	return ping(ctx, from, netip.Addr{}, dst)
}

// ping is Ping from src when it is valid.
func ping(ctx context.Context, from *Host, src, dst netip.Addr) (Result, error) {
	ctx, cancel := probeContext(ctx)
	defer cancel()
	deadline, _ := ctx.Deadline()
	// ping's -w takes whole seconds; give ping itself that long and the
	// process a second more so ping, not the context, ends the probe.
	secs := max(1, int(math.Ceil(time.Until(deadline).Seconds())))
	pctx, pcancel := context.WithTimeout(context.Background(), time.Duration(secs+1)*time.Second)
	defer pcancel()
	argv := []string{"ip", "netns", "exec", from.state.Netns, "ping", "-n", "-c", "1", "-i", "0.2", "-w", strconv.Itoa(secs)}
	if src.IsValid() {
		argv = append(argv, "-I", src.String())
	}
	out, err := exec.CommandContext(pctx, argv[0], append(argv[1:], dst.String())...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return Result{Outcome: OK}, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		report := string(out)
		for _, word := range []string{"Unreachable", "unreachable", "Prohibited", "filtered"} {
			if strings.Contains(report, word) {
				return Result{Outcome: Refused, Detail: pingSummary(report)}, nil
			}
		}
		return Result{Outcome: TimedOut, Detail: pingSummary(report)}, nil
	}
	return Result{}, fmt.Errorf("host %s: ping %s: %w: %s", from.state.Name, dst, err, strings.TrimSpace(string(out)))
}

// pingSummary keeps the line that explains a failed ping.
func pingSummary(report string) string {
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, "From ") || strings.Contains(line, "packet loss") {
			return strings.TrimSpace(line)
		}
	}
	return strings.TrimSpace(report)
}

// TCPConnect connects from a host to dst:port and exchanges one line with
// the echo server there (ServeTCP).
func TCPConnect(ctx context.Context, from *Host, dst netip.Addr, port uint16) (Result, error) {
	return tcpConnect(ctx, from, dialOpts{}, netip.AddrPortFrom(dst, port))
}

// tcpConnect is TCPConnect with the dialer's options.
func tcpConnect(ctx context.Context, from *Host, opts dialOpts, dst netip.AddrPort) (Result, error) {
	ctx, cancel := probeContext(ctx)
	defer cancel()
	conn, res, err := dialTCP(ctx, from, opts, dst)
	if err != nil || res.Outcome != OK {
		return res, err
	}
	defer conn.Close()
	return echoTCP(ctx, from, conn, bufio.NewReader(conn))
}

// dialTCP connects inside the host's namespace. A connection comes back
// only with an OK result.
func dialTCP(ctx context.Context, from *Host, opts dialOpts, dst netip.AddrPort) (net.Conn, Result, error) {
	var conn net.Conn
	var dialErr error
	if err := from.in(func() error {
		conn, dialErr = opts.dialer("tcp").DialContext(ctx, "tcp", dst.String())
		return nil
	}); err != nil {
		return nil, Result{}, err
	}
	if dialErr != nil {
		res, err := failedProbe(from, "tcp connect "+dst.String()+opts.String(), dialErr)
		return nil, res, err
	}
	return conn, Result{Outcome: OK}, nil
}

// echoTCP sends a token line on conn and waits for its echo until ctx's
// deadline.
func echoTCP(ctx context.Context, from *Host, conn net.Conn, r *bufio.Reader) (Result, error) {
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return Result{}, fmt.Errorf("host %s: %w", from.state.Name, err)
	}
	token := newToken()
	what := "tcp echo " + conn.RemoteAddr().String()
	if _, err := conn.Write([]byte(token + "\n")); err != nil {
		return failedProbe(from, what, err)
	}
	reply, err := r.ReadString('\n')
	if err != nil {
		return failedProbe(from, what, err)
	}
	seen, err := parseEcho(reply, token)
	if err != nil {
		return Result{}, fmt.Errorf("host %s: %s: %w", from.state.Name, what, err)
	}
	return Result{Outcome: OK, Seen: seen, Local: localAddr(conn)}, nil
}

// udpResend is how often UDPExchange repeats its datagram while it waits,
// so one lost datagram does not fail a reachable destination.
const udpResend = 250 * time.Millisecond

// UDPExchange sends a datagram from a host to dst:port and waits for the
// echo server there (ServeUDP) to answer it.
func UDPExchange(ctx context.Context, from *Host, dst netip.Addr, port uint16) (Result, error) {
	return udpExchange(ctx, from, dialOpts{}, netip.AddrPortFrom(dst, port))
}

// udpExchange is UDPExchange with the dialer's options.
func udpExchange(ctx context.Context, from *Host, opts dialOpts, dst netip.AddrPort) (Result, error) {
	ctx, cancel := probeContext(ctx)
	defer cancel()
	target := dst.String()
	var conn net.Conn
	if err := from.in(func() (err error) {
		conn, err = opts.dialer("udp").DialContext(ctx, "udp", target)
		return err
	}); err != nil {
		return failedProbe(from, "udp "+target+opts.String(), err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	token := newToken()
	buf := make([]byte, 1500)
	for {
		// A connected UDP socket reports an ICMP port unreachable as
		// ECONNREFUSED on the next read or write.
		if _, err := conn.Write([]byte(token)); err != nil {
			return failedProbe(from, "udp "+target, err)
		}
		if err := conn.SetReadDeadline(earliest(deadline, time.Now().Add(udpResend))); err != nil {
			return Result{}, fmt.Errorf("host %s: %w", from.state.Name, err)
		}
		n, err := conn.Read(buf)
		if err == nil {
			seen, err := parseEcho(string(buf[:n]), token)
			if err != nil {
				return Result{}, fmt.Errorf("host %s: udp %s: %w", from.state.Name, target, err)
			}
			return Result{Outcome: OK, Seen: seen, Local: localAddr(conn)}, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(deadline) {
			return failedProbe(from, "udp "+target, err)
		}
	}
}

// failedProbe sorts a socket error into Refused or TimedOut; anything else
// is a failure of the probe itself.
func failedProbe(from *Host, what string, err error) (Result, error) {
	detail := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return Result{Outcome: Refused, Detail: detail}, nil
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return Result{Outcome: TimedOut, Detail: detail}, nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Result{Outcome: TimedOut, Detail: detail}, nil
	}
	return Result{}, fmt.Errorf("host %s: %s: %w", from.state.Name, what, err)
}

// probeContext applies DefaultProbeTimeout unless ctx ends sooner.
func probeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultProbeTimeout)
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return "fgprobe-" + hex.EncodeToString(b)
}
