package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/testbed"
)

// floodFilteredMaxPorts is the largest network whose IPv4 broadcast, with
// every port's ingress rules allowing it, OVS still translates: each
// receiver costs 3 of the 4,096 resubmits a packet may use (ingress_acl,
// commit, output), each chunk 1, and the sender's way into the flood
// tree 3 more (goto pre_lb, l2_lookup, flood_filtered), so 1,357 ports
// (22 chunks) use exactly 4,096. The sender is one of them (OpenFlow
// skips its output), so the packet reaches 1,356 other ports; one port
// more and OVS drops it for every receiver. docs/pipeline.md quotes it.
const floodFilteredMaxPorts = 1357

// TestFlood5000DummyPortsOnOVS needs root and Open vSwitch: a private
// ovs-vswitchd with --enable-dummy and 5,000 type=dummy ports bound to one
// network. The compiled flows install through flowgate's own session;
// the dumped table re-installs with ovs-ofctl --bundle replace-flows (a
// flow listing all 5,000 ports would not: "input too big"); an ARP
// broadcast is output to every port but the sender's; and the per-packet
// limit of broadcasts through the receivers' ACLs is where the docs say.
func TestFlood5000DummyPortsOnOVS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 5,000 ports take about a minute to create and install")
	}
	const n, bridge = 5000, "br-flood"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	o := newDummyOVS(t)
	start := time.Now()
	if _, err := o.Vsctl(ctx, "add-br", bridge, "--", "set", "bridge", bridge,
		"datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13"); err != nil {
		t.Fatal(err)
	}
	addDummyPorts(ctx, t, o, bridge, n)
	t.Logf("%d dummy ports bound in %v", n, time.Since(start).Round(time.Millisecond))

	in, b := floodIntent(n, false)
	fs := mustCompile(t, in, b)
	s, err := openflow.NewSession(openflow.SessionConfig{Bridge: bridge, Dial: "unix:" + o.MgmtSocket(bridge), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() { stop(); <-done }()
	start = time.Now()
	if err := s.Apply(ctx, flows.Diff(fs, nil)); err != nil {
		t.Fatalf("install %d flows: %v", len(fs), err)
	}
	t.Logf("%d flows installed through flows.Session in %v", len(fs), time.Since(start).Round(time.Millisecond))

	dump := func() []string {
		t.Helper()
		out, err := o.Ofctl(ctx, "--no-stats", "dump-flows", bridge)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		slices.Sort(lines)
		return lines
	}
	before := dump()
	if len(before) != len(fs) {
		t.Fatalf("dump-flows lists %d flows, %d were installed", len(before), len(fs))
	}
	longest := 0
	for _, l := range before {
		longest = max(longest, len(l))
	}
	start = time.Now()
	if out, err := o.Run(ctx, "bash", "-c", "set -o pipefail; "+
		"ovs-ofctl -O OpenFlow13 --no-stats dump-flows "+bridge+" | ovs-ofctl -O OpenFlow13 --bundle replace-flows "+bridge+" -"); err != nil {
		t.Fatalf("dump-flows | replace-flows: %v\n%s", err, out)
	}
	t.Logf("dump-flows | --bundle replace-flows of %d flows (longest %d characters) in %v", len(before), longest, time.Since(start).Round(time.Millisecond))
	if after := dump(); !slices.Equal(before, after) {
		t.Errorf("the table changed in the round trip: %d flows before, %d after", len(before), len(after))
	}

	// ARP from p1 leaves through every other port, each once.
	arp := fmt.Sprintf("in_port=1,arp,dl_src=%s,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=%s,arp_tpa=%s,arp_sha=%s",
		flows.MAC(floodPortMAC(1)), floodPortIP(1), floodPortIP(2), flows.MAC(floodPortMAC(1)))
	outs, trace := traceOutputs(ctx, t, o, bridge, arp)
	if len(outs) != n-1 || len(slices.Compact(slices.Sorted(slices.Values(outs)))) != n-1 {
		t.Errorf("ARP broadcast from p1 is output %d times (%d ports), want once to each of %d ports\n%s",
			len(outs), len(slices.Compact(slices.Sorted(slices.Values(outs)))), n-1, tail(trace))
	}
	if p1 := dpPort(ctx, t, o, "p1"); slices.Contains(outs, p1) {
		t.Errorf("ARP broadcast from p1 is output to p1 (datapath port %s)", p1)
	}
	t.Logf("ARP broadcast from p1 on %d ports: output to %d ports", n, len(outs))

	// IPv4 broadcast through the receivers' ACLs: all of them up to
	// floodFilteredMaxPorts, none past it.
	udp := func(dst string) string {
		return fmt.Sprintf("in_port=1,udp,dl_src=%s,dl_dst=ff:ff:ff:ff:ff:ff,nw_src=%s,nw_dst=%s,udp_src=5000,udp_dst=5001",
			flows.MAC(floodPortMAC(1)), floodPortIP(1), dst)
	}
	installed := fs
	for _, ports := range []int{floodFilteredMaxPorts, floodFilteredMaxPorts + 1, n} {
		in, b := floodIntent(ports, false)
		fs := mustCompile(t, in, b)
		if err := s.Apply(ctx, flows.Diff(fs, installed)); err != nil {
			t.Fatal(err)
		}
		installed = fs
		outs, trace := traceOutputs(ctx, t, o, bridge, udp("10.1.255.255"))
		want := ports - 1
		if ports > floodFilteredMaxPorts {
			want = 0
		}
		if len(outs) != want {
			t.Errorf("IPv4 broadcast on %d bound ports: output to %d ports, want %d\n%s", ports, len(outs), want, tail(trace))
		}
		t.Logf("IPv4 broadcast through the ACLs on %d bound ports: output to %d ports %s", ports, len(outs), overLimit(trace))
	}
}

// newDummyOVS starts a private OVS; testbed runs ovs-vswitchd with
// --enable-dummy, so type=dummy interfaces (an ofport each, no device)
// can stand in for thousands of VM ports.
func newDummyOVS(t *testing.T) *testbed.OVS {
	t.Helper()
	return testbed.NewOVS(t)
}

// addDummyPorts adds p1..pn to bridge as type=dummy interfaces on
// OpenFlow ports 1..n, bound to intent ports p1..pn, in one OVSDB
// transaction (ovs-vsctl takes ~15 s of CPU for 5,000 of them), and
// waits until ovs-vswitchd has given each its ofport.
func addDummyPorts(ctx context.Context, t *testing.T, o *testbed.OVS, bridge string, n int) {
	t.Helper()
	ops := []any{"Open_vSwitch"}
	var ports []any
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("p%d", i)
		ops = append(ops,
			map[string]any{"op": "insert", "table": "Interface", "uuid-name": fmt.Sprintf("i%d", i),
				"row": map[string]any{"name": name, "type": "dummy", "ofport_request": i,
					"external_ids": []any{"map", [][]string{{"iface-id", name}}}}},
			map[string]any{"op": "insert", "table": "Port", "uuid-name": name,
				"row": map[string]any{"name": name, "interfaces": []string{"named-uuid", fmt.Sprintf("i%d", i)}}})
		ports = append(ports, []string{"named-uuid", name})
	}
	ops = append(ops, map[string]any{"op": "mutate", "table": "Bridge", "where": [][]string{{"name", "==", bridge}},
		"mutations": []any{[]any{"ports", "insert", []any{"set", ports}}}})
	c, err := net.Dial("unix", o.DBSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := json.NewEncoder(c).Encode(map[string]any{"method": "transact", "params": ops, "id": 1}); err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Result []struct {
			Error   string `json:"error"`
			Details string `json:"details"`
		} `json:"result"`
		Error any `json:"error"`
	}
	if err := json.NewDecoder(c).Decode(&reply); err != nil {
		t.Fatalf("add %d dummy ports: %v", n, err)
	}
	if reply.Error != nil {
		t.Fatalf("add %d dummy ports: %v", n, reply.Error)
	}
	for _, r := range reply.Result {
		if r.Error != "" {
			t.Fatalf("add %d dummy ports: %s: %s", n, r.Error, r.Details)
		}
	}
	for {
		out, err := o.Vsctl(ctx, "--bare", "--columns=ofport", "find", "Interface", "type=dummy")
		if err != nil {
			t.Fatal(err)
		}
		bound := 0
		for _, f := range strings.Fields(out) {
			if f != "-1" && f != "[]" {
				bound++
			}
		}
		if bound == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d dummy ports have an ofport: %v", bound, n, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// traceOutputs runs ofproto/trace on flow and returns the datapath ports
// of the final pass's output actions, and the trace.
func traceOutputs(ctx context.Context, t *testing.T, o *testbed.OVS, bridge, flow string) ([]string, string) {
	t.Helper()
	trace, err := o.Appctl(ctx, "ofproto/trace", bridge, flow)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(trace, "Datapath actions: ")
	if i < 0 {
		t.Fatalf("no datapath actions in the trace:\n%s", trace)
	}
	actions, _, _ := strings.Cut(trace[i+len("Datapath actions: "):], "\n")
	var outs []string
	for _, a := range splitTopLevel(actions) {
		if _, err := fmt.Sscanf(a, "%d", new(int)); err == nil && !strings.ContainsAny(a, "(=") {
			outs = append(outs, a)
		}
	}
	return outs, trace
}

// splitTopLevel splits datapath actions at the commas outside parentheses.
func splitTopLevel(s string) []string {
	var out []string
	depth, from := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[from:i])
				from = i + 1
			}
		}
	}
	return append(out, s[from:])
}

var overLimitRE = regexp.MustCompile(`over (max translation depth \d+|\d+ resubmit actions)|yielded over 64 kB of actions`)

// overLimit names the OVS translation limit a trace ran into, if any.
func overLimit(trace string) string {
	if m := overLimitRE.FindString(trace); m != "" {
		return "(ofproto/trace: " + m + ")"
	}
	return ""
}

// dpPort is the datapath port number of OVS port name.
func dpPort(ctx context.Context, t *testing.T, o *testbed.OVS, name string) string {
	t.Helper()
	out, err := o.Appctl(ctx, "dpif/show")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		// "    p1 1/3755: (dummy)"
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == name {
			if _, dp, ok := strings.Cut(strings.TrimSuffix(f[1], ":"), "/"); ok {
				return dp
			}
		}
	}
	t.Fatalf("%s is not in dpif/show", name)
	return ""
}

// tail is the end of a long trace, for failure messages.
func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}
