package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/testbed"
)

// api is an HTTP client of the lab controller's API socket.
func (l *lab) api(method, path, body string) (int, string) {
	l.t.Helper()
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", l.apiSocket())
		}}}
	req, err := http.NewRequest(method, "http://flowgate"+path, strings.NewReader(body))
	if err != nil {
		l.t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// installedFlows counts the bridge's flows as ovs-ofctl sees them.
func (l *lab) installedFlows() int {
	l.t.Helper()
	out, err := l.tb.OVS().Ofctl(context.Background(), "-O", "OpenFlow13", "dump-flows", labBridge, "--no-stats")
	if err != nil {
		return -1
	}
	fs, _, err := flows.ParseDump(out)
	if err != nil {
		l.t.Fatal(err)
	}
	return len(fs)
}

func (l *lab) vsctl(args ...string) string {
	l.t.Helper()
	out, err := l.tb.OVS().Vsctl(context.Background(), args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// withoutDB3306 revokes group web's access to db on 3306.
func withoutDB3306(t *testing.T, doc string) string {
	t.Helper()
	rule := "remote_group: web, ethertype: ipv4}"
	i := strings.Index(doc, rule)
	if i < 0 {
		t.Fatal("testdata/worked.yaml changed: db's 3306 rule from web not found")
	}
	start := strings.LastIndex(doc[:i], "\n") + 1
	end := i + len(rule) + 1
	return doc[:start] + doc[end:]
}

// Attacks 1-3 of issue 10 with a listening controller, each by a process
// running as nobody in ovs-vswitchd's network namespace: fake switches
// (one announcing the real datapath id) and idle strangers on the
// listener get nothing and never count as connected, flows come back
// within 1 s of a vswitchd restart while they wait, and while flowgate is
// stopped a fake controller on the listen address is never connected.
func TestListenerAcceptsOnlyTheSwitchOnOVS(t *testing.T) {
	l := newLabWith(t, labOpts{listen: true})
	ctx := context.Background()
	netns := l.tb.OVS().Netns
	desired := l.ctrl.Status().FlowsDesired
	dpid, err := strconv.ParseUint(strings.Trim(l.vsctl("get", "Bridge", labBridge, "datapath_id"), `"`), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	l.expectTCP("web1", "db1", false, 3306, testbed.OK)
	l.expectTCP("admin", "db1", false, 3306, testbed.TimedOut)

	fake := startAttacker(t, netns, "switch", l.listen, dpid)
	var idle []*attacker
	for range 3 {
		idle = append(idle, startAttacker(t, netns, "idle", l.listen, 0))
	}
	waitFor(t, "the fake switch to connect", func() bool { return strings.Contains(fake.output(), "connected") })

	// ovs-vswitchd restarts while they keep connecting.
	o := l.tb.OVS()
	if err := o.KillVswitchd(); err != nil {
		t.Fatal(err)
	}
	if err := o.StartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	n := 0
	for time.Since(restarted) < 10*time.Second {
		if n = l.installedFlows(); n >= desired {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(restarted)
	fmt.Printf("listener with a fake switch and three idle strangers (nobody): %d of %d flows back %v after ovs-vswitchd restarted\n", n, desired, took)
	if n != desired || took > time.Second {
		t.Errorf("%d of %d flows back after %v; want all within 1 s", n, desired, took)
	}
	if err := l.ctrl.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	l.expectTCP("admin", "db1", false, 3306, testbed.TimedOut)

	// A change through the API reaches the real bridge, not the fake.
	code, body := l.api("PUT", "/v1/intent", withoutDB3306(t, readTestdata(t, "worked.yaml")))
	if code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if err := o.SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	l.expectTCP("web1", "db1", false, 3306, testbed.TimedOut)
	st := l.ctrl.Status()
	if !st.Connected || !st.Synced {
		t.Errorf("status connected %v synced %v after the PUT", st.Connected, st.Synced)
	}
	if strings.Contains(fake.output(), "message") {
		t.Errorf("the fake switch was sent OpenFlow messages:\n%s", fake.output())
	}
	logText, _ := os.ReadFile(l.log)
	connects := strings.Count(string(logText), "openflow br-int: connected")
	refused := strings.Count(string(logText), "refused peer")
	t.Logf("controller log: %d connects, %d refused peers; the fake switch connected %d times", connects, refused, strings.Count(fake.output(), "connected"))
	if connects != 2 {
		t.Errorf("%d connects logged, want 2 (ovs-vswitchd before and after its restart)", connects)
	}
	if refused == 0 || !strings.Contains(string(logText), "is not ovs-vswitchd's") {
		t.Error("no refused peer logged")
	}

	// flowgate stops: the flows stay, the target is parked where nobody
	// can serve it, and a fake controller on the listen address gets no
	// connection.
	fake.stop()
	for _, a := range idle {
		a.stop()
	}
	stopped := l.ctrl.Status().FlowsDesired
	l.halt()
	parked := l.vsctl("get-controller", labBridge)
	if parked != "unix:"+filepath.Join(o.Dir, labBridge+".flowgate-stopped") {
		t.Errorf("controller target after stop: %q", parked)
	}
	fakeCtrl := startAttacker(t, netns, "listen", l.listen, 0)
	waitFor(t, "the fake controller to listen", func() bool { return strings.Contains(fakeCtrl.output(), "listening") })
	time.Sleep(2 * time.Second) // ovs-vswitchd retries its target within a second
	if strings.Contains(fakeCtrl.output(), "accepted") {
		t.Errorf("ovs-vswitchd connected to the fake controller while flowgate was stopped")
	}
	if got := l.installedFlows(); got != stopped {
		t.Errorf("%d flows while flowgate is stopped, want the %d it left", got, stopped)
	}
	if mode := l.vsctl("get", "Bridge", labBridge, "fail_mode"); mode != "secure" {
		t.Errorf("fail_mode %q while stopped", mode)
	}
	l.expectTCP("admin", "db1", false, 3306, testbed.TimedOut)
	l.expectTCP("web1", "web2", false, 8080, testbed.OK)

	fakeCtrl.stop()
	l.writeIntent(readTestdata(t, "worked.yaml"))

	// flowgate starts again while fake switches knock: the real switch
	// wins, the intent in the file is back in force on the real bridge.
	fake2 := startAttacker(t, netns, "switch", l.listen, dpid)
	l.start()
	if err := o.SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	l.expectTCP("web1", "db1", false, 3306, testbed.OK)
	l.expectTCP("admin", "db1", false, 3306, testbed.TimedOut)
	if strings.Contains(fake2.output(), "message") {
		t.Errorf("the fake switch was sent OpenFlow messages after the restart:\n%s", fake2.output())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A listening controller whose address is taken refuses to start, and
// parks the bridge's controller target so that the process holding the
// address is not connected.
func TestListenAddressTakenParksTheTargetOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	o := testbed.NewOVS(t)
	ctx := context.Background()
	squat, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	if _, err := o.Vsctl(ctx, "add-br", "br-int", "--", "set-controller", "br-int", "tcp:"+squat.Addr().String()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "intent.yaml")
	if err := os.WriteFile(path, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := controller.New(controller.Config{OVSDB: o.DBEndpoint(), Bridge: "br-int", IntentPath: path,
		Listen: "tcp:" + squat.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run(ctx)
	t.Logf("Run: %v", err)
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "parked") {
		t.Errorf("Run with the listen address taken: %v", err)
	}
	if got, _ := o.Vsctl(ctx, "get-controller", "br-int"); strings.TrimSpace(got) != "unix:"+filepath.Join(o.Dir, "br-int.flowgate-stopped") {
		t.Errorf("controller target %q, want it parked", got)
	}
}

// Attacks 4-6 of issue 10 on the API: a symlinked intent file follows its
// target across PUTs and swaps (a read-only one refuses the PUT), 1,000
// slow-body clients are closed within the timeouts, a FIFO at the intent
// path is refused without blocking, and hostile documents are refused
// with bounded messages and change no flow.
func TestAPIHardeningOnOVS(t *testing.T) {
	worked := ""
	// Kubernetes' ConfigMap layout: intent.yaml -> ..data/intent.yaml,
	// ..data -> ..v1.
	setup := func(dir string) string {
		worked = readTestdata(t, "worked.yaml")
		mustWriteStamp(t, dir, "..v1", worked)
		if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "intent.yaml")
		if err := os.Symlink("..data/intent.yaml", path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const bodyTimeout = time.Second
	l := newLabWith(t, labOpts{setup: setup, http: controller.HTTPLimits{HeaderTimeout: time.Second, BodyTimeout: bodyTimeout, MaxConns: 32}})
	dir := filepath.Dir(l.intent)
	ctx := context.Background()
	status := func() map[string]any {
		_, body := l.api("GET", "/v1/status", "")
		var s map[string]any
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatalf("status: %v: %s", err, body)
		}
		return s
	}
	if src := fmt.Sprint(status()["intent_source"]); src != "file:"+l.intent+" -> "+filepath.Join(dir, "..v1", "intent.yaml") {
		t.Errorf("intent_source %q", src)
	}

	// PUT writes through the links.
	revoked := withoutDB3306(t, worked)
	if code, body := l.api("PUT", "/v1/intent", revoked); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if fi, err := os.Lstat(l.intent); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("after a PUT intent.yaml is not a symlink (%v)", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "..v1", "intent.yaml")); string(got) != revoked {
		t.Error("the PUT did not reach the symlink's target")
	}
	if err := l.tb.OVS().SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	l.expectTCP("web1", "db1", false, 3306, testbed.TimedOut)

	// The ConfigMap is updated: a new directory and a swapped link. The
	// controller follows it.
	swapped := time.Now()
	mustWriteStamp(t, dir, "..v2", worked)
	if err := os.Symlink("..v2", filepath.Join(dir, "..data.tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data.tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the swap to be applied", func() bool {
		st := l.ctrl.Status()
		return st.LastApply != nil && st.LastApply.Time.After(swapped) && st.LastApply.Result == "applied"
	})
	if err := l.tb.OVS().SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	l.expectTCP("web1", "db1", false, 3306, testbed.OK)
	if src := fmt.Sprint(status()["intent_source"]); !strings.HasSuffix(src, "..v2/intent.yaml") {
		t.Errorf("intent_source after the swap: %q", src)
	}
	// ... and the next PUT goes to the new target.
	if code, body := l.api("PUT", "/v1/intent", revoked); code != http.StatusOK {
		t.Fatalf("PUT after the swap: %d %s", code, body)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "..v2", "intent.yaml")); string(got) != revoked {
		t.Error("the PUT after the swap did not reach the new target")
	}

	// A read-only target: the PUT is refused before anything is applied.
	if err := os.Chmod(filepath.Join(dir, "..v2", "intent.yaml"), 0o444); err != nil {
		t.Fatal(err)
	}
	before := l.ctrl.Status().LastApply.Time
	code, body := l.api("PUT", "/v1/intent", worked)
	t.Logf("PUT to a read-only intent file: %d %s", code, body)
	if code != http.StatusConflict || !strings.Contains(body, "read-only") || !l.ctrl.Status().LastApply.Time.Equal(before) {
		t.Errorf("PUT to a read-only file: %d %s; want 409, nothing applied", code, body)
	}
	os.Chmod(filepath.Join(dir, "..v2", "intent.yaml"), 0o644)

	// Hostile documents: refused, bounded, nothing programmed.
	flowsBefore := l.installedFlows()
	for _, doc := range []string{
		"networks: [\n",
		"bridge: " + strings.Repeat("b", 10<<20) + "\n",
		"bridge: " + strings.Repeat("b", 1<<20) + "\n",
		strings.Replace(worked, "name: web1", "name: \"web1\\nlevel=ERROR forged\"", 1),
		strings.Replace(worked, "remote_group: web", "remote_group: \"w\\0eb\"", 1),
		"security_groups:\n- &m0 {name: g0}\n" + func() string {
			s := ""
			for i := 1; i <= 40; i++ {
				s += fmt.Sprintf("- &m%d {<<: [*m%d, *m%d], name: g%d}\n", i, i-1, i-1, i)
			}
			return s
		}(),
	} {
		code, body := l.api("PUT", "/v1/intent", doc)
		if code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge || len(body) > 2000 {
			t.Errorf("hostile PUT: %d, %d-byte answer %.300q", code, len(body), body)
		}
		t.Logf("hostile PUT (%d bytes): %d %.200s", len(doc), code, strings.Join(strings.Fields(body), " "))
	}
	if got := l.ctrl.Status().LastApply.Time; !got.Equal(before) || l.installedFlows() != flowsBefore {
		t.Errorf("a hostile PUT changed something: last apply %v (was %v), %d flows (were %d)", got, before, l.installedFlows(), flowsBefore)
	}
	if s, _ := json.Marshal(status()); len(s) > 4000 {
		t.Errorf("status is %d bytes after hostile PUTs", len(s))
	}

	// 1,000 clients sending a body one byte at a time.
	const clients = 1000
	var wg sync.WaitGroup
	held := make([]time.Duration, clients)
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			nc, err := net.Dial("unix", l.apiSocket())
			if err != nil {
				held[i] = -1
				return
			}
			defer nc.Close()
			t0 := time.Now()
			go func() {
				fmt.Fprintf(nc, "PUT /v1/intent HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
				for range 20 {
					if _, err := nc.Write([]byte("a")); err != nil {
						return
					}
					time.Sleep(500 * time.Millisecond)
				}
			}()
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, nc) // until the server closes it
			held[i] = time.Since(t0)
		})
	}
	wg.Wait()
	var longest time.Duration
	failed := 0
	for _, d := range held {
		if d < 0 {
			failed++
		}
		longest = max(longest, d)
	}
	fmt.Printf("%d slow-body clients: all closed %v after the first connected; the longest was held %v (body timeout %v, %d could not connect)\n",
		clients, time.Since(start), longest, bodyTimeout, failed)
	if longest > bodyTimeout+time.Second {
		t.Errorf("a slow-body client was held %v; want at most the body timeout %v (+1 s)", longest, bodyTimeout)
	}
	if code, _ := l.api("GET", "/v1/status", ""); code != http.StatusOK {
		t.Errorf("status after the slow clients: %d", code)
	}

	// A FIFO at the intent path: refused with a message, nothing blocks.
	fifoDir := filepath.Join(dir, "..v3")
	if err := os.Mkdir(fifoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(fifoDir, "intent.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	swapped = time.Now()
	os.Symlink("..v3", filepath.Join(dir, "..data.tmp"))
	if err := os.Rename(filepath.Join(dir, "..data.tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the FIFO to be refused", func() bool {
		st := l.ctrl.Status()
		return st.LastReload != nil && st.LastReload.Time.After(swapped)
	})
	if e := l.ctrl.Status().LastReload.Error; !strings.Contains(e, "is a FIFO, not a regular file") {
		t.Errorf("reload of a FIFO: %q", e)
	}
	t0 := time.Now()
	code, body = l.api("PUT", "/v1/intent", worked)
	t.Logf("PUT with a FIFO at the intent path: %d %s (%v)", code, strings.TrimSpace(body), time.Since(t0))
	if code != http.StatusConflict || !strings.Contains(body, "FIFO") {
		t.Errorf("PUT with a FIFO intent: %d %s", code, body)
	}
}

func mustWriteStamp(t *testing.T, dir, stamp, doc string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, stamp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stamp, "intent.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A FIFO given as the intent file stops the controller at once, with a
// message, before it touches OVS.
func TestFIFOIntentRefusedAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "intent.yaml")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := controller.New(controller.Config{OVSDB: "unix:/nonexistent/db.sock", IntentPath: path, Connect: "unix:/nonexistent/br.mgmt"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = c.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "is a FIFO, not a regular file") || ctx.Err() != nil {
		t.Errorf("Run with a FIFO intent: %v (context %v)", err, ctx.Err())
	}
}
