package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/testbed"
)

// showLimits measures, for every port of the intent with an egress limit,
// what it sends to the internet server next to a port without one
// (iperf3, TCP, 3 s with the first second left out: the meter's burst).
// A limited port measured more than 25 % over its limit is a difference.
func showLimits(ctx context.Context, w io.Writer, in *intent.Intent, hosts map[string]*testbed.Host) (diffs []string, err error) {
	var limited []intent.Port
	unlimited := ""
	for _, p := range in.Ports {
		if _, ok := hosts[p.Name]; !ok {
			continue
		}
		switch {
		case p.QoS.EgressKbps > 0:
			limited = append(limited, p)
		case unlimited == "" && p.QoS.IngressKbps == 0:
			unlimited = p.Name
		}
	}
	if len(limited) == 0 {
		return nil, nil
	}
	fmt.Fprintf(w, "\nrate limits (qos, OpenFlow meters): iperf3 TCP to the internet server\n")
	server := hosts["uplink"]
	dir, err := os.MkdirTemp("", "flowgate-demo-iperf")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	pidfile := filepath.Join(dir, "iperf3.pid")
	if out, err := server.Exec(ctx, "iperf3", "-s", "-D", "-p", "5201", "-I", pidfile); err != nil {
		return nil, fmt.Errorf("iperf3 server: %v: %s", err, out)
	}
	defer func() {
		// The server is ours: stop it by the pid it wrote.
		if b, err := os.ReadFile(pidfile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
	}()
	measure := func(from string) (float64, error) {
		var out string
		var err error
		for range 10 { // the daemon may take a moment to listen
			out, err = hosts[from].Exec(ctx, "iperf3", "-c", internetServer.String(), "-p", "5201", "-t", "3", "-O", "1", "-J")
			if err == nil {
				break
			}
		}
		if err != nil {
			return 0, fmt.Errorf("iperf3 %s -> internet: %v: %s", from, err, out)
		}
		var r struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			return 0, fmt.Errorf("iperf3 output: %v", err)
		}
		return r.End.SumReceived.BitsPerSecond / 1e6, nil
	}
	for _, p := range limited {
		got, err := measure(p.Name)
		if err != nil {
			return diffs, err
		}
		limit := float64(p.QoS.EgressKbps) / 1000
		fmt.Fprintf(w, "  %-6s egress_kbps %d: %.1f Mbit/s\n", p.Name, p.QoS.EgressKbps, got)
		if got > limit*1.25 {
			diffs = append(diffs, fmt.Sprintf("%s sends %.1f Mbit/s, over its limit of %.1f", p.Name, got, limit))
		}
	}
	if unlimited != "" {
		got, err := measure(unlimited)
		if err != nil {
			return diffs, err
		}
		fmt.Fprintf(w, "  %-6s no limit: %.1f Mbit/s\n", unlimited, got)
	}
	return diffs, nil
}
