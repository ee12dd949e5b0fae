package store_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
)

func exampleDoc(t *testing.T) *intent.Document {
	t.Helper()
	data, err := os.ReadFile("../examples/intent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Admin policies are stored too (a policy lost on the way would open
	// what it denies).
	data = append(data, []byte(`
policies:
  - name: quarantine
    priority: 0
    applies_to: {ports: [db1]}
    rules:
      - {action: deny, direction: ingress, protocol: any}
  - name: admin
    priority: 5
    applies_to: {all: true}
    rules:
      - {action: allow, direction: ingress, protocol: tcp, ports: "22", remote_cidr: 203.0.113.0/24, log: true}
`)...)
	doc, err := intent.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// sorted is doc as the store gives it back: each list by name.
func sorted(doc *intent.Document) *intent.Document {
	d := *doc
	d.Networks = slices.Clone(d.Networks)
	slices.SortFunc(d.Networks, func(a, b intent.NetworkDoc) int { return strings.Compare(a.Name, b.Name) })
	d.Ports = slices.Clone(d.Ports)
	slices.SortFunc(d.Ports, func(a, b intent.PortDoc) int { return strings.Compare(a.Name, b.Name) })
	d.SecurityGroups = slices.Clone(d.SecurityGroups)
	slices.SortFunc(d.SecurityGroups, func(a, b intent.SecurityGroupDoc) int { return strings.Compare(a.Name, b.Name) })
	d.Policies = slices.Clone(d.Policies)
	slices.SortFunc(d.Policies, func(a, b intent.PolicyDoc) int { return strings.Compare(a.Name, b.Name) })
	d.Routers = slices.Clone(d.Routers)
	slices.SortFunc(d.Routers, func(a, b intent.RouterDoc) int { return strings.Compare(a.Name, b.Name) })
	d.Services = slices.Clone(d.Services)
	slices.SortFunc(d.Services, func(a, b intent.ServiceDoc) int { return strings.Compare(a.Name, b.Name) })
	return &d
}

// The assembled form decodes to the same document (lists sorted by
// name), validates, and is stable.
func TestRenderRoundTrip(t *testing.T) {
	doc := exampleDoc(t)
	out, err := store.Render(doc)
	if err != nil {
		t.Fatal(err)
	}
	back, err := intent.Decode(out)
	if err != nil {
		t.Fatalf("assembled document does not decode: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, sorted(doc)) {
		t.Errorf("round trip changed the document:\n%s", out)
	}
	if _, err := back.Validate(); err != nil {
		t.Errorf("assembled document invalid: %v", err)
	}
	again, _ := store.Render(back)
	if string(again) != string(out) {
		t.Errorf("Render is not stable:\n%s\n---\n%s", out, again)
	}
	t.Logf("assembled:\n%s", out)
}

func open(t *testing.T, srv *storetest.Server, cfg store.Config) *store.Store {
	t.Helper()
	cfg.URL = srv.URL()
	cfg.Health, cfg.Timeout = 200*time.Millisecond, 500*time.Millisecond
	s, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// raw reads every key under the prefix with its mod revision.
func raw(t *testing.T, srv *storetest.Server) map[string]int64 {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{strings.TrimPrefix(srv.URL(), "etcd://")}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, store.DefaultPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), store.DefaultPrefix)] = kv.ModRevision
	}
	return out
}

func handPut(t *testing.T, srv *storetest.Server, key, value string) {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{strings.TrimPrefix(srv.URL(), "etcd://")}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, store.DefaultPrefix+key, value); err != nil {
		t.Fatal(err)
	}
}

// next waits for the watch's next snapshot.
func next(t *testing.T, ch <-chan store.Event, within time.Duration) store.Snapshot {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch closed")
			}
			if ev.Snapshot != nil {
				return *ev.Snapshot
			}
		case <-deadline:
			t.Fatalf("no snapshot within %v", within)
		}
	}
}

