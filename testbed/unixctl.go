package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// unixctl runs one ovs-appctl command against this instance's
// ovs-vswitchd by speaking its control protocol directly: a JSON-RPC
// request over the unix socket <dir>/ovs-vswitchd.<pid>.ctl, all
// parameters strings, answered by {"result": text} or {"error": text}.
// It is Appctl without a process per call; AddNode makes two calls per
// pair of nodes, and as ovs-appctl processes those cost 30 ms each on a
// busy two-core machine (over a second for the twentieth node).
func (o *OVS) unixctl(ctx context.Context, method string, params ...string) (string, error) {
	target := filepath.Join(o.Dir, fmt.Sprintf("ovs-vswitchd.%d.ctl", o.vswitchdPID))
	call := method + " " + strings.Join(params, " ")
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", target)
	if err != nil {
		return "", fmt.Errorf("ovs-vswitchd %s: %w", call, err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	if params == nil {
		params = []string{} // "params" must be an array, never null
	}
	req := struct {
		Method string   `json:"method"`
		Params []string `json:"params"`
		ID     int      `json:"id"`
	}{method, params, 0}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return "", fmt.Errorf("ovs-vswitchd %s: %w", call, err)
	}
	var resp struct {
		Result *string `json:"result"`
		Error  any     `json:"error"`
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return "", fmt.Errorf("ovs-vswitchd %s: %w", call, err)
	}
	if resp.Error != nil {
		return "", fmt.Errorf("ovs-vswitchd %s: %s", call, strings.TrimSpace(fmt.Sprint(resp.Error)))
	}
	if resp.Result == nil {
		return "", fmt.Errorf("ovs-vswitchd %s: a reply with neither result nor error", call)
	}
	return strings.TrimSpace(*resp.Result), nil
}
