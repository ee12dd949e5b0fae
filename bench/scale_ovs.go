package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/inspect"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/intent/intentgen"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/testbed"
)

// SwitchResult is the scale scenario end to end: a private OVS with one
// dummy interface per port of the scenario, flowgate's controller (in this
// process) programming it, and changes made the way an operator makes
// them (the API, ovs-vsctl).
type SwitchResult struct {
	Params intentgen.Params
	Flows  int
	// StartToSynced is controller start until every flow is installed.
	StartToSynced time.Duration
	Changes       []SwitchChange
	// RSS of this process (the controller and the benchmark around it)
	// after the start and after Repeat more rule changes; and of
	// ovs-vswitchd with the flows installed.
	RSSStart, RSSAfter, VswitchdRSS uint64
	// The same once the Go runtime returned its free memory to the
	// system (debug.FreeOSMemory), as its scavenger does over minutes,
	// and the live heap then.
	RSSStartSettled, RSSAfterSettled, HeapAfter uint64
	Repeat                                      int
	// The same flow set installed into an empty bridge by flowgate's
	// bundle and by `ovs-ofctl --bundle replace-flows`.
	InstallFlowgate, InstallOfctl time.Duration
	InstallOfctlError             string // ovs-ofctl could not install the set
}

// SwitchChange is one change: the controller's apply (compile, diff and
// bundle) and what the client saw (for the API: parsing and validating the
// document too; for a port: from ovs-vsctl to the flows committed).
type SwitchChange struct {
	Name     string
	Apply    time.Duration
	EndToEnd time.Duration
	FlowMods uint64
}

