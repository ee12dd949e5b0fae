package controller

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// An OpenFlow listener hands whoever connects full control of the bridge,
// so in listen mode the controller accepts a connection only from
// ovs-vswitchd: the peer's socket must belong to the ovs-vswitchd whose
// pid file is in the OVS run directory (or, without a pid file, to root
// or the user that owns the run directory), and the datapath id it
// announces must be the bridge's datapath_id in OVSDB. TCP has no
// SO_PEERCRED; Linux still tells the owner of a loopback peer through
// /proc/<pid>/net/tcp (uid and socket inode of both ends), read in
// ovs-vswitchd's own network namespace, and /proc/<pid>/fd says which
// process holds that socket.

// verifyPeer refuses a connection that does not come from ovs-vswitchd.
func (c *Controller) verifyPeer(nc net.Conn) error {
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("%s connection: only TCP peers are identified", nc.LocalAddr().Network())
	}
	local := tcp.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := tcp.RemoteAddr().(*net.TCPAddr).AddrPort()
	if !remote.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("peer %s is not on loopback", remote)
	}
	pid := vswitchdPID(c.rundir)
	proc := "self"
	if pid != 0 {
		proc = strconv.Itoa(pid)
	}
	uid, inode, err := tcpSocketOwner(proc, remote, local)
	if err != nil {
		return fmt.Errorf("cannot tell who is on the other end: %w", err)
	}
	if pid != 0 {
		if !holdsSocket(pid, inode) {
			return fmt.Errorf("socket of uid %d is not ovs-vswitchd's (pid %d)", uid, pid)
		}
		return nil
	}
	if !c.allowedUID(uid) {
		return fmt.Errorf("socket of uid %d; only root or the owner of %s may be the switch", uid, c.rundir)
	}
	return nil
}

// allowedUID is root, flowgate's own user and the owner of the OVS run
// directory (ovs-vswitchd may run as an unprivileged openvswitch user).
func (c *Controller) allowedUID(uid int) bool {
	if uid == 0 || uid == os.Geteuid() {
		return true
	}
	fi, err := os.Stat(c.rundir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}

// vswitchdPID is the pid in RUNDIR/ovs-vswitchd.pid if that process runs,
// else 0.
func vswitchdPID(rundir string) int {
	b, err := os.ReadFile(filepath.Join(rundir, "ovs-vswitchd.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
		return 0
	}
	return pid
}

// tcpSocketOwner finds the socket whose local address is peer and remote
// address is us in /proc/<proc>/net/tcp{,6} (the network namespace of
// that process) and returns its uid and inode.
func tcpSocketOwner(proc string, peer, us netip.AddrPort) (uid int, inode uint64, err error) {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	us = netip.AddrPortFrom(us.Addr().Unmap(), us.Port())
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join("/proc", proc, "net", table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 {
				continue
			}
			l, err1 := parseProcAddr(fields[1])
			r, err2 := parseProcAddr(fields[2])
			if err1 != nil || err2 != nil || l != peer || r != us {
				continue
			}
			u, err1 := strconv.Atoi(fields[7])
			ino, err2 := strconv.ParseUint(fields[9], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			f.Close()
			return u, ino, nil
		}
		f.Close()
	}
	return 0, 0, fmt.Errorf("no socket %s -> %s in /proc/%s/net/tcp", peer, us, proc)
}

// parseProcAddr parses "0100007F:1A0B": the address as 32-bit words in
// host byte order, the port in hex. IPv4-mapped IPv6 comes back unmapped.
func parseProcAddr(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, errors.New("no port")
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q", hexAddr)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// holdsSocket reports whether process pid has the socket inode open.
func holdsSocket(pid int, inode uint64) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	for _, e := range entries {
		if link, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && link == want {
			return true
		}
	}
	return false
}

// verifyDatapath refuses a peer whose announced datapath id is not the
// bridge's datapath_id in OVSDB. A restarted ovs-vswitchd may connect a
// moment before the new id reaches flowgate's OVSDB cache, so a mismatch
// is re-read until ctx (the handshake deadline) ends.
func (c *Controller) verifyDatapath(bridge string) func(context.Context, uint64) error {
	return func(ctx context.Context, dpid uint64) error {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		what := "OVSDB not connected yet"
		for {
			c.mu.Lock()
			db := c.db
			c.mu.Unlock()
			if db != nil {
				id, ok, err := db.DatapathID(ctx, bridge)
				switch {
				case err != nil:
					what = err.Error()
				case !ok:
					what = "bridge " + bridge + " has no datapath_id yet"
				case id == dpid:
					return nil
				default:
					what = fmt.Sprintf("bridge %s has datapath_id %016x", bridge, id)
				}
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return fmt.Errorf("not the bridge's switch: %s", what)
			}
		}
	}
}
