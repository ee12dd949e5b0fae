package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flowgate/flowgate/store/storetest"
	"github.com/flowgate/flowgate/testbed"
)

// testbedState is what the state file holds: the testbed (namespaces and
// OVS daemons, flat at the top level as testbed.State has them) and what
// the CLI added around it for the nodes: a directory and an etcd.
type testbedState struct {
	testbed.State
	// Dir holds the etcd's data and logs and the controllers' API
	// sockets (<state file's directory>/<prefix>); down removes it.
	Dir  string     `json:"dir,omitempty"`
	Etcd *etcdState `json:"etcd,omitempty"`
}

// etcdState records the etcd that `testbed up` started for the nodes: a
// detached `flowgate testbed etcd` serving an embedded etcd on loopback.
type etcdState struct {
	PID int    `json:"pid"`
	URL string `json:"url"` // the store setting: etcd://127.0.0.1:PORT
	Dir string `json:"dir"` // its data (Dir/data) and logs
}

// etcdReadyTimeout bounds the wait for a new etcd to answer; it is ready
// in well under a second here.
const etcdReadyTimeout = 30 * time.Second

// etcdURLFile is written by the etcd process once it serves, with its URL.
const etcdURLFile = "url"

// etcdLogFile takes the etcd process's stdout and stderr; etcd's own log
// is etcd.log beside it.
const etcdLogFile = "flowgate-etcd.log"

// newTestbedEtcdCmd is the hidden subcommand that `testbed up` starts
// detached: an embedded etcd in the foreground until SIGTERM.
func newTestbedEtcdCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "etcd --dir DIR",
		Short:  "Serve an embedded etcd on loopback for the testbed's nodes (started by up, stopped by down)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			return serveEtcd(cmd.Context(), dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "data and log directory")
	return cmd
}

// serveEtcd runs an etcd with its data in dir until ctx ends (SIGTERM or
// SIGINT), and writes its URL to dir/url once it serves.
func serveEtcd(ctx context.Context, dir string) error {
	s, err := storetest.Run(dir)
	if err != nil {
		return err
	}
	defer s.Stop()
	tmp := filepath.Join(dir, etcdURLFile+".tmp")
	if err := os.WriteFile(tmp, []byte(s.URL()+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, etcdURLFile)); err != nil {
		return err
	}
	fmt.Printf("etcd serving at %s, data in %s\n", s.URL(), dir)
	<-ctx.Done()
	fmt.Println("etcd stopping")
	return nil
}

// startEtcd starts `flowgate testbed etcd --dir dir` in a session of its
// own (so that it outlives this command and a Ctrl-C in the terminal does
// not reach it) and waits until it answers a linearizable read. On any
// failure it stops what it started and removes dir.
func startEtcd(ctx context.Context, dir string) (*etcdState, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	logPath := filepath.Join(dir, etcdLogFile)
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start etcd: %w", err), os.RemoveAll(dir))
	}
	c := exec.Command(exe, "testbed", "etcd", "--dir", dir)
	c.Stdout, c.Stderr = log, log
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = c.Start()
	log.Close()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start etcd: %w", err), os.RemoveAll(dir))
	}
	e := &etcdState{PID: c.Process.Pid, Dir: dir}
	// Reap it should it exit early, and know that it did.
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	if err := waitEtcd(ctx, e, done); err != nil {
		logged, _ := os.ReadFile(logPath)
		err = fmt.Errorf("start etcd (pid %d, %s): %w\n%s", e.PID, dir, err, bytes.TrimSpace(logged))
		return nil, errors.Join(err, stopEtcd(e))
	}
	return e, nil
}

// waitEtcd waits for the URL file and then for an answer from that URL.
func waitEtcd(ctx context.Context, e *etcdState, done <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, etcdReadyTimeout)
	defer cancel()
	var last error
	for {
		if e.URL == "" {
			if b, err := os.ReadFile(filepath.Join(e.Dir, etcdURLFile)); err == nil {
				e.URL = strings.TrimSpace(string(b))
			}
		}
		if e.URL != "" {
			if last = etcdAnswers(ctx, e.URL); last == nil {
				return nil
			}
		}
		select {
		case err := <-done:
			return fmt.Errorf("exited before it served: %v", err)
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			}
			return fmt.Errorf("no URL after %s: %w", etcdReadyTimeout, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// etcdAnswers makes one linearizable read (which needs a leader) at url.
func etcdAnswers(ctx context.Context, url string) error {
	endpoint := "http://" + strings.TrimPrefix(url, "etcd://")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "/flowgate/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	return err
}

// etcdRunning reports whether e's process still runs and is the etcd we
// started: its command line is ours, with its directory. A pid reused
// by another process after the etcd died is not signalled.
func etcdRunning(e *etcdState) bool {
	if e.PID <= 0 || testbed.Exited(e.PID) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", e.PID))
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte("\x00testbed\x00etcd\x00--dir\x00"+e.Dir+"\x00"))
}

// stopEtcd stops e's process by its pid (SIGTERM, SIGKILL after a grace
// period), only if it is still the etcd we started, and removes its
// directory. Safe to call again.
func stopEtcd(e *etcdState) error {
	var errs []error
	if etcdRunning(e) {
		if err := testbed.StopPID(e.PID); err != nil {
			errs = append(errs, fmt.Errorf("stop etcd: %w", err))
		}
	}
	if len(errs) == 0 && e.Dir != "" {
		if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove etcd data: %w", err))
		}
	}
	return errors.Join(errs...)
}

// controllerCommand is the command line of a controller for node n of the
// testbed: its OVS, its br-int's management socket, the testbed's etcd, the
// node's name and underlay address, an API socket of its own, and no
// separate metrics listener (the default port would collide; /metrics is
// served on the API).
func controllerCommand(exe string, s testbedState, n testbed.NodeState) string {
	ovs := testbed.AttachOVS(n.OVSDir, testbed.DatapathNetdev, n.Netns)
	return strings.Join([]string{exe, "controller",
		"--ovsdb", ovs.DBEndpoint(),
		"--bridge", testbed.IntegrationBridge,
		"--connect", "unix:" + ovs.MgmtSocket(testbed.IntegrationBridge),
		"--store", s.Etcd.URL,
		"--host", n.Name,
		"--tunnel-ip", n.Underlay.Addr().String(),
		"--api", "unix:" + filepath.Join(s.Dir, n.Name+"-api.sock"),
		"--metrics=",
	}, " ")
}
