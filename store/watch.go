package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is what Watch reports: a new snapshot of the intent, a change of
// the connection to etcd, or both.
type Event struct {
	// Snapshot is the intent after the first read, after every committed
	// change under the prefix, and after every resync; nil when only the
	// connection changed.
	Snapshot *Snapshot
	// Connected is false from the moment etcd stops answering (a request
	// timed out, the watch broke) until it answers again.
	Connected bool
	// Err says why etcd counts as lost.
	Err error
}

// Watch follows the intent until ctx ends, then closes the channel. It
// reads every key once (the first Event carries the intent as stored,
// or says etcd cannot be reached), then watches the prefix from that
// revision and sends a snapshot after each committed revision: the keys
// of one transaction arrive together, so a Put is one snapshot. Every
// Health interval it checks that etcd answers; when it does not, or the
// watch breaks, it sends Connected false and tries again until etcd is
// back, then reads everything again (a resync: whatever changed
// meanwhile is in that snapshot) and watches from there.
//
// The caller must keep receiving: Watch blocks until each event is taken.
func (s *Store) Watch(ctx context.Context) <-chan Event {
	ch := make(chan Event)
	go s.watch(ctx, ch)
	return ch
}

func (s *Store) watch(ctx context.Context, ch chan<- Event) {
	defer close(ch)
	send := func(ev Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	connected, reported := false, false
	for ctx.Err() == nil {
		resp, err := s.read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if connected || !reported {
				if !send(Event{Connected: false, Err: err}) {
					return
				}
			}
			connected, reported = false, true
			select {
			case <-time.After(s.health):
			case <-ctx.Done():
				return
			}
			continue
		}
		a := newAssembler()
		for _, kv := range resp.Kvs {
			a.set(s.rel(kv.Key), kv.Value)
		}
		snap := s.snapshot(a, maxModRevision(resp))
		if !send(Event{Snapshot: &snap, Connected: true}) {
			return
		}
		connected, reported = true, true
		lost, err := s.follow(ctx, a, resp.Header.Revision, send)
		if ctx.Err() != nil {
			return
		}
		if lost {
			connected = false
			if !send(Event{Connected: false, Err: err}) {
				return
			}
		}
		// Not lost (the watch fell behind a compaction): read again.
	}
}

// follow applies the watch's events to a and sends a snapshot per
// response until the watch breaks or a health check fails (lost), or the
// watch needs a fresh read (compaction; not lost).
func (s *Store) follow(ctx context.Context, a *assembler, from int64, send func(Event) bool) (lost bool, err error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// Watch blocks until etcd has set the watch up, however long etcd is
	// gone, so it runs aside while the health checks go on: a loss in
	// that moment is noticed like any other, and cancelling wctx ends it.
	opened := make(chan clientv3.WatchChan, 1)
	go func() {
		opened <- s.client.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(from+1))
	}()
	var wch clientv3.WatchChan // nil, so never ready, until opened
	tick := time.NewTicker(s.health)
	defer tick.Stop()
	rev := int64(0)
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case wch = <-opened:
		case wresp, ok := <-wch:
			if !ok {
				return true, fmt.Errorf("watch %s: closed", s)
			}
			if err := wresp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					return false, err
				}
				return true, fmt.Errorf("watch %s: %w", s, err)
			}
			if len(wresp.Events) == 0 {
				continue // progress notification
			}
			for _, ev := range wresp.Events {
				k := s.rel(ev.Kv.Key)
				if ev.Type == clientv3.EventTypeDelete {
					a.remove(k)
				} else {
					a.set(k, ev.Kv.Value)
				}
				rev = max(rev, ev.Kv.ModRevision)
			}
			snap := s.snapshot(a, rev)
			if !send(Event{Snapshot: &snap, Connected: true}) {
				return false, nil
			}
		case <-tick.C:
			if err := s.probe(ctx); err != nil {
				if ctx.Err() != nil {
					return false, nil
				}
				return true, err
			}
		}
	}
}

// probe checks that etcd answers a linearizable read (a member cut off
// from its cluster's quorum does not).
func (s *Store) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.client.Get(ctx, s.prefix+revisionKey, clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("%s does not answer: %w", s, err)
	}
	return nil
}