// Put, Get, Watch and the compare-and-swap, on an embedded etcd.
func TestPutGetWatch(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{})
	s := open(t, srv, store.Config{Writer: "test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	if _, _, err := s.Get(ctx); !errors.Is(err, store.ErrNoIntent) {
		t.Fatalf("Get of an empty store: %v, want ErrNoIntent", err)
	}
	events := s.Watch(ctx)
	if snap := next(t, events, 5*time.Second); !errors.Is(snap.Err, store.ErrNoIntent) {
		t.Fatalf("first snapshot of an empty store: %+v, want ErrNoIntent", snap)
	}

	doc := exampleDoc(t)
	rev1, err := s.Put(ctx, doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys := raw(t, srv)
	want := []string{"_revision", "networks/tenant", "policies/admin", "policies/quarantine", "ports/db1", "ports/web1", "ports/web2",
		"routers/edge", "security_groups/db", "security_groups/web", "services/web", "settings"}
	if got := slices.Sorted(mapKeys(keys)); !slices.Equal(got, want) {
		t.Errorf("keys %v\nwant %v", got, want)
	}
	for k, r := range keys {
		if r != rev1 {
			t.Errorf("key %s at revision %d, want all at %d (one transaction)", k, r, rev1)
		}
	}
	got, rev, err := s.Get(ctx)
	if err != nil || rev != rev1 {
		t.Fatalf("Get: revision %d, %v; want %d", rev, err, rev1)
	}
	if !reflect.DeepEqual(got, sorted(doc)) {
		t.Errorf("Get returned another document")
	}
	if snap := next(t, events, time.Second); snap.Revision != rev1 || snap.Err != nil {
		t.Errorf("watch after Put: revision %d, %v; want %d", snap.Revision, snap.Err, rev1)
	}

	// Revoke db's ssh rule: one object key and _revision change.
	doc2 := sorted(doc)
	db := slices.IndexFunc(doc2.SecurityGroups, func(g intent.SecurityGroupDoc) bool { return g.Name == "db" })
	doc2.SecurityGroups = slices.Clone(doc2.SecurityGroups)
	g := &doc2.SecurityGroups[db]
	n := len(g.Rules)
	g.Rules = slices.DeleteFunc(slices.Clone(g.Rules), func(r intent.RuleDoc) bool { return r.Ports == "22" })
	if len(g.Rules) != n-1 {
		t.Fatalf("example changed: db has no ssh rule")
	}
	start := time.Now()
	rev2, err := s.Put(ctx, doc2, rev1)
	if err != nil {
		t.Fatal(err)
	}
	snap := next(t, events, time.Second)
	t.Logf("one rule revoked: watch delivered revision %d %v after Put began", snap.Revision, time.Since(start))
	wantDoc, _ := store.Render(doc2)
	if snap.Revision != rev2 || string(snap.Doc) != string(wantDoc) {
		t.Errorf("watch: revision %d (want %d), document\n%s\nwant\n%s", snap.Revision, rev2, snap.Doc, wantDoc)
	}
	changed := []string{}
	for k, r := range raw(t, srv) {
		if r == rev2 {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	if !slices.Equal(changed, []string{"_revision", "security_groups/db"}) {
		t.Errorf("keys written by a one-rule change: %v", changed)
	}

	// A writer that read revision 1 is refused, nothing written.
	var conflict *store.ConflictError
	if _, err := s.Put(ctx, doc, rev1); !errors.As(err, &conflict) || !errors.Is(err, store.ErrConflict) ||
		conflict.Expected != rev1 || conflict.Current != rev2 {
		t.Errorf("stale Put: %v, want a conflict %d -> %d", err, rev1, rev2)
	} else {
		t.Logf("stale Put refused: %v", err)
	}
	if _, err := s.Put(ctx, doc, 0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("create-only Put over a stored intent: %v, want a conflict", err)
	}
	if _, rev, _ := s.Get(ctx); rev != rev2 {
		t.Errorf("a refused Put wrote: revision %d, want %d", rev, rev2)
	}

	// A bad document is refused whole with its paths; nothing written.
	bad := sorted(doc2)
	bad.SecurityGroups = slices.Clone(bad.SecurityGroups)
	bad.SecurityGroups[db].Rules = slices.Clone(bad.SecurityGroups[db].Rules)
	bad.SecurityGroups[db].Rules[0].RemoteGroup = "wbe"
	bad.Ports = append(slices.Clone(bad.Ports), intent.PortDoc{Name: "new", Network: "tenant", MAC: "02:00:0a:00:00:99"})
	_, err = s.Put(ctx, bad, rev2)
	var list intent.Errors
	if !errors.As(err, &list) || !strings.Contains(err.Error(), `security_groups[db].rules[0].remote_group: unknown group "wbe"`) {
		t.Errorf("bad document: %v, want intent.Errors naming the rule", err)
	}
	if keys := raw(t, srv); keys["ports/new"] != 0 || slices.Max(slices.Collect(mapValues(keys))) != rev2 {
		t.Errorf("a refused document wrote keys: %v", keys)
	}

	// A port removed from the document loses its key; an unchanged Put
	// writes nothing.
	doc3 := sorted(doc2)
	doc3.Ports = slices.DeleteFunc(slices.Clone(doc3.Ports), func(p intent.PortDoc) bool { return p.Name == "web2" })
	doc3.Services = nil // its backends name web2
	rev3, err := s.Put(ctx, doc3, rev2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := raw(t, srv)["ports/web2"]; ok {
		t.Error("ports/web2 still stored after the port left the document")
	}
	if snap := next(t, events, time.Second); snap.Revision != rev3 || strings.Contains(string(snap.Doc), "web2\n") {
		t.Errorf("watch after a removal: revision %d (want %d)\n%s", snap.Revision, rev3, snap.Doc)
	}
	if rev, err := s.Put(ctx, doc3, rev3); err != nil || rev != rev3 {
		t.Errorf("unchanged Put: revision %d, %v; want %d and nothing written", rev, err, rev3)
	}
	if rev, err := s.Put(ctx, doc2, store.Any); err != nil || rev <= rev3 {
		t.Errorf("unconditional Put: %d, %v", rev, err)
	}
	next(t, events, time.Second)

	// Keys written by hand: a value whose name is not its key's, and a
	// key outside the layout, make the snapshot an error naming them.
	handPut(t, srv, "ports/web1", `{"name": "web9", "network": "tenant", "mac": "02:00:0a:00:00:0b"}`)
	snap = next(t, events, time.Second)
	if snap.Err == nil || !strings.Contains(snap.Err.Error(), `ports[web1]: stored value holds the object named "web9"`) {
		t.Errorf("hand-written mismatch: %v", snap.Err)
	}
	handPut(t, srv, "ports/web1", "name: web1\nnetwork: tenant\nmac: \"02:00:0a:00:00:0b\"\nips: [10.0.0.11]\nsecruity_groups: [web]\n")
	snap = next(t, events, time.Second)
	if snap.Err != nil {
		t.Fatalf("a YAML value: %v", snap.Err)
	}
	if _, err := intent.Parse(snap.Doc); err == nil || !strings.Contains(err.Error(), "ports[web1].secruity_groups: unknown field") {
		t.Errorf("hand-written unknown field: %v", err)
	}
	handPut(t, srv, "hosts/h1", "{}")
	if snap := next(t, events, time.Second); snap.Err == nil || !strings.Contains(snap.Err.Error(), `key "hosts/h1" is not part of the intent's layout`) {
		t.Errorf("key outside the layout: %v", snap.Err)
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// A watch says when etcd is lost and, once it is back, reads everything
// again and follows from there.
func TestWatchLosesAndResyncs(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{})
	s := open(t, srv, store.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	doc := exampleDoc(t)
	rev, err := s.Put(ctx, doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	events := s.Watch(ctx)
	if snap := next(t, events, 5*time.Second); snap.Revision != rev {
		t.Fatalf("first snapshot at %d, want %d", snap.Revision, rev)
	}
	srv.Stop()
	stopped := time.Now()
	select {
	case ev := <-events:
		if ev.Connected || ev.Err == nil {
			t.Fatalf("after etcd stopped: %+v, want a lost connection", ev)
		}
		t.Logf("etcd lost after %v: %v", time.Since(stopped), ev.Err)
	case <-time.After(5 * time.Second):
		t.Fatal("etcd stopped, no event within 5 s")
	}
	srv.Restart()
	back := time.Now()
	snap := next(t, events, 10*time.Second)
	t.Logf("etcd back: resynced at revision %d %v after the restart", snap.Revision, time.Since(back))
	if snap.Revision != rev || snap.Err != nil {
		t.Errorf("resync: revision %d, %v; want %d", snap.Revision, snap.Err, rev)
	}
	doc2 := sorted(doc)
	doc2.Ports = slices.DeleteFunc(slices.Clone(doc2.Ports), func(p intent.PortDoc) bool { return p.Name == "web2" })
	doc2.Services = nil // its backends name web2
	rev2, err := s.Put(ctx, doc2, rev)
	if err != nil {
		t.Fatal(err)
	}
	if snap := next(t, events, time.Second); snap.Revision != rev2 {
		t.Errorf("after the resync the watch delivered revision %d, want %d", snap.Revision, rev2)
	}
}

func TestParseURL(t *testing.T) {
	eps, err := store.ParseURL("etcd://10.0.0.1:2379,[fd00::1]:2379")
	if err != nil || !slices.Equal(eps, []string{"10.0.0.1:2379", "[fd00::1]:2379"}) {
		t.Errorf("ParseURL: %v %v", eps, err)
	}
	for _, bad := range []string{"http://h:2379", "etcd://h", "etcd://h:2379/flowgate", "etcd://"} {
		if _, err := store.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}
