package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// OVS is a private Open vSwitch instance (ovsdb-server + ovs-vswitchd) whose
// database, sockets, pid files and logs all live in one temporary directory.
// It never touches a system-wide OVS: every tool invoked through it gets
// OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR pointing at that directory.
type OVS struct {
	Dir      string // the private run directory
	Datapath string // "system" or "netdev", resolved from the requested mode
	// Netns is the network namespace ovs-vswitchd runs in; empty means the
	// caller's. See StartOVSInNetns.
	Netns string

	ownNetns    bool // Netns was created by StartOVS and is deleted by Stop
	dbPID       int
	vswitchdPID int
}

// Datapath types accepted by StartOVS.
const (
	DatapathAuto   = "auto"
	DatapathSystem = "system"
	DatapathNetdev = "netdev"
)

// ResolveDatapath turns "auto" (or "") into "system" when the openvswitch
// kernel module is loaded and "netdev" (userspace) otherwise.
func ResolveDatapath(mode string) (string, error) {
	switch mode {
	case "", DatapathAuto:
		if _, err := os.Stat("/sys/module/openvswitch"); err == nil {
			return DatapathSystem, nil
		}
		return DatapathNetdev, nil
	case DatapathSystem, DatapathNetdev:
		return mode, nil
	}
	return "", fmt.Errorf("datapath %q: want auto, system or netdev", mode)
}

// StartOVS creates a fresh database in a new temporary directory and starts
// ovsdb-server and ovs-vswitchd on it, with ovs-vswitchd in a network
// namespace of its own (named like the run directory) that Stop deletes.
// The own namespace is what lets several private instances run at once:
// the userspace datapath creates a tap named "ovs-netdev" in the namespace
// it runs in, and a second instance in the same namespace cannot. The
// switch-side ends of links must therefore be moved into o.Netns.
// The caller must Stop it.
func StartOVS(ctx context.Context, datapath string) (*OVS, error) {
	return startOVS(ctx, datapath, "")
}

func startOVS(ctx context.Context, datapath, netns string) (*OVS, error) {
	dp, err := ResolveDatapath(datapath)
	if err != nil {
		return nil, err
	}
	for _, bin := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("start private OVS: %s not found (run 'make deps'): %w", bin, err)
		}
	}
	// Keep the path short: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "fgovs-")
	if err != nil {
		return nil, fmt.Errorf("start private OVS: %w", err)
	}
	o := &OVS{Dir: dir, Datapath: dp, Netns: netns}
	if netns == "" {
		o.Netns = filepath.Base(dir)
		if _, err := o.Run(ctx, "ip", "netns", "add", o.Netns); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start private OVS: %w", err)
		}
		o.ownNetns = true
		// Loopback up: a controller target tcp:127.0.0.1:N is dialled
		// from inside this namespace, so a test's listener must be bound
		// there too (see Listen).
		if _, err := o.Run(ctx, "ip", "-n", o.Netns, "link", "set", "lo", "up"); err != nil {
			o.Stop()
			return nil, fmt.Errorf("start private OVS: %w", err)
		}
	}
	if err := o.start(ctx); err != nil {
		o.Stop()
		return nil, err
	}
	return o, nil
}

// DBSocket is the ovsdb-server unix socket path.
func (o *OVS) DBSocket() string { return filepath.Join(o.Dir, "db.sock") }

// DBEndpoint is the OVSDB endpoint in libovsdb/ovs-vsctl form.
func (o *OVS) DBEndpoint() string { return "unix:" + o.DBSocket() }

// MgmtSocket is the bridge's OpenFlow management socket that ovs-ofctl uses.
func (o *OVS) MgmtSocket(bridge string) string {
	return filepath.Join(o.Dir, bridge+".mgmt")
}

