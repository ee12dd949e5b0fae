package testbed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// teardown removes everything a testbed made. It works from the state
// alone (plus the OVS handles of the testbed and its nodes) so that
// `flowgate testbed down` in another process does exactly what Close does
// in a test.
func teardown(s State, o *OVS, nodes []*OVS) error {
	// The daemons first, so that none holds ports while namespaces go
	// away; the nodes' at once, since each takes a moment to exit.
	errs := make([]error, len(nodes)+1)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			if err := n.Stop(); err != nil {
				errs[i] = fmt.Errorf("stop OVS in %s: %w", n.Netns, err)
			}
		})
	}
	if o != nil {
		if err := o.Stop(); err != nil {
			errs[len(nodes)] = fmt.Errorf("stop private OVS: %w", err)
		}
	}
	wg.Wait()
	if !validPrefix.MatchString(s.Prefix) {
		return errors.Join(append(errs, fmt.Errorf("teardown: prefix %q is not a testbed prefix", s.Prefix))...)
	}
	// Every namespace carries the prefix, including one that was created
	// but not yet recorded when a setup step failed.
	names, err := filepath.Glob(filepath.Join(netnsDir, s.Prefix+"-*"))
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("teardown %s: %w", s.Prefix, err))...)
	}
	// Bounded so that a wedged ip(8) cannot hang a test run.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, path := range names {
		errs = append(errs, deleteNetns(ctx, filepath.Base(path)))
	}
	return errors.Join(errs...)
}

// deleteNetns stops whatever still runs in the namespace (a server a person
// started with `flowgate testbed exec`, an orphaned probe) and deletes it.
// Deleting a namespace destroys its interfaces, and a veth end going away
// takes its peer with it.
func deleteNetns(ctx context.Context, name string) error {
	out, err := run(ctx, "ip", "netns", "pids", name)
	if err != nil {
		return fmt.Errorf("list processes in namespace %s: %w", name, err)
	}
	var errs []error
	for _, field := range strings.Fields(out) {
		pid, err := strconv.Atoi(field)
		if err != nil {
			continue
		}
		if err := stopPID(pid, syscall.SIGTERM); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", name, err))
		}
	}
	if _, err := run(ctx, "ip", "netns", "del", name); err != nil {
		errs = append(errs, fmt.Errorf("delete namespace %s: %w", name, err))
	}
	return errors.Join(errs...)
}
