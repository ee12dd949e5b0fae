package main

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// flowgate trace, diff and flows against a bridge the controller keeps:
// verdicts name the rule, diff tells in-sync from not (exit status), flows
// filter by group.
func TestInspectionCommands(t *testing.T) {
	bc := startBinController(t)
	run := func(args ...string) (string, int) {
		t.Helper()
		args = append(args, "--config", "/dev/null", "--ovsdb", bc.tb.OVS().DBEndpoint(), "--intent", bc.intent)
		out, err := exec.Command(bc.bin, args...).CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &exit):
			return string(out), exit.ExitCode()
		}
		t.Fatalf("flowgate %v: %v\n%s", args, err, out)
		return "", 0
	}
	for _, tc := range []struct {
		port uint16
		want string
	}{
		{3306, "verdict: allowed by security_groups[web].rules[0] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)"},
		{22, "verdict: dropped: no rule of db allows tcp/22 from 10.0.0.11"},
	} {
		out, code := run("trace", "--from", "web1", "--to", "10.0.0.21", "--proto", "tcp", "--dport", strconv.Itoa(int(tc.port)))
		t.Logf("trace web1 -> db1:%d:\n%s", tc.port, out)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("trace to %d: exit %d, output lacks %q", tc.port, code, tc.want)
		}
	}

	out, code := run("diff")
	if code != 0 || !strings.Contains(out, "0 to add, 0 to modify, 0 to delete") {
		t.Errorf("diff of an in-sync bridge: exit %d\n%s", code, out)
	}
	out, code = run("flows", "--group", "db", "--table", "ingress_acl")
	if code != 0 || !strings.Contains(out, "security_groups[db].rules[0] (ingress tcp/3306 from group web)") || strings.Contains(out, "security_groups[web]") {
		t.Errorf("flows --group db: exit %d\n%s", code, out)
	}

	// Take the controller away, remove a flow by hand: diff sees it.
	bc.cmd.Process.Kill()
	bc.cmd.Wait()
	if _, err := bc.tb.OVS().Ofctl(context.Background(), "del-flows", "br-int", "table=80,reg1=0x2"); err != nil {
		t.Fatal(err)
	}
	out, code = run("diff")
	t.Logf("diff after a flow was deleted by hand:\n%s", out)
	if code != 1 || !strings.Contains(out, "1 to add") || !strings.Contains(out, "# ports[db1]") {
		t.Errorf("diff with a missing flow: exit %d, want 1 and the flow of ports[db1]\n%s", code, out)
	}
}
