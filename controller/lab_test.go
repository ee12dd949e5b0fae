package controller_test

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
	"github.com/flowgate/flowgate/testbed"
)

// lab is the worked example (testdata/worked.yaml) on a private OVS, every
// port a namespace on bridge br-int, with flowgate's controller keeping
// the bridge programmed from an intent file the test edits.
type lab struct {
	t      *testing.T
	tb     *testbed.Testbed
	hosts  map[string]*testbed.Host
	order  []*testbed.Host
	intent string // path of the intent file the controller watches
	log    string // path of the controller's log
	ctrl   *controller.Controller
	stop   context.CancelFunc
	done   chan error
	opts   labOpts
	listen string // listen mode: the address in ovs-vswitchd's namespace
	etcd   *storetest.Server
	store  *store.Store // the controller's connection to etcd (etcd mode)
}

// labOpts vary how the lab's controller runs.
type labOpts struct {
	listen bool                    // listen for ovs-vswitchd instead of dialling the management socket
	http   controller.HTTPLimits   // API limits
	setup  func(dir string) string // lays out the intent file in dir and returns its path
	etcd   bool                    // the intent lives in an embedded etcd, written there before the start
}

const labBridge = "br-int"

// labHosts are the namespaces: the addresses they really send from (admin
// and outside use their allowed address pairs) and the on-link routes that
// put everyone on one segment.
var labHosts = []struct {
	name, mac, ip4, ip6 string
}{
	{"web1", "02:00:0a:00:00:0b", "10.0.0.11/24", "fd00:10::11/64"},
	{"web2", "02:00:0a:00:00:0c", "10.0.0.12/24", "fd00:10::12/64"},
	{"db1", "02:00:0a:00:00:15", "10.0.0.21/24", "fd00:10::21/64"},
	{"admin", "02:00:cb:00:71:05", "203.0.113.5/24", "2001:db8:113::5/64"},
	{"outside", "02:00:c6:33:64:07", "198.51.100.7/24", "2001:db8:100::7/64"},
}

var labPrefixes = []string{"10.0.0.0/24", "fd00:10::/64", "203.0.113.0/24", "2001:db8:113::/64",
	"198.51.100.0/24", "2001:db8:100::/64"}

// newLab builds the namespaces and starts the controller on them.
func newLab(t *testing.T) *lab { return newLabWith(t, labOpts{}) }

