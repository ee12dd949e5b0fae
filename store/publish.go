package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultLeaseTTL is how long a host's locations outlive the host when
// it dies without revoking them, unless configured otherwise.
const DefaultLeaseTTL = 10 * time.Second

// Publisher keeps one host's port locations in etcd, under one lease of
// the host's that one goroutine renews (every third of the TTL) for as
// long as the Publisher runs. Publish makes the host's keys the set it
// is given; the Publisher keeps that set and writes it again whenever the
// store no longer holds it: after a failed write, and after the lease
// ended while the host could not reach etcd (a new lease is granted and
// every key written under it). Close, or the end of the context it was
// made with, revokes the lease, which deletes the host's keys at once; a
// host that dies stops renewing and its keys go when the lease expires.
type Publisher struct {
	s      *Store
	host   string
	prefix string // the host's keys: LOCATIONS/HOST/
	ttl    time.Duration
	reqs   chan publishRequest
	cancel context.CancelFunc
	done   chan struct{}
	// closeErr is the revocation's error, set before done is closed.
	closeErr error
	detached atomic.Bool // stop without revoking (Detach)

	// Owned by run.
	want      publishSet
	lease     clientv3.LeaseID // 0: none granted, or it ended
	dirty     bool             // the store may not hold want
	published bool             // want was written once
}

// publishSet is what one host publishes: ports sorted, without repeats.
type publishSet struct {
	tunnelIP netip.Addr
	ports    []string
}

func (a publishSet) equal(b publishSet) bool {
	return a.tunnelIP == b.tunnelIP && slices.Equal(a.ports, b.ports)
}

type publishRequest struct {
	set   publishSet
	reply chan error
}

// NewPublisher starts publishing host's locations; nothing is written
// until the first Publish. ttl is the lease's (default DefaultLeaseTTL;
// etcd rounds it up to whole seconds and raises it to its minimum, 2 s
// with its default timing). host is the host's name as its ports'
// locations carry it, and its etcd user: with etcd's roles (see
// storetest.EnableAuth) a host may write only under its own name.
func (s *Store) NewPublisher(ctx context.Context, host string, ttl time.Duration) (*Publisher, error) {
	if err := checkHost(host); err != nil {
		return nil, fmt.Errorf("publish locations: %w", err)
	}
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Publisher{
		s: s, host: host, prefix: s.locations + host + "/", ttl: ttl,
		reqs: make(chan publishRequest), cancel: cancel, done: make(chan struct{}),
	}
	go p.run(ctx)
	return p, nil
}

// Publish makes the host's location keys the ports given, each at
// tunnelIP, in one transaction: keys of new ports written, of ports no
// longer bound deleted. An error says that this write failed (etcd
// lost, permission denied); the Publisher keeps the set and writes it
// once etcd takes it. A set equal to the one last written is not
// written again.
func (p *Publisher) Publish(ctx context.Context, tunnelIP netip.Addr, ports []string) error {
	set := publishSet{tunnelIP: tunnelIP, ports: slices.Compact(slices.Sorted(slices.Values(ports)))}
	for _, port := range set.ports {
		if err := checkPort(port); err != nil {
			return fmt.Errorf("publish %s's locations: %w", p.host, err)
		}
	}
	if len(set.ports) > 0 {
		if !tunnelIP.IsValid() {
			return fmt.Errorf("publish %s's locations: no tunnel endpoint for its ports", p.host)
		}
		if tunnelIP.IsUnspecified() || tunnelIP.Zone() != "" {
			return fmt.Errorf("publish %s's locations: tunnel endpoint %s is not an address other hosts can send to", p.host, tunnelIP)
		}
	}
	req := publishRequest{set: set, reply: make(chan error, 1)}
	select {
	case p.reqs <- req:
	case <-p.done:
		return fmt.Errorf("publish %s's locations: the publisher is closed", p.host)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops renewing the lease and revokes it, deleting the host's
// keys; if etcd cannot be told, they go when the lease expires, and the
// error says so.
func (p *Publisher) Close() error {
	p.cancel()
	<-p.done
	return p.closeErr
}

// Detach stops renewing the lease without revoking it: the host's keys
// stay until it expires, so a controller that restarts within the TTL
// republishes them (under a new lease) before any other host drops its
// ports. A controller stopping for an upgrade detaches; one leaving the
// overlay closes.
func (p *Publisher) Detach() {
	p.detached.Store(true)
	p.cancel()
	<-p.done
}

// run owns the lease and the set.
func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(max(p.ttl/3, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if !p.detached.Load() {
				p.closeErr = p.revoke()
			}
			return
		case r := <-p.reqs:
			if p.published && !p.dirty && r.set.equal(p.want) {
				r.reply <- nil
				continue
			}
			p.want, p.dirty = r.set, true
			r.reply <- p.sync(ctx)
		case <-tick.C:
			// Renew even while a write fails: the keys written before
			// must not expire for want of it.
			p.keepAlive(ctx)
			if p.dirty {
				p.sync(ctx) // failed again: the next tick retries
			}
		}
	}
}

// keepAlive renews the lease once. When etcd says it has ended (it did
// not hear from this host within the TTL), the host's keys are gone with
// it: the set is written again under a new one.
func (p *Publisher) keepAlive(ctx context.Context) {
	if p.lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.s.timeout)
	defer cancel()
	if _, err := p.s.client.KeepAliveOnce(ctx, p.lease); errors.Is(err, rpctypes.ErrLeaseNotFound) {
		p.lease, p.dirty = 0, true
	}
	// Other errors: etcd does not answer; try again at the next tick.
}

