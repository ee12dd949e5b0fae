package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// run runs a command and returns its trimmed stdout. The error names the
// command line and carries stderr, which is where ip/ovs-vsctl say why.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// runIn runs a command inside the named network namespace.
func runIn(ctx context.Context, netns string, argv ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", netns}, argv...)...)
}

// ipBatch runs several ip(8) commands in one process inside netns: host
// setup would otherwise fork once per address and route.
func ipBatch(ctx context.Context, netns string, lines []string) error {
	cmd := exec.CommandContext(ctx, "ip", "-n", netns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch [%s]: %w: %s", netns, strings.Join(lines, "; "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
