package testbed

import (
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"
)

// InNetns runs fn on an OS thread that has entered the named network
// namespace, and returns the thread to the caller's namespace afterwards.
// Sockets created by fn stay in that namespace for their whole life, which
// is how a test serves or dials inside a host without spawning a process.
func InNetns(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: never give it back to
		// the Go scheduler (a locked thread that exits is discarded).
		runtime.Goexit()
	}
	return fnErr
}

// Listen opens a listener inside the namespace ovs-vswitchd runs in, so a
// bridge whose controller target is tcp:127.0.0.1:N reaches it.
func (o *OVS) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := InNetns(o.Netns, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in netns %s: %w", addr, o.Netns, err)
	}
	return ln, nil
}