// Switch runs the scale scenario on a private OVS. It needs root.
func Switch(ctx context.Context, p intentgen.Params, repeat int) (r SwitchResult, err error) {
	r.Params, r.Repeat = p, repeat
	tb, err := testbed.Start(ctx, testbed.Options{})
	if err != nil {
		return r, err
	}
	defer func() {
		if cerr := tb.Close(); err == nil {
			err = cerr
		}
	}()
	o := tb.OVS()
	dir, err := os.MkdirTemp("", "fgbench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)

	doc := intentgen.Document(p)
	doc.Datapath = o.Datapath
	data, err := yaml.Marshal(doc)
	if err != nil {
		return r, err
	}
	intentPath := filepath.Join(dir, "intent.yaml")
	if err := os.WriteFile(intentPath, data, 0o600); err != nil {
		return r, err
	}
	const bridge = "br-int"
	if _, err := o.Vsctl(ctx, "add-br", bridge, "--", "set", "bridge", bridge,
		"datapath_type="+o.Datapath, "fail_mode=secure", "protocols=OpenFlow10,OpenFlow13,OpenFlow15"); err != nil {
		return r, err
	}
	if err := addDummyPorts(ctx, o, bridge, 0, len(doc.Ports)); err != nil {
		return r, err
	}

	api := filepath.Join(dir, "api.sock")
	c, err := controller.New(controller.Config{
		OVSDB: o.DBEndpoint(), Bridge: bridge, IntentPath: intentPath,
		Connect: "unix:" + o.MgmtSocket(bridge), OVSRundir: o.Dir,
		API: "unix:" + api, Logger: benchLogger(),
	})
	if err != nil {
		return r, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Run(cctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer wcancel()
	if err := c.WaitSynced(wctx); err != nil {
		return r, err
	}
	r.StartToSynced = time.Since(start)
	r.Flows = c.Status().FlowsDesired
	r.RSSStart = rss("self")
	r.RSSStartSettled = settledRSS()
	r.VswitchdRSS = rss(strconv.Itoa(o.VswitchdPID()))

	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", api)
	}}}
	put := func(name string, d *intent.Document) error {
		body, err := yaml.Marshal(d)
		if err != nil {
			return err
		}
		t0 := time.Now()
		resp, err := client.Do(mustRequest(ctx, body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var res controller.ApplyResult
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &res); err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: PUT: %s: %s", name, resp.Status, raw)
		}
		apply, _ := time.ParseDuration(res.Duration)
		r.Changes = append(r.Changes, SwitchChange{Name: name, Apply: apply, EndToEnd: time.Since(t0), FlowMods: res.FlowMods})
		return nil
	}

	cur := doc
	withRule := cur.Clone()
	withRule.SecurityGroups[0].Rules = append(withRule.SecurityGroups[0].Rules, intent.RuleDoc{
		Direction: "ingress", Protocol: "tcp", Ports: "4", RemoteCIDR: "198.51.100.0/24"})
	if err := put("one rule added (API)", withRule); err != nil {
		return r, err
	}
	if err := put("one rule removed (API)", cur); err != nil {
		return r, err
	}
	in, err := cur.Validate()
	if err != nil {
		return r, err
	}
	target := remoteGroupTarget(in)
	joined := cur.Clone()
	for i := range joined.Ports {
		if !slices.Contains(joined.Ports[i].SecurityGroups, target) {
			joined.Ports[i].SecurityGroups = append(joined.Ports[i].SecurityGroups, target)
			break
		}
	}
	if err := put("one port joins a remote group (API)", joined); err != nil {
		return r, err
	}
	if err := put("the port leaves it again (API)", cur); err != nil {
		return r, err
	}

	// A port bound: one more intent port, then its interface appears.
	bound := cur.Clone()
	n := len(bound.Ports)
	bound.Ports = append(bound.Ports, intent.PortDoc{Name: intentgen.PortName(n), Network: intentgen.NetworkName,
		MAC: intentgen.PortMAC(n), IPs: []string{intentgen.PortIP(n)}, SecurityGroups: []string{intentgen.GroupName(1)}})
	if err := put("one port added to the intent, unbound (API)", bound); err != nil {
		return r, err
	}
	before := c.Status().LastApply
	t0 := time.Now()
	if err := addDummyPorts(ctx, o, bridge, n, n+1); err != nil {
		return r, err
	}
	last, err := waitApply(ctx, c, before)
	if err != nil {
		return r, err
	}
	apply, _ := time.ParseDuration(last.Duration)
	r.Changes = append(r.Changes, SwitchChange{Name: "that port bound (ovs-vsctl add-port)", Apply: apply,
		EndToEnd: last.Time.Add(apply).Sub(t0), FlowMods: last.FlowMods})

	// Memory over many changes: add and remove a rule, repeat times.
	for i := 0; i < repeat; i++ {
		d := bound
		if i%2 == 0 {
			d = bound.Clone()
			d.SecurityGroups[2].Rules = append(d.SecurityGroups[2].Rules, intent.RuleDoc{
				Direction: "egress", Protocol: "udp", Ports: strconv.Itoa(1000 + i), RemoteCIDR: "192.0.2.0/24"})
		}
		body, err := yaml.Marshal(d)
		if err != nil {
			return r, err
		}
		resp, err := client.Do(mustRequest(ctx, body))
		if err != nil {
			return r, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return r, fmt.Errorf("change %d: PUT: %s", i, resp.Status)
		}
	}
	r.RSSAfter = rss("self")
	r.RSSAfterSettled = settledRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.HeapAfter = ms.HeapAlloc

	// Install the same flows into an empty bridge, both ways.
	b, err := inspect.ReadBindings(ctx, o.DBEndpoint(), bridge)
	if err != nil {
		return r, err
	}
	desired, err := pipeline.Compile(in, b)
	if err != nil {
		return r, err
	}
	r.InstallFlowgate, r.InstallOfctl, err = installBoth(ctx, o, desired)
	if ofctlErr, ok := errors.AsType[*ofctlError](err); ok {
		r.InstallOfctlError, err = ofctlErr.Error(), nil
	}
	return r, err
}

// ofctlError is ovs-ofctl refusing to install what flowgate installed.
type ofctlError struct{ msg string }

func (e *ofctlError) Error() string { return e.msg }

// benchLogger discards the controller's log unless FLOWGATE_BENCH_LOG names
// a file to append it to.
func benchLogger() *slog.Logger {
	if path := os.Getenv("FLOWGATE_BENCH_LOG"); path != "" {
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
			return slog.New(slog.NewTextHandler(f, nil))
		}
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func mustRequest(ctx context.Context, body []byte) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://flowgate/v1/intent", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	return req
}

