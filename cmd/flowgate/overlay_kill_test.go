package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/overlaylab"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
	"github.com/flowgate/flowgate/testbed"
)

// killIntent is the worked example, small: web (8080 from anywhere) and
// db (3306 from group web). db2 is the victim host's second port, so
// that hv2 has traffic of its own (web2 -> db2) besides its cross-host
// traffic.
const killIntent = `bridge: br-int
networks:
  - {name: tenant, cidr: 10.0.0.0/24}
ports:
  - {name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11], security_groups: [web]}
  - {name: web2, network: tenant, mac: "02:00:0a:00:00:0c", ips: [10.0.0.12], security_groups: [web]}
  - {name: db1, network: tenant, mac: "02:00:0a:00:00:15", ips: [10.0.0.21], security_groups: [db]}
  - {name: db2, network: tenant, mac: "02:00:0a:00:00:16", ips: [10.0.0.22], security_groups: [db]}
security_groups:
  - name: web
    rules:
      - {direction: ingress, protocol: tcp, ports: "8080", remote_cidr: 0.0.0.0/0}
      - {direction: egress, protocol: any}
  - name: db
    rules:
      - {direction: ingress, protocol: tcp, ports: "3306", remote_group: web}
      - {direction: egress, protocol: any}
`

// killPorts: where each port of killIntent is plugged. hv2 is the victim.
var killPorts = []struct{ name, node, mac, ip string }{
	{"web1", "hv1", "02:00:0a:00:00:0b", "10.0.0.11/24"},
	{"web2", "hv2", "02:00:0a:00:00:0c", "10.0.0.12/24"},
	{"db2", "hv2", "02:00:0a:00:00:16", "10.0.0.22/24"},
	{"db1", "hv3", "02:00:0a:00:00:15", "10.0.0.21/24"},
}

// killCheck is one connection of the matrix and whether the intent
// allows it.
type killCheck struct {
	from, to string
	port     uint16
	allowed  bool
}

var (
	// Between hv1 and hv3: the other hosts' traffic.
	othersChecks = []killCheck{
		{"web1", "db1", 3306, true},
		{"db1", "web1", 8080, true},
		{"web1", "db1", 22, false},
		{"db1", "web1", 3306, false}, // web has no 3306
	}
	// To, from and on hv2.
	victimCrossChecks = []killCheck{
		{"web1", "db2", 3306, true}, // hv1 -> hv2
		{"db1", "web2", 8080, true}, // hv3 -> hv2
		{"web2", "db1", 3306, true}, // hv2 -> hv3
		{"db1", "db2", 3306, false}, // db is not web
		{"db2", "db1", 3306, false},
	}
	victimLocalChecks = []killCheck{
		{"web2", "db2", 3306, true},
		{"db2", "web2", 8080, true},
		{"web2", "db2", 22, false},
	}
	allKillChecks = slices.Concat(othersChecks, victimCrossChecks, victimLocalChecks)
)

// procController is one `flowgate controller` process of the test, and
// the flags to start it again with.
type procController struct {
	t    *testing.T
	name string
	bin  string
	args []string
	dir  string
	api  *http.Client
	cmd  *exec.Cmd // nil before the first start
	logs []string  // one file per run
	done chan struct{}
}

func (p *procController) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// start starts the process (again) with the same flags, its output in a
// new log file.
func (p *procController) start() {
	p.t.Helper()
	if p.running() {
		p.t.Fatalf("controller on %s is running already", p.name)
	}
	path := filepath.Join(p.dir, fmt.Sprintf("%s-run%d.log", p.name, len(p.logs)+1))
	f, err := os.Create(path)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	p.logs = append(p.logs, path)
}

// kill sends SIGKILL to this process (by its pid) and waits for it to be
// gone.
func (p *procController) kill() {
	p.t.Helper()
	if !p.running() {
		p.t.Fatalf("controller on %s is not running", p.name)
	}
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.done
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("controller on %s: %v, want killed by SIGKILL", p.name, p.cmd.ProcessState)
	}
}

