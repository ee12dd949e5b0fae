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
