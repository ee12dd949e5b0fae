package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// iperfServer is an `iperf3 -s` process inside a host's namespace.
type iperfServer struct {
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

// startIperfServer starts iperf3 -s on port inside h and waits until it
// listens.
func startIperfServer(ctx context.Context, h *testbed.Host, port uint16) (*iperfServer, error) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		return nil, fmt.Errorf("iperf3 not installed (run 'make deps'): %w", err)
	}
	// ip netns exec execs iperf3 in place, so the pid is iperf3's.
	s := &iperfServer{done: make(chan struct{})}
	s.cmd = exec.Command("ip", "netns", "exec", h.Netns(), "iperf3", "-s", "-p", strconv.Itoa(int(port)))
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("host %s: iperf3 -s: %w", h.Name(), err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !listening(s.cmd.Process.Pid, port) {
		select {
		case <-s.done:
			return nil, fmt.Errorf("host %s: iperf3 -s exited: %s", h.Name(), strings.TrimSpace(s.out.String()))
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), s.stop())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("host %s: iperf3 -s not listening on %d after 5s", h.Name(), port), s.stop())
		}
	}
	return s, nil
}

// listening reports whether a TCP socket in pid's network namespace
// listens on port: /proc/PID/net shows the namespace of that process.
func listening(pid int, port uint16) bool {
	want := fmt.Sprintf(":%04X ", port)
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			// sl local_address rem_address st: state 0A is LISTEN.
			if len(fields) > 3 && strings.HasSuffix(fields[1]+" ", want) && fields[3] == "0A" {
				return true
			}
		}
	}
	return false
}

// stop ends the server (by its pid) and waits for it.
func (s *iperfServer) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return nil
	}
}

// iperfResult is what one iperf3 client run reports.
type iperfResult struct {
	BitsPerSecond float64 // received by the server
	Retransmits   int
}

// runIperf runs `iperf3 -c` from client to dst:port for d and returns
// the receiver's throughput.
func runIperf(ctx context.Context, client *testbed.Host, dst string, port uint16, d time.Duration) (iperfResult, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, "ip", "netns", "exec", client.Netns(),
		"iperf3", "-c", dst, "-p", strconv.Itoa(int(port)), "-t", strconv.Itoa(secs), "-J")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	res, err := parseIperf(stdout.Bytes())
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, msg)
		}
		if runErr != nil {
			err = fmt.Errorf("%w (%v)", err, runErr)
		}
		return iperfResult{}, fmt.Errorf("host %s: iperf3 -c %s -p %d: %w", client.Name(), dst, port, err)
	}
	return res, nil
}

// parseIperf reads the end summary of iperf3 -J output.
func parseIperf(data []byte) (iperfResult, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return iperfResult{}, fmt.Errorf("iperf3 -J output: %w", err)
	}
	if doc.Error != "" {
		return iperfResult{}, fmt.Errorf("iperf3: %s", doc.Error)
	}
	if doc.End.SumReceived.BitsPerSecond <= 0 {
		return iperfResult{}, errors.New("iperf3 reported no throughput")
	}
	return iperfResult{BitsPerSecond: doc.End.SumReceived.BitsPerSecond, Retransmits: doc.End.SumSent.Retransmits}, nil
}