// stop ends a running process with SIGTERM (SIGKILL after 10 s).
func (p *procController) stop() {
	if !p.running() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *procController) status() (map[string]any, error) {
	resp, err := p.api.Get("http://flowgate/v1/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s map[string]any
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// lastApply describes the running process's last apply.
func (p *procController) lastApply() string {
	s, err := p.status()
	if err != nil {
		return fmt.Sprintf("status: %v", err)
	}
	a, _ := s["last_apply"].(map[string]any)
	return fmt.Sprintf("last apply: %v %v, %v flows, %v added, %v modified, %v deleted, %v flow-mods in %v",
		a["trigger"], a["result"], a["flows"], a["added"], a["modified"], a["deleted"], a["flow_mods"], a["duration"])
}

// waitSynced waits until the running process says it is synced, with
// the OpenFlow session and etcd up.
func (p *procController) waitSynced(within time.Duration) {
	p.t.Helper()
	var last map[string]any
	var lastErr error
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !p.running() {
			p.t.Fatalf("controller on %s exited: %v", p.name, p.cmd.ProcessState)
		}
		s, err := p.status()
		if err != nil {
			lastErr = err
			continue
		}
		last = s
		if s["synced"] == true && s["connected"] == true && s["store_connected"] == true {
			return
		}
	}
	p.t.Fatalf("controller on %s not synced within %v; last status %v (%v)", p.name, within, last, lastErr)
}

// killLab is three testbed nodes with a flowgate controller process
// each, sharing an embedded etcd over TLS.
type killLab struct {
	t        *testing.T
	nodes    map[string]*testbed.Node
	hosts    map[string]*testbed.Host
	where    map[string]string // host -> node
	ctrls    map[string]*procController
	operator *store.Store
}

func newKillLab(t *testing.T) *killLab {
	testbed.RequireRoot(t)
	ctx := context.Background()
	bin := buildFlowgate(t)
	tb := testbed.New(t, testbed.Options{})
	srv := storetest.Start(t, storetest.Options{TLS: true})
	srv.EnableAuth("operator", "hv1", "hv2", "hv3")
	l := &killLab{t: t, nodes: map[string]*testbed.Node{}, hosts: map[string]*testbed.Host{},
		where: map[string]string{}, ctrls: map[string]*procController{}}

	cert, key := srv.Certs.Client("operator")
	op, err := store.Open(store.Config{URL: srv.URL(), CA: srv.Certs.CA, Cert: cert, Key: key, Writer: "TestOverlayControllerKilledOnOVS"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	l.operator = op
	doc, err := intent.Decode([]byte(killIntent))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Put(ctx, doc, 0); err != nil {
		t.Fatal(err)
	}

	for i, name := range []string{"hv1", "hv2", "hv3"} {
		n, err := tb.AddNode(ctx, name, testbed.NodeOpts{Underlay: netip.MustParsePrefix(fmt.Sprintf("192.168.100.%d/24", 11+i))})
		if err != nil {
			t.Fatal(err)
		}
		l.nodes[name] = n
	}
	for _, p := range killPorts {
		mac, _ := net.ParseMAC(p.mac)
		h, err := tb.AddHost(ctx, p.name, testbed.HostOpts{MAC: mac, IPv4: netip.MustParsePrefix(p.ip)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, l.nodes[p.node].IntegrationBridge()); err != nil {
			t.Fatal(err)
		}
		for _, port := range []uint16{22, 3306, 8080} {
			if _, err := h.ServeTCP(port); err != nil {
				t.Fatal(err)
			}
		}
		l.hosts[p.name], l.where[p.name] = h, p.node
	}

	dir := t.TempDir()
	for _, name := range []string{"hv1", "hv2", "hv3"} {
		n := l.nodes[name]
		cert, key := srv.Certs.Client(name)
		sock := filepath.Join(dir, name+"-api.sock")
		p := &procController{t: t, name: name, bin: bin, dir: dir,
			args: []string{"controller", "--config", "/dev/null",
				"--ovsdb", n.OVS().DBEndpoint(), "--bridge", testbed.IntegrationBridge,
				"--connect", "unix:" + n.OVS().MgmtSocket(testbed.IntegrationBridge),
				"--store", srv.URL(), "--store-ca", srv.Certs.CA, "--store-cert", cert, "--store-key", key,
				"--host", name, "--tunnel-ip", n.Underlay().String(),
				"--api", "unix:" + sock, "--metrics", "", "--log-level", "debug"},
			api: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "unix", sock)
				}}},
		}
		l.ctrls[name] = p
	}
	// Registered after the testbed and etcd: runs before their cleanups.
	t.Cleanup(func() {
		for _, name := range []string{"hv1", "hv2", "hv3"} {
			p := l.ctrls[name]
			p.stop()
			if t.Failed() {
				for _, path := range p.logs {
					if b, err := os.ReadFile(path); err == nil {
						t.Logf("%s:\n%s", filepath.Base(path), b)
					}
				}
			}
		}
	})
	for _, name := range []string{"hv1", "hv2", "hv3"} {
		l.ctrls[name].start()
	}
	for _, name := range []string{"hv1", "hv2", "hv3"} {
		l.ctrls[name].waitSynced(30 * time.Second)
	}
	return l
}

