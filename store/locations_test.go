package store_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
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

// where is a compact form of the map for comparisons: port -> host.
func where(l store.Locations) map[string]string {
	out := map[string]string{}
	for port, loc := range l.Ports {
		out[port] = loc.Host
	}
	return out
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
