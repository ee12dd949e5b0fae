package demo

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

// The demo runs to completion with every check as the intent says, the
// traces name the rules, and nothing of its testbed is left afterwards.
func TestDemo(t *testing.T) {
	testbed.RequireRoot(t)
	var out bytes.Buffer
	err := Run(context.Background(), "../examples/intent.yaml", &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"verdict: allowed by security_groups[web].rules[3] (egress any to any) and security_groups[db].rules[0] (ingress tcp/3306 from group web)",
		"verdict: dropped: no rule of db allows tcp/22 from 10.0.0.11",
		"every check matches the intent.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	m := regexp.MustCompile(`testbed (fg[0-9a-f]+) removed`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("demo did not report its testbed removed")
	}
	netns, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(netns), m[1]) {
		t.Errorf("namespaces of testbed %s left behind:\n%s", m[1], netns)
	}
	if procs, _ := exec.Command("pgrep", "-f", m[1]).Output(); len(procs) > 0 {
		t.Errorf("processes of testbed %s left behind: %s", m[1], procs)
	}
}