// waitApply waits for an apply after before.
func waitApply(ctx context.Context, c *controller.Controller, before *controller.ApplyResult) (*controller.ApplyResult, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if last := c.Status().LastApply; last != nil && (before == nil || last.Time.After(before.Time)) {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil, fmt.Errorf("no apply within 30 s")
}

// addDummyPorts adds dummy interfaces bound to the generated ports
// [from, to), in batches of one ovs-vsctl call.
func addDummyPorts(ctx context.Context, o *testbed.OVS, bridge string, from, to int) error {
	for lo := from; lo < to; lo += 250 {
		var args []string
		for i := lo; i < min(lo+250, to); i++ {
			name := fmt.Sprintf("dmy%d", i)
			args = append(args, "--", "add-port", bridge, name, "--", "set", "interface", name,
				"type=dummy", "external_ids:iface-id="+intentgen.PortName(i))
		}
		if out, err := o.Vsctl(ctx, args...); err != nil {
			return fmt.Errorf("add dummy ports: %v: %s", err, out)
		}
	}
	return nil
}

// installBoth installs fs into an empty secure bridge with flowgate's
// session (one bundle) and, after clearing it, with ovs-ofctl --bundle
// replace-flows of the same flows' text.
func installBoth(ctx context.Context, o *testbed.OVS, fs []flows.Flow) (ours, theirs time.Duration, err error) {
	const br = "br-install"
	if _, err := o.Vsctl(ctx, "add-br", br, "--", "set", "bridge", br,
		"datapath_type="+o.Datapath, "fail_mode=secure", "protocols=OpenFlow13,OpenFlow14"); err != nil {
		return 0, 0, err
	}
	s, err := openflow.NewSession(openflow.SessionConfig{Bridge: br, Dial: "unix:" + o.MgmtSocket(br)})
	if err != nil {
		return 0, 0, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(sctx); close(done) }()
	defer func() { cancel(); <-done }()
	var text strings.Builder
	for _, f := range fs {
		text.WriteString(f.String())
		text.WriteByte('\n')
	}
	path := filepath.Join(o.Dir, "install.flows")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := s.Apply(ctx, flows.ChangeSet{Add: fs}); err != nil {
		return 0, 0, err
	}
	ours = time.Since(start)
	if _, err := o.Ofctl(ctx, "del-flows", br); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	if out, err := o.Ofctl(ctx, "-O", "OpenFlow14", "--bundle", "replace-flows", br, path); err != nil {
		return ours, 0, &ofctlError{fmt.Sprintf("ovs-ofctl replace-flows: %v: %s", err, strings.TrimSpace(out))}
	}
	theirs = time.Since(start)
	return ours, theirs, nil
}

// settledRSS is this process's RSS after the runtime returned every free
// page to the system.
func settledRSS() uint64 {
	debug.FreeOSMemory()
	return rss("self")
}

// rss is VmRSS of /proc/<pid> in bytes (pid "self" for this process);
// this process's heap is collected first.
func rss(pid string) uint64 {
	if pid == "self" {
		runtime.GC()
	}
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Print writes the result as a table.
func (r SwitchResult) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	mb := func(b uint64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }
	fmt.Fprintf(tw, "scenario on OVS\t%d dummy ports, %d flows\n", r.Params.Ports, r.Flows)
	fmt.Fprintf(tw, "controller start -> synced\t%v\n", r.StartToSynced.Round(time.Millisecond))
	for _, c := range r.Changes {
		fmt.Fprintf(tw, "%s\tapply %v, end to end %v, %d flow-mods\n", c.Name,
			c.Apply.Round(100*time.Microsecond), c.EndToEnd.Round(100*time.Microsecond), c.FlowMods)
	}
	fmt.Fprintf(tw, "RSS, controller process\t%s after start, %s after %d more changes\n", mb(r.RSSStart), mb(r.RSSAfter), r.Repeat)
	fmt.Fprintf(tw, "  free memory returned\t%s after start, %s after the changes (live heap %s)\n", mb(r.RSSStartSettled), mb(r.RSSAfterSettled), mb(r.HeapAfter))
	fmt.Fprintf(tw, "RSS, ovs-vswitchd\t%s\n", mb(r.VswitchdRSS))
	if r.InstallOfctlError != "" {
		fmt.Fprintf(tw, "install %d flows into an empty bridge\tflowgate %v; %s\n", r.Flows, r.InstallFlowgate.Round(time.Millisecond), r.InstallOfctlError)
		tw.Flush()
		return
	}
	fmt.Fprintf(tw, "install %d flows into an empty bridge\tflowgate %v, ovs-ofctl --bundle replace-flows %v (flowgate/ofctl %.2f)\n",
		r.Flows, r.InstallFlowgate.Round(time.Millisecond), r.InstallOfctl.Round(time.Millisecond),
		float64(r.InstallFlowgate)/float64(max(r.InstallOfctl, 1)))
	tw.Flush()
}
