package controller_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
	"github.com/flowgate/flowgate/testbed"
)

// TestOverlayAcrossHostsOnOVS: the worked example over three hosts
// (web1 on hv1, web2 on hv2, db1 on hv3), a controller per host reading
// one intent from etcd and publishing its ports' locations there. The
// groups hold across hosts over Geneve, IPv4 and IPv6; web2 joining
// group web on hv2 is let in to db1 on hv3 within a second of the etcd
// write; a controller killed (its context cancelled without a clean
// stop, as kill -9 leaves it) leaves every host's traffic flowing.
func TestOverlayAcrossHostsOnOVS(t *testing.T) {
	ctx := context.Background()
	tb := testbed.New(t, testbed.Options{})
	etcd := storetest.Start(t, storetest.Options{})
	where := map[string]string{"web1": "hv1", "web2": "hv2", "db1": "hv3"}
	macs := map[string]string{"web1": "02:00:0a:00:00:0b", "web2": "02:00:0a:00:00:0c", "db1": "02:00:0a:00:00:15"}
	ips := map[string][2]string{"web1": {"10.0.0.11/24", "fd00:10::11/64"}, "web2": {"10.0.0.12/24", "fd00:10::12/64"},
		"db1": {"10.0.0.21/24", "fd00:10::21/64"}}
	nodes := map[string]*testbed.Node{}
	for i, name := range []string{"hv1", "hv2", "hv3"} {
		n, err := tb.AddNode(ctx, name, testbed.NodeOpts{Underlay: netip.MustParsePrefix(fmt.Sprintf("192.168.100.%d/24", 11+i))})
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
	}
	hosts := map[string]*testbed.Host{}
	for port, node := range where {
		mac, _ := net.ParseMAC(macs[port])
		h, err := tb.AddHost(ctx, port, testbed.HostOpts{MAC: mac, IPv4: netip.MustParsePrefix(ips[port][0]),
			IPv6: netip.MustParsePrefix(ips[port][1])})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, h, nodes[node].IntegrationBridge()); err != nil {
			t.Fatal(err)
		}
		hosts[port] = h
	}
	for _, port := range []uint16{22, 3306, 8080} {
		for _, h := range hosts {
			if _, err := h.ServeTCP(port); err != nil {
				t.Fatal(err)
			}
		}
	}
	operator := openEtcd(t, etcd)
	// web2 starts in group db: db1 lets only group web in on 3306.
	doc := storeDoc(t, func(s string) string {
		return strings.Replace(s, `ips: [10.0.0.12, "fd00:10::12"], security_groups: [web]}`, `ips: [10.0.0.12, "fd00:10::12"], security_groups: [db]}`, 1)
	})
	rev, err := operator.Put(ctx, doc, 0)
	if err != nil {
		t.Fatal(err)
	}

	type running struct {
		ctrl *controller.Controller
		stop context.CancelFunc
		done chan error
		err  error
		log  string
	}
	halt := func(r *running) {
		if r.done != nil {
			r.stop()
			r.err, r.done = <-r.done, nil
		}
	}
	ctrls := map[string]*running{}
	for name, n := range nodes {
		logPath := filepath.Join(t.TempDir(), name+".log")
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		c, err := controller.New(controller.Config{
			OVSDB: n.OVS().DBEndpoint(), Bridge: testbed.IntegrationBridge, Store: openEtcd(t, etcd),
			Connect: "unix:" + n.OVS().MgmtSocket(testbed.IntegrationBridge),
			Host:    name, TunnelIP: n.Underlay(),
			Logger: slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		r := &running{ctrl: c, stop: cancel, done: make(chan error, 1), log: logPath}
		go func() { r.done <- c.Run(cctx); f.Close() }()
		ctrls[name] = r
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		if err := c.WaitSynced(wctx); err != nil {
			t.Fatalf("controller on %s: %v", name, err)
		}
		wcancel()
	}
	t.Cleanup(func() {
		for name, r := range ctrls {
			halt(r)
			if t.Failed() {
				if b, err := os.ReadFile(r.log); err == nil {
					t.Logf("controller on %s:\n%s", name, b)
				}
			}
		}
	})

	probe := func(from, to string, v6 bool, port uint16) testbed.Result {
		t.Helper()
		dst := hosts[to].IP4()
		if v6 {
			dst = hosts[to].IP6()
		}
		res, err := testbed.TCPConnect(ctx, hosts[from], dst, port)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	expect := func(from, to string, v6 bool, port uint16, want testbed.Outcome) {
		t.Helper()
		if res := probe(from, to, v6, port); res.Outcome != want {
			t.Errorf("%s (%s) -> %s (%s) v6=%v :%d: %s (%s), want %s", from, where[from], to, where[to], v6, port, res.Outcome, res.Detail, want)
		}
	}
	// Every controller must have seen the others' ports before traffic
	// can cross: wait until web1 reaches db1.
	deadline := time.Now().Add(20 * time.Second)
	for probe("web1", "db1", false, 3306).Outcome != testbed.OK {
		if time.Now().After(deadline) {
			t.Fatal("web1 never reached db1 across the overlay")
		}
	}
	for _, c := range []struct {
		from, to string
		v6       bool
		port     uint16
		want     testbed.Outcome
	}{
		{"web1", "db1", true, 3306, testbed.OK},
		{"db1", "web1", false, 8080, testbed.OK},
		{"db1", "web2", true, 8080, testbed.TimedOut}, // web2 is in group db now: no 8080 in
		{"web2", "db1", false, 3306, testbed.TimedOut},
		{"web1", "db1", false, 22, testbed.TimedOut},
		{"web1", "web2", false, 22, testbed.TimedOut},
	} {
		expect(c.from, c.to, c.v6, c.port, c.want)
	}

	// web2 joins group web (on hv2): every host has the change in force
	// within a second of the etcd write, and db1's host lets web2 in.
	doc = storeDoc(t, nil)
	written := time.Now()
	rev2, err := operator.Put(ctx, doc, rev)
	if err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	for name, r := range ctrls {
		for r.ctrl.Status().IntentRevision != rev2 {
			if time.Since(written) > 10*time.Second {
				t.Fatalf("%s never applied revision %d", name, rev2)
			}
			time.Sleep(2 * time.Millisecond)
		}
		slowest = max(slowest, time.Since(written))
	}
	t.Logf("web2 joined group web on hv2: in force on all three hosts %v after the etcd write", slowest.Round(time.Millisecond))
	if slowest > time.Second {
		t.Errorf("the change reached the last host %v after the write, want within 1 s", slowest)
	}
	expect("web2", "db1", false, 3306, testbed.OK)

	// hv1's controller dies: everyone's traffic keeps flowing on the
	// installed flows.
	halt(ctrls["hv1"])
	expect("web1", "db1", false, 3306, testbed.OK)
	expect("web2", "db1", false, 3306, testbed.OK)
	expect("db1", "web1", false, 8080, testbed.OK)
}

func openEtcd(t *testing.T, srv *storetest.Server) *store.Store {
	t.Helper()
	s, err := store.Open(store.Config{URL: srv.URL(), Health: 200 * time.Millisecond, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
