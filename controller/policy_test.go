package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/testbed"
)

// TestPolicyRejectAnswersAtOnceOnOVS: an admin policy's reject refuses a new
// connection with a TCP RST (ICMP port unreachable for UDP) that the
// controller sends back through a packet-out, so the client fails at once
// instead of waiting for a timeout; a connection the policy does not
// match is not touched.
func TestPolicyRejectAnswersAtOnceOnOVS(t *testing.T) {
	l := newLab(t)
	doc := readTestdata(t, "worked.yaml") + `
policies:
  - name: db-reject
    priority: 1
    applies_to: {ports: [db1]}
    rules:
      - {action: reject, direction: ingress, protocol: tcp, ports: "3306", remote_cidr: 10.0.0.11}
      - {action: reject, direction: ingress, protocol: tcp, ports: "3306", remote_cidr: "fd00:10::11"}
      - {action: reject, direction: ingress, protocol: udp, ports: "53", remote_cidr: 10.0.0.11}
`
	l.changeIntent(doc)
	l.expectTCP("web2", "db1", false, 3306, testbed.OK) // the ARP caches are warm after this
	l.expectTCP("web1", "db1", true, 3306, testbed.Refused)
	for _, v6 := range []bool{false, true} {
		start := time.Now()
		res, err := testbed.TCPConnect(context.Background(), l.hosts["web1"], l.addr("db1", v6), 3306)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("web1 -> db1:3306 (v6 %v): %s (%s) in %v", v6, res.Outcome, res.Detail, took)
		if res.Outcome != testbed.Refused || took >= 100*time.Millisecond {
			t.Errorf("web1 -> db1:3306 (v6 %v): %s (%s) after %v; want refused in under 100 ms", v6, res.Outcome, res.Detail, took)
		}
	}
	// Group db does not allow udp/53: without the reject's answer the
	// probe would time out.
	start := time.Now()
	res, err := testbed.UDPExchange(context.Background(), l.hosts["web1"], l.addr("db1", false), 53)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("web1 -> db1 udp/53: %s (%s) in %v", res.Outcome, res.Detail, time.Since(start))
	if res.Outcome != testbed.Refused {
		t.Errorf("web1 -> db1 udp/53: %s (%s); want refused (ICMP port unreachable)", res.Outcome, res.Detail)
	}
}

// TestPolicyShadowedRuleIsAWarningOnOVS: a policy rule that an earlier
// rule of its policy covers is accepted with a warning; it never matches
// (the deny before it decides), the controller logs the warning once per
// document, /v1/status lists it, a PUT returns it, and a document
// without it clears the list.
func TestPolicyShadowedRuleIsAWarningOnOVS(t *testing.T) {
	l := newLab(t)
	worked := readTestdata(t, "worked.yaml")
	const warning = "policies[db-guard].rules[1]: never matches: rules[0] (deny) matches everything it does"
	doc := worked + `
policies:
  - name: db-guard
    priority: 1
    applies_to: {ports: [db1]}
    rules:
      - {action: deny, direction: ingress, protocol: tcp, ports: "3306", remote_cidr: 10.0.0.0/24}
      - {action: allow, direction: ingress, protocol: tcp, ports: "3306", remote_cidr: 10.0.0.11}
`
	st, _ := l.changeIntent(doc)
	if st.LastApply == nil || st.LastApply.Result != "applied" || !slices.Equal(st.IntentWarnings, []string{warning}) ||
		st.LastReload == nil || !slices.Equal(st.LastReload.Warnings, []string{warning}) {
		t.Fatalf("status after a document with a shadowed rule: apply %+v, intent_warnings %q, last_reload %+v", st.LastApply, st.IntentWarnings, st.LastReload)
	}
	l.expectTCP("web1", "db1", false, 3306, testbed.TimedOut) // the shadowed allow never matches
	if n := countLines(t, l.log, `level=WARN msg="intent warning"`); n != 1 || countLines(t, l.log, `problem="`+warning+`"`) != 1 {
		t.Errorf("%d intent warning lines in the log, want 1 naming %q", n, warning)
	}

	code, body := l.api("PUT", "/v1/intent", doc)
	t.Logf("PUT of the document with a shadowed rule: %d %s", code, body)
	var res controller.ApplyResult
	if err := json.Unmarshal([]byte(body), &res); err != nil || code != http.StatusOK || !slices.Equal(res.Warnings, []string{warning}) {
		t.Errorf("PUT: %d %s (%v); want 200 with the warning", code, body, err)
	}
	code, body = l.api("GET", "/v1/status", "")
	if code != http.StatusOK || !strings.Contains(body, `"intent_warnings": [`) || !strings.Contains(body, warning) {
		t.Errorf("GET /v1/status: %d %s; want intent_warnings", code, body)
	}

	st, _ = l.changeIntent(worked)
	if len(st.IntentWarnings) != 0 || st.LastApply == nil || len(st.LastApply.Warnings) != 0 {
		t.Errorf("warnings after a document without any: %q, last apply %+v", st.IntentWarnings, st.LastApply)
	}
	if n := countLines(t, l.log, `level=WARN msg="intent warning"`); n != 2 { // once at the change, once for the PUT
		t.Errorf("%d intent warning lines in the log, want 2", n)
	}
}

