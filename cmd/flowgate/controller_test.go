package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// binIntent is the document the binary tests start from: db1 accepts
// 3306 from group web.
const binIntent = `bridge: br-int
networks:
  - {name: tenant, cidr: 10.0.0.0/24}
ports:
  - {name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11], security_groups: [web]}
  - {name: db1, network: tenant, mac: "02:00:0a:00:00:15", ips: [10.0.0.21], security_groups: [db]}
security_groups:
  - name: web
    rules:
      - {direction: egress, protocol: any}
  - name: db
    rules:
      - {direction: ingress, protocol: tcp, ports: "3306", remote_group: web}
      - {direction: egress, protocol: any}
`

// binController is a flowgate controller process on a testbed.
type binController struct {
	t      *testing.T
	bin    string
	tb     *testbed.Testbed
	web1   *testbed.Host
	db1    *testbed.Host
	intent string
	api    *http.Client
	cmd    *exec.Cmd
	out    *bytes.Buffer
}

// startBinController starts `flowgate controller` with the four flags
// that must keep working (--ovsdb --bridge --intent --listen). It runs in
// ovs-vswitchd's network namespace, because that is where the listener
// must be for the bridge's controller target tcp:127.0.0.1:6653 to reach it.
func startBinController(t *testing.T) *binController {
	testbed.RequireRoot(t)
	bin := buildFlowgate(t)
	tb := testbed.New(t, testbed.Options{})
	ctx := context.Background()
	sw, err := tb.AddSwitch(ctx, "br-int", testbed.SwitchOpts{Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	bc := &binController{t: t, bin: bin, tb: tb, out: &bytes.Buffer{}}
	for i, h := range []struct {
		name, mac, ip string
		host          **testbed.Host
	}{{"web1", "02:00:0a:00:00:0b", "10.0.0.11/24", &bc.web1}, {"db1", "02:00:0a:00:00:15", "10.0.0.21/24", &bc.db1}} {
		mac, _ := net.ParseMAC(h.mac)
		host, err := tb.AddHost(ctx, h.name, testbed.HostOpts{MAC: mac, IPv4: netip.MustParsePrefix(h.ip), OFPort: uint32(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, host, sw); err != nil {
			t.Fatal(err)
		}
		for _, port := range []uint16{3306, 5432} {
			if _, err := host.ServeTCP(port); err != nil {
				t.Fatal(err)
			}
		}
		*h.host = host
	}
	dir := t.TempDir()
	bc.intent = filepath.Join(dir, "intent.yaml")
	if err := os.WriteFile(bc.intent, []byte(binIntent), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "api.sock")
	bc.api = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	bc.cmd = exec.Command("ip", "netns", "exec", tb.OVS().Netns, bin, "controller",
		"--ovsdb", tb.OVS().DBEndpoint(), "--bridge", "br-int", "--intent", bc.intent,
		"--listen", "tcp:127.0.0.1:6653", "--api", "unix:"+sock, "--metrics", "",
		"--config", filepath.Join(dir, "flowgate.yaml"))
	// Settings also come from the environment and the config file.
	if err := os.WriteFile(filepath.Join(dir, "flowgate.yaml"), []byte("log_level: debug\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bc.cmd.Env = append(os.Environ(), "FLOWGATE_LOG_FORMAT=json")
	bc.cmd.Stdout, bc.cmd.Stderr = bc.out, bc.out
	if err := bc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if bc.cmd.ProcessState == nil {
			bc.cmd.Process.Signal(syscall.SIGTERM)
			bc.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("controller output:\n%s", bc.out)
		}
	})
	bc.waitStatus(func(s map[string]any) bool { return s["synced"] == true && s["connected"] == true })
	return bc
}

// status reads GET /v1/status.
func (bc *binController) status() (map[string]any, error) {
	resp, err := bc.api.Get("http://flowgate/v1/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s map[string]any
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func (bc *binController) waitStatus(ok func(map[string]any) bool) map[string]any {
	bc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		if s, err := bc.status(); err == nil {
			last = s
			if ok(s) {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	bc.t.Fatalf("controller status never got there; last %v", last)
	return nil
}

// lastApplyAfter waits for an apply or reload that happened after t0.
func (bc *binController) lastAfter(key string, t0 time.Time) map[string]any {
	bc.t.Helper()
	s := bc.waitStatus(func(s map[string]any) bool {
		m, _ := s[key].(map[string]any)
		if m == nil {
			return false
		}
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time"]))
		return err == nil && at.After(t0)
	})
	if err := bc.tb.OVS().SettleDatapath(context.Background()); err != nil {
		bc.t.Fatal(err)
	}
	return s[key].(map[string]any)
}

func (bc *binController) expectTCP(port uint16, want testbed.Outcome) {
	bc.t.Helper()
	res, err := testbed.TCPConnect(context.Background(), bc.web1, bc.db1.IP4(), port)
	if err != nil {
		bc.t.Fatal(err)
	}
	if res.Outcome != want {
		bc.t.Errorf("web1 -> db1:%d: %s (%s), want %s", port, res.Outcome, res.Detail, want)
	}
}

func (bc *binController) request(method, path, body string) (int, string) {
	bc.t.Helper()
	req, err := http.NewRequest(method, "http://flowgate"+path, strings.NewReader(body))
	if err != nil {
		bc.t.Fatal(err)
	}
	resp, err := bc.api.Do(req)
	if err != nil {
		bc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rulePackets reads flowgate_rule_packets_total of one rule from /metrics.
func (bc *binController) rulePackets(group string, rule int) float64 {
	bc.t.Helper()
	_, body := bc.request("GET", "/metrics", "")
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^flowgate_rule_packets_total\{[^}]*group="%s"[^}]*rule="%d"[^}]*\} (\S+)$`, group, rule))
	m := re.FindStringSubmatch(body)
	if m == nil {
		bc.t.Fatalf("/metrics has no flowgate_rule_packets_total for %s rule %d:\n%s", group, rule, grepLines(body, "flowgate_rule"))
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		bc.t.Fatal(err)
	}
	return v
}

func grepLines(text, sub string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}

// The daemon as an operator runs it: started with its four flags, fed a
// changed file, a broken file and API requests, read through /metrics,
// stopped with SIGTERM.
func TestControllerBinaryOnOVS(t *testing.T) {
	bc := startBinController(t)
	bc.expectTCP(3306, testbed.OK)
	bc.expectTCP(5432, testbed.TimedOut)

	// The file changes: 5432 opens.
	t0 := time.Now()
	withPG := strings.Replace(binIntent, `      - {direction: ingress, protocol: tcp, ports: "3306", remote_group: web}`,
		`      - {direction: ingress, protocol: tcp, ports: "3306", remote_group: web}
      - {direction: ingress, protocol: tcp, ports: "5432", remote_group: web}`, 1)
	writeAtomic(t, bc.intent, withPG)
	apply := bc.lastAfter("last_apply", t0)
	t.Logf("file change applied: %v", apply)
	if apply["trigger"] != "intent file" || apply["result"] != "applied" {
		t.Errorf("last apply %v, want applied from the intent file", apply)
	}
	bc.expectTCP(5432, testbed.OK)

	// A broken file is refused; traffic stays as it was.
	t0 = time.Now()
	writeAtomic(t, bc.intent, strings.Replace(withPG, `ports: "5432"`, `ports: "5432-80"`, 1))
	reload := bc.lastAfter("last_reload", t0)
	t.Logf("broken file: %v", reload)
	if !strings.Contains(fmt.Sprint(reload["problems"]), "security_groups[db].rules[1].ports") {
		t.Errorf("refused reload %v does not name security_groups[db].rules[1].ports", reload)
	}
	bc.expectTCP(5432, testbed.OK)
	bc.expectTCP(3306, testbed.OK)

	// Per-rule counters: traffic of rule db[1] (5432) shows in /metrics.
	before := bc.rulePackets("db", 1)
	for range 3 {
		bc.expectTCP(5432, testbed.OK)
	}
	// OVS credits datapath packets to OpenFlow flows when its revalidators
	// next run; wait for that, not for a fixed time.
	after := before
	for i := 0; i < 50 && after <= before; i++ {
		if err := bc.tb.OVS().SettleDatapath(context.Background()); err != nil {
			t.Fatal(err)
		}
		after = bc.rulePackets("db", 1)
	}
	t.Logf("flowgate_rule_packets_total{group=db,rule=1}: %v -> %v", before, after)
	if after <= before {
		t.Errorf("rule counter did not increase with traffic: %v -> %v", before, after)
	}

	// The API: a bad document is a 400 naming the problem, a dry run
	// changes nothing, a PUT applies and is saved to the file.
	code, body := bc.request("PUT", "/v1/intent", strings.Replace(binIntent, "remote_group: web", "remote_group: wbe", 1))
	if code != http.StatusBadRequest || !strings.Contains(body, `unknown group \"wbe\"`) {
		t.Errorf("PUT of a bad intent: %d %s; want 400 naming the unknown group", code, body)
	}
	code, body = bc.request("POST", "/v1/intent?dry_run=1", binIntent)
	t.Logf("dry run: %d %s", code, grepLines(body, "summary"))
	if code != http.StatusOK || !strings.Contains(body, `"delete"`) || !strings.Contains(body, "security_groups[db].rules[1]") {
		t.Errorf("dry run: %d %s; want the deletes of rule db[1]", code, body)
	}
	bc.expectTCP(5432, testbed.OK)
	code, body = bc.request("PUT", "/v1/intent", binIntent)
	if code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if err := bc.tb.OVS().SettleDatapath(context.Background()); err != nil {
		t.Fatal(err)
	}
	bc.expectTCP(5432, testbed.TimedOut)
	bc.expectTCP(3306, testbed.OK)
	if saved, _ := os.ReadFile(bc.intent); string(saved) != binIntent {
		t.Errorf("PUT did not save the intent to the file")
	}
	if code, body := bc.request("GET", "/v1/intent", ""); code != http.StatusOK || body != binIntent {
		t.Errorf("GET /v1/intent: %d, body differs from what was PUT", code)
	}

	// SIGTERM: a clean exit; the flows stay and the bridge stays secure.
	if err := bc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := bc.cmd.Wait(); err != nil {
		t.Errorf("controller exit after SIGTERM: %v", err)
	}
	mode, err := bc.tb.OVS().Vsctl(context.Background(), "get", "Bridge", "br-int", "fail_mode")
	if err != nil || strings.TrimSpace(mode) != "secure" {
		t.Errorf("fail_mode after exit: %q %v", mode, err)
	}
	bc.expectTCP(3306, testbed.OK)
	if !strings.Contains(bc.out.String(), `"log_level":"debug"`) {
		t.Errorf("log_level from the config file and log_format from FLOWGATE_LOG_FORMAT not in effect:\n%.2000s", bc.out)
	}
}

func writeAtomic(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}