func (l *killLab) describe(c killCheck) string {
	return fmt.Sprintf("%s (%s) -> %s (%s):%d", c.from, l.where[c.from], c.to, l.where[c.to], c.port)
}

// probe connects once, within timeout.
func (l *killLab) probe(c killCheck, timeout time.Duration) testbed.Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := testbed.TCPConnect(ctx, l.hosts[c.from], l.hosts[c.to].IP4(), c.port)
	if err != nil {
		return testbed.Result{Detail: err.Error()}
	}
	return res
}

// wrong says what is wrong with res for c ("" if nothing).
func (l *killLab) wrong(c killCheck, res testbed.Result) string {
	switch {
	case c.allowed && res.Outcome != testbed.OK:
		return fmt.Sprintf("%s: %s (%s), want ok", l.describe(c), res.Outcome, res.Detail)
	case !c.allowed && res.Outcome == testbed.OK:
		return fmt.Sprintf("%s: accepted, want it dropped", l.describe(c))
	}
	return ""
}

// expect probes every check once, concurrently (a dropped probe costs
// its whole timeout), and reports what is wrong.
func (l *killLab) expect(when string, checks []killCheck) {
	l.t.Helper()
	bad := make([]string, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { bad[i] = l.wrong(c, l.probe(c, time.Second)) })
	}
	wg.Wait()
	for _, b := range bad {
		if b != "" {
			l.t.Errorf("%s: %s", when, b)
		}
	}
}

// waitAllowed waits until every allowed check connects; it returns how
// long that took. Probes time out after 250 ms, so the figure is good to
// about that.
func (l *killLab) waitAllowed(checks []killCheck, within time.Duration) time.Duration {
	l.t.Helper()
	start := time.Now()
	for _, c := range checks {
		if !c.allowed {
			continue
		}
		var res testbed.Result
		for res = l.probe(c, 250*time.Millisecond); res.Outcome != testbed.OK; res = l.probe(c, 250*time.Millisecond) {
			if time.Since(start) > within {
				overlaylab.DumpHit(l.t, l.nodes)
				l.t.Fatalf("%s never connected within %v: %s (%s)", l.describe(c), within, res.Outcome, res.Detail)
			}
		}
	}
	return time.Since(start)
}

