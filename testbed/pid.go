package testbed

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

// exited reports whether pid has ended. A detached daemon is reparented to
// pid 1, and until pid 1 reaps it the dead process lingers as a zombie
// that signal 0 still reaches; on some machines that takes seconds. A
// zombie has exited for every purpose here — once its other threads have
// too: a multithreaded process's leader shows as a zombie while the rest
// still exit and hold its files (ovs-vswitchd's pid file lock, which a
// new ovs-vswitchd then finds taken: "already running").
func exited(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) state ...": comm may hold spaces and parentheses, so the
	// state is the field after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	if state != 'Z' && state != 'X' {
		return false
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err != nil || len(tasks) <= 1
}