// sync writes the set, under a new lease if the old one has ended.
func (p *Publisher) sync(ctx context.Context) error {
	err := p.write(ctx)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		p.lease = 0
		err = p.write(ctx)
	}
	p.dirty = err != nil
	p.published = p.published || err == nil
	return err
}

// write makes the host's keys the set, in one transaction, granting a
// lease first if there is none. A key is rewritten when its value or its
// lease is not the one wanted (keys left by an earlier run of this host
// move to this run's lease).
func (p *Publisher) write(ctx context.Context) error {
	if len(p.want.ports) > 0 && p.lease == 0 {
		gctx, cancel := context.WithTimeout(ctx, p.s.timeout)
		resp, err := p.s.client.Grant(gctx, max(1, int64(math.Ceil(p.ttl.Seconds()))))
		cancel()
		if err != nil {
			return fmt.Errorf("publish %s's locations: grant a lease of %v: %w", p.host, p.ttl, err)
		}
		p.lease = resp.ID
	}
	cur, err := p.s.readPrefix(ctx, p.prefix)
	if err != nil {
		return fmt.Errorf("publish %s's locations: %w", p.host, err)
	}
	have := make(map[string]*mvccpb.KeyValue, len(cur.Kvs))
	for _, kv := range cur.Kvs {
		have[string(kv.Key)] = kv
	}
	value := locationJSON(p.host, p.want.tunnelIP)
	var ops []clientv3.Op
	for _, port := range p.want.ports {
		k := p.s.locationKey(p.host, port)
		if kv := have[k]; kv == nil || !bytes.Equal(kv.Value, value) || clientv3.LeaseID(kv.Lease) != p.lease {
			ops = append(ops, clientv3.OpPut(k, string(value), clientv3.WithLease(p.lease)))
		}
		delete(have, k)
	}
	// What is left is no longer bound here (or was never a port key).
	for _, k := range slices.Sorted(maps.Keys(have)) {
		ops = append(ops, clientv3.OpDelete(k))
	}
	if len(ops) == 0 {
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, p.s.timeout)
	defer cancel()
	if _, err := p.s.client.Txn(tctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("publish %s's locations: %w", p.host, txnError(p.s.at(p.prefix), len(ops), err))
	}
	return nil
}

// revoke ends the lease, deleting the host's keys.
func (p *Publisher) revoke() error {
	if p.lease == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.s.timeout)
	defer cancel()
	if _, err := p.s.client.Revoke(ctx, p.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("revoke %s's lease: its locations stay until it expires (within %v): %w", p.host, p.ttl, err)
	}
	return nil
}