// flows is node's br-int flow table without counters or ages, sorted.
func (l *killLab) flows(node string) string {
	l.t.Helper()
	out, err := l.nodes[node].OVS().Ofctl(context.Background(), "-O", "OpenFlow13", "dump-flows", testbed.IntegrationBridge, "--no-stats")
	if err != nil {
		l.t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

var cookieField = regexp.MustCompile(`cookie=0x[0-9a-f]+, ?`)

// reaches says whether node's flows send anything to endpoint through
// the tunnel (in ovs-ofctl's dotted or hexadecimal form).
func (l *killLab) reaches(node string, endpoint netip.Addr) bool {
	flows := l.flows(node)
	a := endpoint.As4()
	return strings.Contains(flows, endpoint.String()+"->tun_dst") ||
		strings.Contains(flows, fmt.Sprintf("0x%02x%02x%02x%02x->NXM_NX_TUN_IPV4_DST", a[0], a[1], a[2], a[3])) ||
		strings.Contains(flows, fmt.Sprintf("0x%02x%02x%02x%02x->tun_dst", a[0], a[1], a[2], a[3]))
}

// hv2Published says whether etcd holds any port location of hv2.
func (l *killLab) hv2Published() bool {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	locs, err := l.operator.ReadLocations(ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, loc := range locs.Ports {
		if loc.Host == "hv2" {
			return true
		}
	}
	return false
}

// prober probes checks over and over, each in its own goroutine, until
// stopped; it keeps every result.
type prober struct {
	l       *killLab
	once    sync.Once
	stopped chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	probes  map[killCheck]int
	bad     []string
}

func (l *killLab) startProber(checks []killCheck, every time.Duration) *prober {
	p := &prober{l: l, stopped: make(chan struct{}), probes: map[killCheck]int{}}
	l.t.Cleanup(func() { p.stop() }) // a test that fails half way
	for _, c := range checks {
		p.wg.Go(func() {
			for {
				select {
				case <-p.stopped:
					return
				default:
				}
				at := time.Now()
				res := l.probe(c, time.Second)
				p.mu.Lock()
				p.probes[c]++
				if w := l.wrong(c, res); w != "" {
					p.bad = append(p.bad, at.Format("15:04:05.000")+" "+w)
				}
				p.mu.Unlock()
				select {
				case <-p.stopped:
					return
				case <-time.After(every):
				}
			}
		})
	}
	return p
}

// stop stops the probes and returns how many ran and what went wrong.
func (p *prober) stop() (int, []string) {
	p.once.Do(func() { close(p.stopped) })
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, k := range p.probes {
		n += k
	}
	return n, p.bad
}

// TestOverlayControllerKilledOnOVS: issue 15's "kill -9 one host's
// controller: the other hosts' traffic is unaffected; its own keeps
// flowing on the installed flows", with real processes. Three nodes,
// each with a `flowgate controller` process reading the intent from an
// embedded etcd over TLS with its own client certificate; web1 on hv1,
// web2 and db2 on hv2, db1 on hv3. hv2's controller is killed with
// SIGKILL:
//   - at once and while its lease lasts, every connection between,
//     from and to the hosts is as the intent says, and hv2's flows are
//     exactly those it had;
//   - when the lease expires, hv1 and hv3 drop hv2's ports (a dead
//     host's ports leave the remote groups): cross-host traffic with hv2
//     stops, nothing forbidden is accepted, hv1 <-> hv3 and hv2's local
//     traffic go on;
//   - restarted, hv2's controller brings it all back;
//   - killed and restarted within the lease, not one probe is lost.
func TestOverlayControllerKilledOnOVS(t *testing.T) {
	l := newKillLab(t)
	hv2 := l.ctrls["hv2"]
	hv2IP := l.nodes["hv2"].Underlay()

	took := l.waitAllowed(allKillChecks, 20*time.Second)
	t.Logf("all three controllers synced; the allowed connections work (%v after the last sync)", took.Round(time.Millisecond))
	l.expect("before the kill", allKillChecks)
	for _, n := range []string{"hv1", "hv3"} {
		if !l.reaches(n, hv2IP) {
			t.Fatalf("%s's flows do not tunnel to hv2 (%s) before the kill:\n%s", n, hv2IP, l.flows(n))
		}
	}
	before := l.flows("hv2")
	othersBefore := map[string]string{"hv1": l.flows("hv1"), "hv3": l.flows("hv3")}

	// 1. kill -9: everything goes on while the lease lasts (at least
	// 2/3 of its TTL: it is renewed every third).
	pid := hv2.cmd.Process.Pid
	hv2.kill()
	killed := time.Now()
	p := l.startProber(allKillChecks, 50*time.Millisecond)
	time.Sleep(3 * time.Second)
	n, bad := p.stop()
	t.Logf("hv2's controller (pid %d) killed with SIGKILL: %d probes over the next %v, %d wrong", pid, n, time.Since(killed).Round(time.Millisecond), len(bad))
	for _, b := range bad {
		t.Errorf("after the kill, within the lease: %s", b)
	}
	if after := l.flows("hv2"); after != before {
		t.Errorf("hv2's flows changed after its controller was killed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	for _, n := range []string{"hv1", "hv3"} {
		if after := l.flows(n); after != othersBefore[n] {
			t.Errorf("%s's flows changed within hv2's lease:\nbefore:\n%s\nafter:\n%s", n, othersBefore[n], after)
		}
	}
	if !l.hv2Published() {
		t.Errorf("hv2's ports left etcd %v after the kill, within the lease", time.Since(killed))
	}

	// 2. The lease expires: measure when etcd and then hv1 and hv3 drop
	// hv2's ports (to one round of polling, about 0.1 s), while hv1 <->
	// hv3 is probed throughout.
	p = l.startProber(othersChecks, 50*time.Millisecond)
	var etcdGone, hv1Gone, hv3Gone time.Duration
	for deadline := killed.Add(25 * time.Second); etcdGone == 0 || hv1Gone == 0 || hv3Gone == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.stop()
			t.Fatalf("25 s after the kill: hv2's ports gone from etcd after %v, from hv1's flows after %v, from hv3's after %v (0: not yet)",
				etcdGone, hv1Gone, hv3Gone)
		}
		if etcdGone == 0 && !l.hv2Published() {
			etcdGone = time.Since(killed)
		}
		if hv1Gone == 0 && !l.reaches("hv1", hv2IP) {
			hv1Gone = time.Since(killed)
		}
		if hv3Gone == 0 && !l.reaches("hv3", hv2IP) {
			hv3Gone = time.Since(killed)
		}
	}
	n, bad = p.stop()
	t.Logf("lease expiry (TTL %v): hv2's port locations gone from etcd %v after the kill, from hv1's flows %v, from hv3's %v; hv1 <-> hv3: %d probes meanwhile, %d wrong",
		store.DefaultLeaseTTL, etcdGone.Round(time.Millisecond), hv1Gone.Round(time.Millisecond), hv3Gone.Round(time.Millisecond), n, len(bad))
	for _, b := range bad {
		t.Errorf("hv1 <-> hv3 while hv2's lease expired: %s", b)
	}
	// The lease is renewed every third of its TTL: it cannot end sooner
	// than 2/3 of the TTL after the last renewal.
	if minimum := store.DefaultLeaseTTL * 2 / 3; etcdGone < minimum-500*time.Millisecond || hv1Gone < minimum-500*time.Millisecond || hv3Gone < minimum-500*time.Millisecond {
		t.Errorf("hv2's ports went before its lease could have expired (%v after the kill)", min(etcdGone, hv1Gone, hv3Gone))
	}
	for _, n := range []string{"hv1", "hv3"} {
		if err := l.nodes[n].OVS().SettleDatapath(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// After expiry, by design (issue 15 item 5): hv1 and hv3 no longer
	// know hv2's ports, so nothing crosses to or from them (web2 is no
	// member of group web for db1 on hv3 any more); hv2 still forwards
	// its own traffic on the flows it had; nothing forbidden anywhere.
	cut := []killCheck{
		{"web1", "db2", 3306, false},
		{"db1", "web2", 8080, false},
		{"web2", "db1", 3306, false},
	}
	l.expect("after hv2's lease expired", slices.Concat(othersChecks, cut, victimLocalChecks,
		[]killCheck{{"db1", "db2", 3306, false}, {"db2", "db1", 3306, false}}))
	if after := l.flows("hv2"); after != before {
		t.Errorf("hv2's flows changed after its lease expired (no controller there):\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// 3. Restart after expiry: everything comes back.
	restarted := time.Now()
	hv2.start()
	hv2.waitSynced(30 * time.Second)
	synced := time.Since(restarted)
	back := l.waitAllowed(allKillChecks, 20*time.Second) + synced
	t.Logf("hv2's controller restarted after expiry: synced %v after its start, every allowed connection back %v after it; %s",
		synced.Round(time.Millisecond), back.Round(time.Millisecond), hv2.lastApply())
	l.expect("after the restart", allKillChecks)
	// The same flows as before the kill but for the cookies' round,
	// once the old round is deleted.
	strip := func(s string) string { return cookieField.ReplaceAllString(s, "") }
	var now string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if now = l.flows("hv2"); strip(now) == strip(before) || time.Now().After(deadline) {
			break
		}
	}
	if strip(now) != strip(before) {
		t.Errorf("hv2's flows after the restart differ from before the kill (cookies aside):\nbefore:\n%s\nafter:\n%s", before, now)
	}

	// 4. kill -9 and restart within the lease: not one probe lost
	// anywhere, and hv1 and hv3 never drop hv2's ports; probed until
	// well past the old lease's end.
	p = l.startProber(allKillChecks, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	hv2.kill()
	killed = time.Now()
	time.Sleep(time.Second)
	restarted = time.Now()
	hv2.start()
	hv2.waitSynced(30 * time.Second)
	synced = time.Since(restarted)
	applied := hv2.lastApply()
	var dropped []string
	for time.Since(killed) < store.DefaultLeaseTTL+2*time.Second {
		for _, n := range []string{"hv1", "hv3"} {
			if !l.reaches(n, hv2IP) {
				dropped = append(dropped, fmt.Sprintf("%s at %v after the kill", n, time.Since(killed).Round(time.Millisecond)))
			}
		}
		if !l.hv2Published() {
			dropped = append(dropped, fmt.Sprintf("etcd at %v after the kill", time.Since(killed).Round(time.Millisecond)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	n, bad = p.stop()
	t.Logf("kill -9 and restart %v later: synced %v after its start (%s); %d probes over %v, %d wrong",
		restarted.Sub(killed).Round(time.Millisecond), synced.Round(time.Millisecond), applied, n, time.Since(killed).Round(time.Millisecond), len(bad))
	for _, b := range bad {
		t.Errorf("kill and restart within the lease: %s", b)
	}
	if len(dropped) > 0 {
		t.Errorf("kill and restart within the lease: hv2's ports were dropped: %s", strings.Join(dropped, "; "))
	}
}
