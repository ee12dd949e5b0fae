package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
)

// ttl is the publishers' lease in these tests: etcd's minimum with its
// default timing (a shorter one is raised to it).
const ttl = 2 * time.Second

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
)

func rawClient(t *testing.T, srv *storetest.Server) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{strings.TrimPrefix(srv.URL(), "etcd://")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawLocations reads the location keys as stored: key (relative) ->
// value, and the keys' mod revisions and leases.
func rawLocations(t *testing.T, c *clientv3.Client) (vals map[string]string, revs map[string]int64, leases map[string]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, store.DefaultLocationPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	vals, revs, leases = map[string]string{}, map[string]int64{}, map[string]int64{}
	for _, kv := range resp.Kvs {
		k := strings.TrimPrefix(string(kv.Key), store.DefaultLocationPrefix)
		vals[k], revs[k], leases[k] = string(kv.Value), kv.ModRevision, kv.Lease
	}
	return vals, revs, leases
}

// where is a compact form of the map for comparisons: port -> host.
func where(l store.Locations) map[string]string {
	out := map[string]string{}
	for port, loc := range l.Ports {
		out[port] = loc.Host
	}
	return out
}

// waitFor receives location events until one satisfies ok, and returns
// it.
func waitFor(t *testing.T, ch <-chan store.LocationsEvent, within time.Duration, what string, ok func(store.Locations) bool) store.Locations {
	t.Helper()
	deadline := time.After(within)
	var last *store.Locations
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatal("location watch closed")
			}
			if ev.Locations != nil {
				last = ev.Locations
				if ok(*ev.Locations) {
					return *ev.Locations
				}
			}
		case <-deadline:
			if last != nil {
				t.Fatalf("%s: not within %v; last seen %v", what, within, where(*last))
			}
			t.Fatalf("%s: not within %v; no locations seen", what, within)
		}
	}
}

func placed(want map[string]string) func(store.Locations) bool {
	return func(l store.Locations) bool { return maps.Equal(where(l), want) }
}