func newLabWith(t *testing.T, opts labOpts) *lab {
	tb := testbed.New(t, testbed.Options{})
	ctx := context.Background()
	sw, err := tb.AddSwitch(ctx, labBridge, testbed.SwitchOpts{Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, tb: tb, hosts: map[string]*testbed.Host{}, opts: opts}
	for i, spec := range labHosts {
		mac, _ := net.ParseMAC(spec.mac)
		h, err := tb.AddHost(ctx, spec.name, testbed.HostOpts{MAC: mac, OFPort: uint32(i + 1),
			IPv4: netip.MustParsePrefix(spec.ip4), IPv6: netip.MustParsePrefix(spec.ip6)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			t.Fatal(err)
		}
		own := [2]netip.Prefix{netip.MustParsePrefix(spec.ip4).Masked(), netip.MustParsePrefix(spec.ip6).Masked()}
		for _, p := range labPrefixes {
			if pr := netip.MustParsePrefix(p); pr == own[0] || pr == own[1] {
				continue
			}
			if _, err := h.Exec(ctx, "ip", "route", "add", p, "dev", "eth0"); err != nil {
				t.Fatal(err)
			}
		}
		for _, port := range []uint16{22, 8080, 3306} {
			if _, err := h.ServeTCP(port); err != nil {
				t.Fatal(err)
			}
		}
		l.hosts[spec.name] = h
		l.order = append(l.order, h)
	}
	dir := t.TempDir()
	l.log = filepath.Join(dir, "controller.log")
	switch {
	case opts.etcd:
		l.etcd = storetest.Start(t, storetest.Options{})
		l.store = l.openStore()
		d, err := intent.Decode([]byte(readTestdata(t, "worked.yaml")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.store.Put(ctx, d, 0); err != nil {
			t.Fatal(err)
		}
	case opts.setup != nil:
		l.intent = opts.setup(dir)
	default:
		l.intent = filepath.Join(dir, "intent.yaml")
		l.writeIntent(readTestdata(t, "worked.yaml"))
	}
	l.start()
	t.Cleanup(func() {
		l.halt()
		if t.Failed() {
			if log, err := os.ReadFile(l.log); err == nil {
				t.Logf("controller log:\n%s", log)
			}
		}
	})
	return l
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// start runs a controller on the lab and waits until it installed the
// intent. It dials the bridge's management socket: ovs-vswitchd runs in a
// network namespace of its own, where a listener of ours could not be
// reached (cmd/flowgate's tests cover --listen).
func (l *lab) start() {
	l.t.Helper()
	logFile, err := os.OpenFile(l.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	cfg := controller.Config{
		OVSDB: l.tb.OVS().DBEndpoint(), Bridge: labBridge, IntentPath: l.intent, Store: l.store,
		API:    "unix:" + l.apiSocket(),
		HTTP:   l.opts.http,
		Logger: slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if l.opts.listen {
		// The same address every time, as a controller target is.
		ln, err := l.tb.OVS().Listen("tcp", cmp.Or(l.listen, "127.0.0.1:0"))
		if err != nil {
			l.t.Fatal(err)
		}
		l.listen, cfg.Listener = ln.Addr().String(), ln
	} else {
		cfg.Connect = "unix:" + l.tb.OVS().MgmtSocket(labBridge)
	}
	c, err := controller.New(cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.ctrl, l.stop, l.done = c, cancel, make(chan error, 1)
	go func() { l.done <- c.Run(ctx); logFile.Close() }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := c.WaitSynced(wctx); err != nil {
		select {
		case runErr := <-l.done:
			err = errors.Join(err, runErr)
		default:
		}
		l.t.Fatal(err)
	}
}

// openStore connects to the lab's etcd, checking it every 200 ms.
func (l *lab) openStore() *store.Store {
	l.t.Helper()
	s, err := store.Open(store.Config{URL: l.etcd.URL(), Health: 200 * time.Millisecond, Timeout: 500 * time.Millisecond})
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { s.Close() })
	return s
}

// apiSocket is the controller's API socket, beside the log.
func (l *lab) apiSocket() string { return filepath.Join(filepath.Dir(l.log), "api.sock") }

// halt stops the controller (the flows stay) and reports a Run error.
func (l *lab) halt() {
	if l.stop == nil {
		return
	}
	l.stop()
	if err := <-l.done; err != nil {
		l.t.Errorf("controller Run: %v", err)
	}
	l.stop = nil
}

func (l *lab) writeIntent(doc string) {
	l.t.Helper()
	tmp := l.intent + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, l.intent); err != nil {
		l.t.Fatal(err)
	}
}

// changeIntent writes doc and waits until the controller has dealt with
// it: a new apply (or, for a bad document, a refused reload). It returns
// the time from the write to then.
func (l *lab) changeIntent(doc string) (controller.Status, time.Duration) {
	l.t.Helper()
	start := time.Now()
	l.writeIntent(doc)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st := l.ctrl.Status()
		if (st.LastApply != nil && st.LastApply.Time.After(start) && st.LastApply.Result != "pending") ||
			(st.LastReload != nil && st.LastReload.Time.After(start)) {
			elapsed := time.Since(start)
			// The next packet must meet the new tables, not a datapath
			// flow cached a moment before (OVS revalidates asynchronously).
			if err := l.tb.OVS().SettleDatapath(context.Background()); err != nil {
				l.t.Fatal(err)
			}
			return st, elapsed
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.t.Fatalf("controller did not act on the intent change within 20 s; status %+v", l.ctrl.Status())
	return controller.Status{}, 0
}

func (l *lab) addr(host string, v6 bool) netip.Addr {
	if v6 {
		return l.hosts[host].IP6()
	}
	return l.hosts[host].IP4()
}

func (l *lab) session(from, to string, port uint16) *testbed.Session {
	l.t.Helper()
	s, err := testbed.OpenSession(context.Background(), l.hosts[from], l.addr(to, false), port)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { s.Close() })
	return s
}

func (l *lab) expectTCP(from, to string, v6 bool, port uint16, want testbed.Outcome) {
	l.t.Helper()
	res, err := testbed.TCPConnect(context.Background(), l.hosts[from], l.addr(to, v6), port)
	if err != nil {
		l.t.Fatal(err)
	}
	if res.Outcome != want {
		l.t.Errorf("%s -> %s:%d: %s (%s), want %s", from, l.addr(to, v6), port, res.Outcome, res.Detail, want)
	}
}
