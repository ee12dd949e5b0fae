package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/labinstall"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/testbed"
)

// workedExample is the intent the inspection commands are tried on.
const workedExample = "../../examples/intent.yaml"

// inspectLab is the worked example's bridge with its compiled flows
// installed by `ovs-ofctl --bundle replace-flows` and no controller: the
// commands must work from the intent, OVSDB and the bridge alone.
type inspectLab struct {
	t   *testing.T
	bin string
	tb  *testbed.Testbed
}

func newInspectLab(t *testing.T) *inspectLab {
	testbed.RequireRoot(t)
	bin := buildFlowgate(t)
	in, err := intent.Load(workedExample)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tb := testbed.New(t, testbed.Options{})
	sw, err := tb.AddSwitch(ctx, in.Bridge, testbed.SwitchOpts{Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	b := pipeline.Bindings{}
	macs := [][6]byte{in.Port("web1").MAC, in.Port("web2").MAC, in.Port("db1").MAC, *in.Routers[0].External.GatewayMAC}
	for i, name := range []string{"web1", "web2", "db1", in.Routers[0].External.Port} {
		h, err := tb.AddHost(ctx, name, testbed.HostOpts{MAC: net.HardwareAddr(macs[i][:]), OFPort: uint32(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			t.Fatal(err)
		}
		b[name] = h.OFPort()
	}
	fs, err := pipeline.Compile(in, b)
	if err != nil {
		t.Fatal(err)
	}
	var meters []labinstall.Meter
	for _, m := range pipeline.PortMeters(in, b) {
		meters = append(meters, labinstall.Meter{ID: m.ID, Kbps: m.Kbps, BurstKb: m.BurstKb})
	}
	if err := labinstall.Apply(ctx, tb.OVS().Ofctl, in.Bridge, fs, meters, pipeline.ServiceGroups(in, b)); err != nil {
		t.Fatal(err)
	}
	return &inspectLab{t: t, bin: bin, tb: tb}
}

// run runs the binary with the lab's settings and returns its stdout,
// stderr and exit status.
func (l *inspectLab) run(args ...string) (stdout, stderr string, code int) {
	l.t.Helper()
	args = append(args, "--config", "/dev/null", "--ovsdb", l.tb.OVS().DBEndpoint())
	if !slices.Contains(args, "--intent") {
		args = append(args, "--intent", workedExample)
	}
	cmd := exec.Command(l.bin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		l.t.Fatalf("flowgate %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// flowgate trace: the verdicts of an allowed, a denied (from a port and
// from the outside) and an established connection, word for word.
func TestTraceCommandOnOVS(t *testing.T) {
	l := newInspectLab(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "web1", "--to", "10.0.0.21", "--proto", "tcp", "--dport", "3306"},
			"verdict: allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)\n"},
		{[]string{"--from", "web1", "--to", "10.0.0.21", "--proto", "tcp", "--dport", "22"},
			"verdict: dropped: no rule of db allows tcp/22 from 10.0.0.11\n"},
		{[]string{"--from", "uplink", "--src", "198.51.100.7", "--to", "10.0.0.21", "--dport", "22"},
			"verdict: dropped: no rule of db allows tcp/22 from 198.51.100.7\n"},
		{[]string{"--from", "db1", "--to", "10.0.0.11", "--sport", "3306", "--dport", "40000", "--state", "est"},
			"verdict: allowed as a reply of the connection tcp 10.0.0.11:40000 -> 10.0.0.21:3306, whose first packet is allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)\n"},
	} {
		out, errOut, code := l.run(append([]string{"trace"}, tc.args...)...)
		t.Logf("flowgate trace %s\n%s", strings.Join(tc.args, " "), out)
		if code != 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "  table 60  ingress_acl") {
			t.Errorf("trace %v: exit %d, stderr %q; output lacks %q", tc.args, code, errOut, tc.want)
		}
	}

	out, _, code := l.run("trace", "--from", "web1", "--to", "10.0.0.21", "--dport", "22", "--json")
	var res struct {
		Allowed bool
		Verdict string
		Steps   []struct{ Table int }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("trace --json: exit %d, %v\n%s", code, err, out)
	}
	if res.Allowed || res.Verdict != "dropped: no rule of db allows tcp/22 from 10.0.0.11" || len(res.Steps) == 0 {
		t.Errorf("trace --json: %+v", res)
	}

	if _, errOut, code := l.run("trace", "--from", "nobody", "--to", "10.0.0.21", "--dport", "22"); code != 1 || !strings.Contains(errOut, `"nobody" is neither a port of the intent nor a router's uplink`) {
		t.Errorf("trace from an unknown port: exit %d, stderr %q", code, errOut)
	}
}

// flowgate diff: exit 0 in sync, 1 with the missing flow named; flowgate
// flows --group db lists db's rules and nothing of web.
func TestDiffAndFlowsCommandsOnOVS(t *testing.T) {
	l := newInspectLab(t)
	out, errOut, code := l.run("diff")
	if code != 0 || !strings.HasPrefix(out, "in sync: ") || !strings.Contains(out, "\nintent source: file:/") {
		t.Errorf("diff of an in-sync bridge: exit %d, stderr %q\n%s", code, errOut, out)
	}

	out, _, code = l.run("flows", "--group", "db")
	t.Logf("flowgate flows --group db:\n%s", out)
	for _, want := range []string{"table 60 (ingress_acl)\n", "security_groups[db].rules[0] (ingress tcp/3306 from group web)  n_packets=0",
		"per-rule counters", "security_groups[db].rules[2] (ingress tcp/22 from 203.0.113.0/24)  flows="} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("flows --group db: exit %d, output lacks %q", code, want)
		}
	}
	if strings.Contains(out, "security_groups[web]") {
		t.Error("flows --group db shows web's flows")
	}
	// The example's service: its flows and counters by service and backend.
	out, _, code = l.run("flows", "--table", "service_backend")
	for _, want := range []string{"table 41 (service_backend)\n", "services[web] backend web2:8080 (weight 2)  n_packets=",
		"per-service counters", "services[web] (10.0.0.100:80/tcp, 2 backends)  packets=", "services[web] backend web1:8080 (weight 1)  packets="} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("flows --table service_backend: exit %d, output lacks %q\n%s", code, want, out)
		}
	}
	if _, errOut, code := l.run("flows", "--table", "nowhere"); code != 1 || !strings.Contains(errOut, `no table "nowhere"`) {
		t.Errorf("flows --table nowhere: exit %d, stderr %q", code, errOut)
	}

	if _, err := l.tb.OVS().Ofctl(context.Background(), "--strict", "del-flows", "br-int", "table=80,priority=100,reg1=0x3"); err != nil {
		t.Fatal(err)
	}
	out, _, code = l.run("diff")
	t.Logf("flowgate diff after a flow was deleted by hand:\n%s", out)
	if code != 1 || !strings.Contains(out, "+ cookie=0x20000144d2ef7, table=80, priority=100,reg1=0x3 actions=output:3\n    # ports[db1]\n") ||
		!strings.Contains(out, "differ: ") || !strings.Contains(out, "1 to add, 0 to modify, 0 to delete") {
		t.Errorf("diff with a missing flow: exit %d, want 1 and the flow of ports[db1]", code)
	}

	// A policy rule shadowed by an earlier one is a warning: the intent
	// is compiled (its live rule's flows are missing here) and the
	// warning printed.
	doc, err := os.ReadFile(workedExample)
	if err != nil {
		t.Fatal(err)
	}
	shadowed := filepath.Join(t.TempDir(), "intent.yaml")
	if err := os.WriteFile(shadowed, append(doc, []byte(`
policies:
  - name: meta
    priority: 0
    applies_to: {all: true}
    rules:
      - {action: deny, direction: egress, remote_cidr: 169.254.169.254}
      - {action: deny, direction: egress, protocol: tcp, ports: "80", remote_cidr: 169.254.169.254}
`)...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = l.run("diff", "--intent", shadowed)
	t.Logf("flowgate diff with a shadowed policy rule:\n%s", out)
	if code != 1 || !strings.Contains(out, "\nintent warning: policies[meta].rules[1]: never matches: rules[0] (deny) matches everything it does\n") ||
		!strings.Contains(out, "policies[meta].rules[0]") || strings.Contains(out, "# policies[meta].rules[1]") {
		t.Errorf("diff with a shadowed rule: exit %d, stderr %q; want 1, rules[0]'s flows to add and the warning", code, errOut)
	}

	// Without the bridge's management socket the error says where it looked.
	_, errOut, code = l.run("diff", "--bridge", "br-missing")
	if code != 1 || !strings.Contains(errOut, "bridge br-missing: no management socket") {
		t.Errorf("diff of a missing bridge: exit %d, stderr %q", code, errOut)
	}
}
