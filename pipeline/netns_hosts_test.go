package pipeline_test

// Minimal namespace hosts for the router/NAT tests: one veth per host into a
// private OVS bridge, sockets opened inside the namespace from this process
// so that tests see peer addresses directly. The testbed package will own
// this once its host API lands; these helpers stay deliberately small.

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/flowgate/flowgate/testbed"
)

// nsHost is a network namespace with one interface (eth0) plugged into the
// bridge as an OVS port.
type nsHost struct {
	Name   string // host name in the test ("web1")
	NS     string // namespace name ("fgr12-web1")
	OFPort uint32 // OpenFlow port of its veth on the bridge
}

var nsSerial atomic.Uint32

// run runs a command and fails the test with its output on error.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// addHost creates a namespace named after the host, a veth pair whose host
// end is eth0 (with mac, addrs and a default route via gw when not empty),
// and adds the switch end (in ovs-vswitchd's namespace o.Netns) to bridge
// as OpenFlow port ofport with external_ids:iface-id=name.
func addHost(t testing.TB, o *testbed.OVS, bridge, name string, ofport uint32, mac string, addrs []string, gw string) *nsHost {
	t.Helper()
	serial := nsSerial.Add(1)
	// Names stay within IFNAMSIZ (15) for the root veth end.
	h := &nsHost{Name: name, NS: fmt.Sprintf("fgr%d-%s", serial, name), OFPort: ofport}
	peer := fmt.Sprintf("fgr%dp%d", serial, ofport)
	run(t, "ip", "netns", "add", h.NS)
	// Deleting the namespace deletes eth0 and with it the veth peer.
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", h.NS).Run() })
	sw := []string{"netns", "exec", o.Netns}
	run(t, "ip", append(sw, "ip", "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", h.NS)...)
	// The userspace datapath checks TCP checksums in conntrack; offloaded
	// (absent) checksums make every segment invalid and TCP stalls.
	run(t, "ip", append(sw, "ethtool", "-K", peer, "tx", "off")...)
	run(t, "ip", append(sw, "ip", "link", "set", peer, "up")...)
	ns := []string{"netns", "exec", h.NS}
	run(t, "ip", append(ns, "ethtool", "-K", "eth0", "tx", "off")...)
	run(t, "ip", append(ns, "ip", "link", "set", "eth0", "address", mac)...)
	for _, a := range addrs {
		run(t, "ip", append(ns, "ip", "addr", "add", a, "dev", "eth0")...)
	}
	run(t, "ip", append(ns, "ip", "link", "set", "eth0", "up")...)
	run(t, "ip", append(ns, "ip", "link", "set", "lo", "up")...)
	if gw != "" {
		run(t, "ip", append(ns, "ip", "route", "add", "default", "via", gw)...)
	}
	ctx := context.Background()
	if _, err := o.Vsctl(ctx, "add-port", bridge, peer, "--", "set", "Interface", peer,
		fmt.Sprintf("ofport_request=%d", ofport), "external_ids:iface-id="+name); err != nil {
		t.Fatalf("plug %s: %v", name, err)
	}
	return h
}

// exec runs a command inside the host's namespace.
func (h *nsHost) exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", h.NS}, args...)...)
}

// in runs fn on an OS thread switched into the host's namespace; sockets
// fn creates belong to that namespace for their whole life.
func (h *nsHost) in(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: if switching back fails it must die
		// with this goroutine rather than serve others in the wrong netns.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("%s: current netns: %w", h.Name, err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(h.NS)
		if err != nil {
			errc <- fmt.Errorf("%s: open netns %s: %w", h.Name, h.NS, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("%s: enter netns: %w", h.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("%s: leave netns: %w", h.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// serveTCP listens on addr inside the host and answers every connection
// with one line: the peer address as the server saw it.
func (h *nsHost) serveTCP(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	if err := h.in(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("%s: listen tcp %s: %v", h.Name, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", c.RemoteAddr())
				// Hold the connection open until the client closes it so
				// that concurrent clients overlap in conntrack.
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
}

// serveUDP answers every datagram on addr with the sender's address.
func (h *nsHost) serveUDP(t testing.TB, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := h.in(func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
		t.Fatalf("%s: listen udp %s: %v", h.Name, addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(from.String()+"\n"), from)
		}
	}()
}

// probeTimeout bounds one connection attempt; a dropped SYN is "refused".
const probeTimeout = 1500 * time.Millisecond

// dialTCP connects from the host (from laddr when not empty) to raddr and
// returns the open connection and the line the server answered: the
// client's address as the server saw it.
func (h *nsHost) dialTCP(laddr, raddr string) (net.Conn, string, error) {
	return h.dialTCPTTL(laddr, raddr, 0)
}

// dialTCPTTL is dialTCP with the IP TTL of the client's packets set to ttl
// (0 keeps the system default).
func (h *nsHost) dialTCPTTL(laddr, raddr string, ttl int) (net.Conn, string, error) {
	d := net.Dialer{Timeout: probeTimeout}
	if ttl > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL, ttl)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	if laddr != "" {
		a, err := net.ResolveTCPAddr("tcp", laddr)
		if err != nil {
			return nil, "", err
		}
		d.LocalAddr = a
	}
	var c net.Conn
	if err := h.in(func() (err error) { c, err = d.Dial("tcp", raddr); return err }); err != nil {
		return nil, "", fmt.Errorf("%s: dial %s: %w", h.Name, raddr, err)
	}
	line, err := readLine(c)
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("%s: read from %s: %w", h.Name, raddr, err)
	}
	return c, line, nil
}

// askTCP is dialTCP for a single exchange.
func (h *nsHost) askTCP(laddr, raddr string) (string, error) {
	c, line, err := h.dialTCP(laddr, raddr)
	if err != nil {
		return "", err
	}
	c.Close()
	return line, nil
}

// askUDP sends one datagram from the host (from laddr when not empty) to
// raddr and returns the server's answer.
func (h *nsHost) askUDP(laddr, raddr string) (string, error) {
	d := net.Dialer{}
	if laddr != "" {
		a, err := net.ResolveUDPAddr("udp", laddr)
		if err != nil {
			return "", err
		}
		d.LocalAddr = a
	}
	var c net.Conn
	if err := h.in(func() (err error) { c, err = d.Dial("udp", raddr); return err }); err != nil {
		return "", fmt.Errorf("%s: dial udp %s: %w", h.Name, raddr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		return "", fmt.Errorf("%s: send udp %s: %w", h.Name, raddr, err)
	}
	line, err := readLine(c)
	if err != nil {
		return "", fmt.Errorf("%s: udp answer from %s: %w", h.Name, raddr, err)
	}
	return line, nil
}

func readLine(c net.Conn) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(probeTimeout))
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Time{})
	return strings.TrimSpace(string(buf[:n])), nil
}