func publisher(t *testing.T, s *store.Store, host string) *store.Publisher {
	t.Helper()
	p, err := s.NewPublisher(context.Background(), host, ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Two hosts publish their ports; every watcher learns them; a smaller
// set removes keys; a port that moves is reported at its new host; a
// clean stop removes the host's ports at once. The intent never sees
// any of it.
func TestPublishAndWatchLocations(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{})
	sA, sB, watcher := open(t, srv, store.Config{}), open(t, srv, store.Config{}), open(t, srv, store.Config{})
	raw := rawClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	events := watcher.WatchLocations(ctx)
	waitFor(t, events, 5*time.Second, "empty at first", placed(map[string]string{}))
	intentEvents := watcher.Watch(ctx)
	if snap := next(t, intentEvents, 5*time.Second); !errors.Is(snap.Err, store.ErrNoIntent) {
		t.Fatalf("intent watch at first: %v, want ErrNoIntent", snap.Err)
	}

	pA, pB := publisher(t, sA, "hostA"), publisher(t, sB, "hostB")
	if err := pA.Publish(ctx, ipA, []string{"web1", "db1", "web1"}); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, events, 5*time.Second, "hostA's ports", placed(map[string]string{"web1": "hostA", "db1": "hostA"}))
	if loc := got.Ports["web1"]; loc.TunnelIP != ipA || loc.Revision == 0 {
		t.Errorf("web1: %+v, want at %v", loc, ipA)
	}
	vals, revs, leases := rawLocations(t, raw)
	wantVals := map[string]string{
		"hostA/db1":  `{"host":"hostA","tunnel_ip":"192.0.2.1"}`,
		"hostA/web1": `{"host":"hostA","tunnel_ip":"192.0.2.1"}`,
	}
	if !maps.Equal(vals, wantVals) {
		t.Errorf("keys %v\nwant %v", vals, wantVals)
	}
	if revs["hostA/db1"] != revs["hostA/web1"] || leases["hostA/db1"] == 0 || leases["hostA/db1"] != leases["hostA/web1"] {
		t.Errorf("revisions %v, leases %v: want one transaction under one lease", revs, leases)
	}
	if got.Revision < revs["hostA/web1"] {
		t.Errorf("locations at revision %d, before the write at %d", got.Revision, revs["hostA/web1"])
	}
	if read, err := watcher.ReadLocations(ctx); err != nil || !maps.Equal(where(read), where(got)) {
		t.Errorf("ReadLocations: %v, %v; want %v", where(read), err, where(got))
	}

	// A smaller set deletes the key of the port gone and leaves the
	// other alone; the same set again writes nothing.
	if err := pA.Publish(ctx, ipA, []string{"web1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, 5*time.Second, "db1 unbound", placed(map[string]string{"web1": "hostA"}))
	_, revs2, _ := rawLocations(t, raw)
	if _, ok := revs2["hostA/db1"]; ok || revs2["hostA/web1"] != revs["hostA/web1"] {
		t.Errorf("after a smaller set: revisions %v (before %v); want db1 gone, web1 untouched", revs2, revs)
	}
	if err := pA.Publish(ctx, ipA, []string{"web1"}); err != nil {
		t.Fatal(err)
	}
	if _, revs3, _ := rawLocations(t, raw); !maps.Equal(revs3, revs2) {
		t.Errorf("the same set again rewrote keys: %v, was %v", revs3, revs2)
	}

	// web1 moves to hostB: for a moment both claim it, and the newer
	// claim wins; then hostA lets it go.
	if err := pB.Publish(ctx, ipB, []string{"web1", "app1"}); err != nil {
		t.Fatal(err)
	}
	got = waitFor(t, events, 5*time.Second, "web1 at hostB", placed(map[string]string{"web1": "hostB", "app1": "hostB"}))
	if loc := got.Ports["web1"]; loc.TunnelIP != ipB {
		t.Errorf("web1 after the move: %+v, want at %v", loc, ipB)
	}
	if !reflect.DeepEqual(got.Contested, map[string][]string{"web1": {"hostA"}}) {
		t.Errorf("contested: %v, want web1 also claimed by hostA", got.Contested)
	}
	if err := pA.Publish(ctx, ipA, nil); err != nil {
		t.Fatal(err)
	}
	got = waitFor(t, events, 5*time.Second, "hostA's claim gone", func(l store.Locations) bool { return len(l.Contested) == 0 })
	if !maps.Equal(where(got), map[string]string{"web1": "hostB", "app1": "hostB"}) {
		t.Errorf("after hostA let web1 go: %v", where(got))
	}

	// A host's tunnel endpoint changes: every key of its says so.
	ipB2 := netip.MustParseAddr("2001:db8::2")
	if err := pB.Publish(ctx, ipB2, []string{"app1", "web1"}); err != nil {
		t.Fatal(err)
	}
	got = waitFor(t, events, 5*time.Second, "hostB's new endpoint", func(l store.Locations) bool {
		return l.Ports["web1"].TunnelIP == ipB2 && l.Ports["app1"].TunnelIP == ipB2
	})

	// A clean stop revokes the lease: the ports go at once.
	if err := pB.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, 5*time.Second, "hostB's ports gone after Close", placed(map[string]string{}))
	if vals, _, _ := rawLocations(t, raw); len(vals) != 0 {
		t.Errorf("keys after Close: %v", vals)
	}
	if err := pB.Publish(ctx, ipB, []string{"web1"}); err == nil {
		t.Error("Publish after Close succeeded")
	}

	// None of this reached the intent's watch.
	select {
	case ev := <-intentEvents:
		t.Errorf("the intent's watch saw the locations: %+v", ev)
	default:
	}
}

// A host that dies (its client gone, nothing revoked) keeps its ports
// for as long as its lease lives, and loses them when it expires; while
// it runs, the renewals keep them past the TTL.
func TestLocationsExpireWhenAHostDies(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{})
	sA, watcher := open(t, srv, store.Config{}), open(t, srv, store.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := watcher.WatchLocations(ctx)

	pA := publisher(t, sA, "hostA")
	if err := pA.Publish(ctx, ipA, []string{"web1", "db1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, 5*time.Second, "hostA's ports", placed(map[string]string{"web1": "hostA", "db1": "hostA"}))

	time.Sleep(2 * ttl)
	if l, err := watcher.ReadLocations(ctx); err != nil || len(l.Ports) != 2 {
		t.Fatalf("after twice the TTL with renewals: %v, %v; want both ports still there", where(l), err)
	}

	// kill -9: the connection goes, nobody revokes.
	sA.Close()
	died := time.Now()
	waitFor(t, events, ttl+10*time.Second, "hostA's ports expired", placed(map[string]string{}))
	t.Logf("hostA's ports expired %v after it died (TTL %v)", time.Since(died), ttl)
}

// etcd stops and comes back: the watchers say so and resync, and a set
// published meanwhile is written once etcd is back.
func TestPublisherAndWatchAcrossEtcdRestart(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{})
	sA, watcher := open(t, srv, store.Config{}), open(t, srv, store.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := watcher.WatchLocations(ctx)

	pA := publisher(t, sA, "hostA")
	if err := pA.Publish(ctx, ipA, []string{"web1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, 5*time.Second, "hostA's port", placed(map[string]string{"web1": "hostA"}))

	srv.Stop()
	select {
	case ev := <-events:
		if ev.Connected || ev.Err == nil {
			t.Fatalf("after etcd stopped: %+v, want a lost connection", ev)
		}
		t.Logf("etcd lost: %v", ev.Err)
	case <-time.After(10 * time.Second):
		t.Fatal("etcd stopped, no event within 10 s")
	}
	if err := pA.Publish(ctx, ipA, []string{"web1", "db1"}); err == nil {
		t.Fatal("Publish while etcd is stopped succeeded")
	} else {
		t.Logf("Publish while etcd is stopped: %v", err)
	}
	time.Sleep(ttl) // longer than the lease: etcd renews every lease when it comes back

	srv.Restart()
	back := time.Now()
	got := waitFor(t, events, 15*time.Second, "the set published while etcd was away", placed(map[string]string{"web1": "hostA", "db1": "hostA"}))
	t.Logf("etcd back: the watch shows the new set at revision %d %v after the restart", got.Revision, time.Since(back))

	// The keys live under a lease that is renewed: they outlast its TTL.
	time.Sleep(2 * ttl)
	if l, err := watcher.ReadLocations(ctx); err != nil || len(l.Ports) != 2 {
		t.Errorf("twice the TTL after the restart: %v, %v; want both ports", where(l), err)
	}
}

// The lease ends while the host is cut off (etcd did not hear from it
// within the TTL; here it is revoked behind the host's back): the host's
// keys are gone, and the publisher notices at its next renewal and
// writes them again under a new lease.
func TestPublisherRegrantsALostLease(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{})
	sA, watcher := open(t, srv, store.Config{}), open(t, srv, store.Config{})
	raw := rawClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := watcher.WatchLocations(ctx)

	pA := publisher(t, sA, "hostA")
	if err := pA.Publish(ctx, ipA, []string{"web1", "db1"}); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"web1": "hostA", "db1": "hostA"}
	waitFor(t, events, 5*time.Second, "hostA's ports", placed(all))
	_, _, before := rawLocations(t, raw)

	leases, err := raw.Leases(ctx)
	if err != nil || len(leases.Leases) != 1 {
		t.Fatalf("leases: %v, %v; want hostA's one", leases, err)
	}
	if _, err := raw.Revoke(ctx, leases.Leases[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, 5*time.Second, "hostA's ports gone with the lease", placed(map[string]string{}))
	lost := time.Now()
	waitFor(t, events, ttl+10*time.Second, "hostA's ports written again", placed(all))
	t.Logf("republished %v after the lease was lost", time.Since(lost))
	_, _, after := rawLocations(t, raw)
	if after["hostA/web1"] == 0 || after["hostA/web1"] == before["hostA/web1"] || after["hostA/db1"] != after["hostA/web1"] {
		t.Errorf("leases before %v, after %v: want a new one for both keys", before, after)
	}
}

// Keys that do not fit the layout are left out and said why; the others
// stand. Two claims written in one transaction are decided by host name.
func TestLocationsIgnoreBadKeys(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{})
	s := open(t, srv, store.Config{})
	raw := rawClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := store.DefaultLocationPrefix
	val := func(host, ip string) string { return fmt.Sprintf(`{"host":%q,"tunnel_ip":%q}`, host, ip) }
	if _, err := raw.Txn(ctx).Then(
		clientv3.OpPut(p+"h2/web1", val("h2", "192.0.2.2")),
		clientv3.OpPut(p+"h1/web1", val("h1", "192.0.2.1")),
		clientv3.OpPut(p+"h1/db1", val("h9", "192.0.2.1")),
		clientv3.OpPut(p+"h1/app1", val("h1", "")),
		clientv3.OpPut(p+"h1/a/b", val("h1", "192.0.2.1")),
		clientv3.OpPut(p+"h1", val("h1", "192.0.2.1")),
		clientv3.OpPut(p+"h1/lb1", "not json"),
		clientv3.OpPut(p+"h1/ok1", val("h1", "192.0.2.1")),
	).Commit(); err != nil {
		t.Fatal(err)
	}
	l, err := s.ReadLocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(where(l), map[string]string{"web1": "h1", "ok1": "h1"}) || !reflect.DeepEqual(l.Contested, map[string][]string{"web1": {"h2"}}) {
		t.Errorf("locations %v, contested %v", where(l), l.Contested)
	}
	var reasons []string
	for _, err := range l.Ignored {
		reasons = append(reasons, err.Error())
	}
	want := []string{
		`location key "h1": want HOST/PORT`,
		`location key "h1/a/b": want HOST/PORT`,
		`location key "h1/app1": no tunnel_ip`,
		`location key "h1/db1": value names host "h9", the key "h1"`,
		`location key "h1/lb1": value is not {"host", "tunnel_ip"}: invalid character 'o' in literal null (expecting 'u')`,
	}
	if !slices.Equal(reasons, want) {
		t.Errorf("ignored:\n%s\nwant\n%s", strings.Join(reasons, "\n"), strings.Join(want, "\n"))
	}
}

func TestPublishRefusesBadNames(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{})
	s := open(t, srv, store.Config{})
	ctx := context.Background()
	for _, host := range []string{"", "a/b", "..", "h 1"} {
		if _, err := s.NewPublisher(ctx, host, ttl); err == nil {
			t.Errorf("NewPublisher(%q) accepted", host)
		}
	}
	p := publisher(t, s, "h1")
	for _, ports := range [][]string{{"a/b"}, {""}, {"web1", "x*"}} {
		if err := p.Publish(ctx, ipA, ports); err == nil {
			t.Errorf("Publish(%q) accepted", ports)
		}
	}
	for _, ip := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("fe80::1%eth0")} {
		if err := p.Publish(ctx, ip, []string{"web1"}); err == nil {
			t.Errorf("Publish at %v accepted", ip)
		}
	}
	if err := p.Publish(ctx, netip.Addr{}, nil); err != nil {
		t.Errorf("an empty set needs no endpoint: %v", err)
	}
}

func TestLocationPrefixMustNotOverlap(t *testing.T) {
	for _, cfg := range []store.Config{
		{Prefix: "/flowgate/"},
		{LocationPrefix: "/flowgate/intent/hosts"},
		{Prefix: "/x/", LocationPrefix: "/x"},
	} {
		cfg.URL = "etcd://127.0.0.1:2379"
		if s, err := store.Open(cfg); err == nil {
			s.Close()
			t.Errorf("Open(prefix %q, location prefix %q) accepted", cfg.Prefix, cfg.LocationPrefix)
		}
	}
}