// Env is the environment that makes OVS command-line tools talk to this
// instance rather than a system one.
func (o *OVS) Env() []string {
	return append(os.Environ(),
		"OVS_RUNDIR="+o.Dir, "OVS_DBDIR="+o.Dir, "OVS_LOGDIR="+o.Dir,
		"OVS_SYSCONFDIR="+o.Dir, "OVS_PKGDATADIR=/usr/share/openvswitch")
}

// Run runs an OVS tool (ovs-vsctl, ovs-ofctl, ovs-appctl, ...) against this
// instance and returns its trimmed stdout; the error carries stderr.
func (o *OVS) Run(ctx context.Context, tool string, args ...string) (string, error) {
	if tool == "ovs-vsctl" {
		args = append([]string{"--db=" + o.DBEndpoint(), "--timeout=10"}, args...)
	}
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = o.Env()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Vsctl runs ovs-vsctl against this instance.
func (o *OVS) Vsctl(ctx context.Context, args ...string) (string, error) {
	return o.Run(ctx, "ovs-vsctl", args...)
}

// Ofctl runs ovs-ofctl with OpenFlow 1.3 enabled against this instance.
// Bridge names resolve to this instance's management sockets.
func (o *OVS) Ofctl(ctx context.Context, args ...string) (string, error) {
	return o.Run(ctx, "ovs-ofctl", append([]string{"-O", "OpenFlow13"}, args...)...)
}

// Appctl runs ovs-appctl against this instance's ovs-vswitchd.
func (o *OVS) Appctl(ctx context.Context, args ...string) (string, error) {
	target := filepath.Join(o.Dir, fmt.Sprintf("ovs-vswitchd.%d.ctl", o.vswitchdPID))
	return o.Run(ctx, "ovs-appctl", append([]string{"-t", target}, args...)...)
}

// SettleDatapath returns once the datapath flows cached before the call
// have been revalidated against the OpenFlow tables as they are now. OVS
// revalidates after every table change on its own, but asynchronously, so
// a packet sent right after a flow change can still take the old verdict;
// tests that expect the new verdict at once wait here, as OVS's own test
// suite does. Two rounds: the first may have begun before the change.
func (o *OVS) SettleDatapath(ctx context.Context) error {
	for range 2 {
		if _, err := o.Appctl(ctx, "revalidator/wait"); err != nil {
			return err
		}
	}
	return nil
}

func (o *OVS) start(ctx context.Context) error {
	db := filepath.Join(o.Dir, "conf.db")
	if _, err := o.Run(ctx, "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return fmt.Errorf("start private OVS: %w", err)
	}
	if err := o.startDB(ctx); err != nil {
		return fmt.Errorf("start private OVS: %w", err)
	}
	if _, err := o.Vsctl(ctx, "--no-wait", "init"); err != nil {
		return fmt.Errorf("start private OVS: %w", err)
	}
	return o.StartVswitchd(ctx)
}

func (o *OVS) startDB(ctx context.Context) error {
	if _, err := o.Run(ctx, "ovsdb-server", filepath.Join(o.Dir, "conf.db"),
		"--remote=punix:"+o.DBSocket(),
		"--pidfile="+filepath.Join(o.Dir, "ovsdb-server.pid"),
		"--log-file="+filepath.Join(o.Dir, "ovsdb-server.log"),
		"--unixctl="+filepath.Join(o.Dir, "ovsdb-server.ctl"),
		"--detach", "--no-chdir"); err != nil {
		return err
	}
	pid, err := readPID(filepath.Join(o.Dir, "ovsdb-server.pid"))
	if err != nil {
		return err
	}
	o.dbPID = pid
	return nil
}

// RestartDB stops ovsdb-server and starts it again on the same database,
// the way an upgrade or crash would; clients must reconnect.
func (o *OVS) RestartDB(ctx context.Context) error {
	if err := stopPID(o.dbPID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("restart ovsdb-server: %w", err)
	}
	o.dbPID = 0
	if err := o.startDB(ctx); err != nil {
		return fmt.Errorf("restart ovsdb-server: %w", err)
	}
	return nil
}

// StartVswitchd starts ovs-vswitchd on the instance's database. StartOVS
// calls it; tests that simulate a vswitchd crash call it again after
// KillVswitchd.
func (o *OVS) StartVswitchd(ctx context.Context) error {
	tool, args := "ovs-vswitchd", []string{o.DBEndpoint(),
		"--pidfile=" + filepath.Join(o.Dir, "ovs-vswitchd.pid"),
		"--log-file=" + filepath.Join(o.Dir, "ovs-vswitchd.log"),
		"--detach", "--no-chdir", "-vconsole:off",
		// Adds the "dummy" interface type (and changes nothing else):
		// scale tests and benchmarks bind a thousand ports without a
		// thousand devices.
		"--enable-dummy"}
	if o.Netns != "" {
		tool, args = "ip", append([]string{"netns", "exec", o.Netns, tool}, args...)
	}
	// A killed ovs-vswitchd of this directory may still be letting go of
	// its pid file (its threads exit one by one): the new one refuses to
	// start until it has.
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := o.Run(ctx, tool, args...)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "already running as pid") || time.Now().After(deadline) {
			return fmt.Errorf("start ovs-vswitchd: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pid, err := readPID(filepath.Join(o.Dir, "ovs-vswitchd.pid"))
	if err != nil {
		return fmt.Errorf("start ovs-vswitchd: %w", err)
	}
	o.vswitchdPID = pid
	return nil
}

// VswitchdPID is the pid of the running ovs-vswitchd (0 when stopped).
func (o *OVS) VswitchdPID() int { return o.vswitchdPID }

// KillVswitchd sends SIGKILL to ovs-vswitchd and waits for it to be gone,
// the way a crash would end it.
func (o *OVS) KillVswitchd() error {
	if o.vswitchdPID == 0 {
		return nil
	}
	err := stopPID(o.vswitchdPID, syscall.SIGKILL)
	o.vswitchdPID = 0
	return err
}

// Stop terminates both daemons (by the pids this instance started) and
// removes the run directory. It is safe to call more than once.
func (o *OVS) Stop() error {
	var errs []error
	if o.vswitchdPID != 0 {
		errs = append(errs, stopPID(o.vswitchdPID, syscall.SIGTERM))
		o.vswitchdPID = 0
	}
	if o.dbPID != 0 {
		errs = append(errs, stopPID(o.dbPID, syscall.SIGTERM))
		o.dbPID = 0
	}
	if o.ownNetns {
		if _, err := o.Run(context.Background(), "ip", "netns", "del", o.Netns); err != nil {
			errs = append(errs, err)
		}
		o.ownNetns = false
	}
	if o.Dir != "" {
		errs = append(errs, os.RemoveAll(o.Dir))
		o.Dir = ""
	}
	return errors.Join(errs...)
}

func readPID(path string) (int, error) {
	// --detach returns after the daemon wrote its pidfile, but be tolerant.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no pid in %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopPID signals pid and waits up to 5 s for it to exit, then SIGKILLs it.
// The daemons are detached (not our children), so poll (see exited).
func stopPID(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		// kill(0) and kill(-1) would signal our own process group or
		// every process: never let a missing pid do that.
		return fmt.Errorf("no pid to signal (%d)", pid)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if exited(pid) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(50 * time.Millisecond)
	if !exited(pid) {
		return fmt.Errorf("pid %d did not exit", pid)
	}
	return nil
}

// StopPID stops a process this testbed's user started (the CLI's etcd):
// SIGTERM, then SIGKILL if it has not exited after 5 s. A pid that is
// already gone is not an error.
func StopPID(pid int) error { return stopPID(pid, syscall.SIGTERM) }

// Exited reports whether pid has ended (a zombie has).
func Exited(pid int) bool { return exited(pid) }