// TestPolicyLogIsRateLimitedOnOVS: 1,000 new connections in about a second
// hitting a deny rule with log: true give at most the packet-in rate
// (default 100 per second, burst 100) of log lines; the controller
// meter's drop counter accounts for the rest, and an allowed connection
// on the same bridge still works meanwhile.
func TestPolicyLogIsRateLimitedOnOVS(t *testing.T) {
	l := newLab(t)
	l.changeIntent(readTestdata(t, "worked.yaml") + `
policies:
  - name: no-udp
    priority: 1
    applies_to: {ports: [db1]}
    rules:
      - {action: deny, direction: ingress, protocol: udp, remote_cidr: 10.0.0.11, log: true}
`)
	const n = 1000
	ctx := context.Background()
	start := time.Now()
	flood := fmt.Sprintf(`
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.time()
for i in range(%d):
    s.sendto(b"x", ("10.0.0.21", 20000 + i))
    time.sleep(max(0, t0 + (i + 1) / %d.0 - time.time()))
`, n, n)
	before := l.throughput("web2", "10.0.0.21", 3306)
	start = time.Now()
	done := make(chan error, 1)
	go func() { _, err := l.hosts["web1"].Exec(ctx, "python3", "-c", flood); done <- err }()
	time.Sleep(200 * time.Millisecond)
	during := l.throughput("web2", "10.0.0.21", 3306)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("allowed stream web2 -> db1:3306: %.1f MB/s before the flood, %.1f MB/s during it", before, during)
	time.Sleep(200 * time.Millisecond) // the last packet-ins reach the log
	out, err := l.tb.OVS().Ofctl(ctx, "meter-stats", labBridge)
	if err != nil {
		t.Fatal(err)
	}
	dropped := meterDropped(t, out)
	logged := countLines(t, l.log, "msg=policy policy=no-udp")
	t.Logf("%d new connections in %v: %d logged, %d dropped by the controller meter (%d unaccounted)\n%s",
		n, took.Round(time.Millisecond), logged, dropped, n-logged-dropped, out)
	limit := int(100*took.Seconds()) + 100 // rate × time + burst
	if logged > limit {
		t.Errorf("%d log lines in %v, over the meter's %d", logged, took, limit)
	}
	if logged == 0 || logged+dropped < n*95/100 {
		t.Errorf("logged %d + metered %d do not account for the %d connections", logged, dropped, n)
	}
}

// meterDropped reads the controller meter's band drops from ovs-ofctl
// meter-stats output ("meter:controller ... bands:\n0: packet_count:N ...").
func meterDropped(t *testing.T, out string) int {
	t.Helper()
	_, rest, ok := strings.Cut(out, "meter:controller")
	if !ok {
		t.Fatalf("no controller meter in:\n%s", out)
	}
	_, band, ok := strings.Cut(rest, "0: packet_count:")
	if !ok {
		t.Fatalf("no band in:\n%s", out)
	}
	v, _, _ := strings.Cut(band, " ")
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("meter stats %q: %v", band, err)
	}
	return n
}

func countLines(t *testing.T, path, substr string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), substr)
}

// throughput streams 8 MB of lines through the echo server at dst:port
// from a host and returns the MB/s it measured (both directions count).
func (l *lab) throughput(from, dst string, port uint16) float64 {
	l.t.Helper()
	script := fmt.Sprintf(`
import socket, threading, time
s = socket.create_connection(("%s", %d))
line = b"x" * 999 + b"\n"
n = 8000
def send():
    for _ in range(n):
        s.sendall(line)
t0 = time.time()
threading.Thread(target=send).start()
got, f = 0, s.makefile("rb")
while got < n:
    f.readline()
    got += 1
print(2 * n * len(line) / (time.time() - t0) / 1e6)
`, dst, port)
	out, err := l.hosts[from].Exec(context.Background(), "python3", "-c", script)
	if err != nil {
		l.t.Fatalf("throughput %s -> %s:%d: %v\n%s", from, dst, port, err, out)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil {
		l.t.Fatalf("throughput %s -> %s:%d: %q: %v", from, dst, port, out, err)
	}
	return v
}
