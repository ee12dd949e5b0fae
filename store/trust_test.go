package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
)

// With TLS, client certificates and etcd's roles, a host's certificate
// reads and watches the intent but cannot change it; the operator's can.
func TestHostCertificateCannotChangeTheIntent(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{TLS: true})
	srv.EnableAuth("operator", "host1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	as := func(cn string) *store.Store {
		cert, key := srv.Certs.Client(cn)
		return open(t, srv, store.Config{CA: srv.Certs.CA, Cert: cert, Key: key, Writer: cn})
	}
	operator, host := as("operator"), as("host1")

	doc := exampleDoc(t)
	rev, err := operator.Put(ctx, doc, 0)
	if err != nil {
		t.Fatalf("the operator's Put: %v", err)
	}
	got, hrev, err := host.Get(ctx)
	if err != nil || hrev != rev || len(got.Ports) != len(doc.Ports) {
		t.Fatalf("the host's Get: revision %d, %v; want %d", hrev, err, rev)
	}
	events := host.Watch(ctx)
	next(t, events, 5*time.Second)

	changed := sorted(doc)
	changed.SecurityGroups = changed.SecurityGroups[:0:0]
	changed.Ports = nil
	changed.Routers = nil
	changed.Policies, changed.Services = nil, nil
	_, err = host.Put(ctx, changed, rev)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("the host's Put: %v, want permission denied", err)
	}
	t.Logf("host's Put refused: %v", err)
	if _, now, err := operator.Get(ctx); err != nil || now != rev {
		t.Errorf("after the host's refused Put: revision %d, %v; want %d (nothing written)", now, err, rev)
	}
	// Nor may it write a key by hand.
	if _, err := host.Client().Put(ctx, store.DefaultPrefix+"ports/web1", "{}"); err == nil {
		t.Error("the host wrote a key of the intent by hand")
	}

	// The operator's change reaches the host's watch.
	doc2 := sorted(doc)
	doc2.SecurityGroups[0].Rules = doc2.SecurityGroups[0].Rules[1:]
	rev2, err := operator.Put(ctx, doc2, rev)
	if err != nil {
		t.Fatal(err)
	}
	if snap := next(t, events, time.Second); snap.Revision != rev2 {
		t.Errorf("the host's watch: revision %d, want %d", snap.Revision, rev2)
	}

	// Without a client certificate nothing is read.
	anon := open(t, srv, store.Config{CA: srv.Certs.CA})
	if _, _, err := anon.Get(ctx); err == nil {
		t.Error("a client without a certificate read the intent")
	}
	// And a certificate from another CA is refused too.
	other := storetest.NewCerts(t, t.TempDir())
	cert, key := other.Client("operator")
	forged := open(t, srv, store.Config{CA: srv.Certs.CA, Cert: cert, Key: key})
	if _, err := forged.Put(ctx, doc, store.Any); err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("a certificate from another CA: %v, want refused", err)
	}
}

// A host's certificate publishes its own locations and reads everyone's,
// but cannot write another host's, nor the intent; the operator's reads
// the locations and cannot write them.
func TestHostCertificateWritesOnlyItsLocations(t *testing.T) {
	srv := storetest.Start(t, storetest.Options{TLS: true})
	srv.EnableAuth("operator", "host1", "host10")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	as := func(cn string) *store.Store {
		cert, key := srv.Certs.Client(cn)
		return open(t, srv, store.Config{CA: srv.Certs.CA, Cert: cert, Key: key, Writer: cn})
	}
	operator, host1, host10 := as("operator"), as("host1"), as("host10")
	rev, err := operator.Put(ctx, exampleDoc(t), 0)
	if err != nil {
		t.Fatalf("the operator's Put: %v", err)
	}

	events := host10.WatchLocations(ctx)
	waitFor(t, events, 5*time.Second, "no locations at first", placed(map[string]string{}))
	p1 := publisher(t, host1, "host1")
	if err := p1.Publish(ctx, ipA, []string{"web1"}); err != nil {
		t.Fatalf("host1 publishing its own ports: %v", err)
	}
	waitFor(t, events, 5*time.Second, "host1's port seen by host10", placed(map[string]string{"web1": "host1"}))
	if l, err := operator.ReadLocations(ctx); err != nil || l.Ports["web1"].Host != "host1" {
		t.Errorf("the operator's ReadLocations: %v, %v", where(l), err)
	}

	// host1 cannot publish as host10 (the "/" after a host's name keeps
	// host1's prefix off host10's keys) ...
	impostor := publisher(t, host1, "host10")
	err = impostor.Publish(ctx, ipA, []string{"db1"})
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("host1 publishing as host10: %v, want permission denied", err)
	} else {
		t.Logf("host1 publishing as host10 refused: %v", err)
	}
	impostor.Close()
	// ... nor write, by hand, another host's key, a key beside its own
	// prefix, or the intent.
	value := `{"host":"host1","tunnel_ip":"192.0.2.1"}`
	for _, key := range []string{
		store.DefaultLocationPrefix + "host10/db1",
		store.DefaultLocationPrefix + "host1",
		store.DefaultLocationPrefix + "other/db1",
		store.DefaultPrefix + "ports/web1",
	} {
		if _, err := host1.Client().Put(ctx, key, value); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("host1 writing %s: %v, want permission denied", key, err)
		}
	}
	// Its own keys it may write.
	own := store.DefaultLocationPrefix + "host1/db1"
	if _, err := host1.Client().Put(ctx, own, value); err != nil {
		t.Errorf("host1 writing its own %s: %v", own, err)
	}
	if _, err := host1.Client().Delete(ctx, own); err != nil {
		t.Errorf("host1 deleting its own %s: %v", own, err)
	}
	// The operator writes the intent, not the locations.
	if _, err := operator.Client().Put(ctx, own, value); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("the operator writing %s: %v, want permission denied", own, err)
	}
	if _, now, err := operator.Get(ctx); err != nil || now != rev {
		t.Errorf("the intent after the hosts' refused writes: revision %d, %v; want %d", now, err, rev)
	}
	l := waitFor(t, events, 5*time.Second, "only host1's web1", placed(map[string]string{"web1": "host1"}))
	if len(l.Ignored) != 0 {
		t.Errorf("ignored keys: %v", l.Ignored)
	}

	// host1's clean stop revokes its lease, which its role permits.
	if err := p1.Close(); err != nil {
		t.Fatalf("host1's Close: %v", err)
	}
	waitFor(t, events, 5*time.Second, "host1's port gone", placed(map[string]string{}))
}
