package testbed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// AttachOVS returns a handle on the private OVS in run directory dir,
// started by StartOVS or StartOVSInNetns, possibly in another process, so
// that it can be used and stopped from here. A daemon whose pidfile is
// missing (or the whole directory), or whose pid now belongs to some other
// program, counts as stopped: Stop must never signal a process that is not
// ours.
func AttachOVS(dir, datapath, netns string) *OVS {
	return &OVS{
		Dir:         dir,
		Datapath:    datapath,
		Netns:       netns,
		dbPID:       ownedPID(filepath.Join(dir, "ovsdb-server.pid"), dir),
		vswitchdPID: ownedPID(filepath.Join(dir, "ovs-vswitchd.pid"), dir),
	}
}

// ownedPID reads a pidfile and returns the pid only if that process's
// command line still names dir (every daemon we start is given paths in
// it), so a recycled pid is never mistaken for ours.
func ownedPID(pidfile, dir string) int {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
		return 0
	}
	return pid
}
