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
	go watchPrefix(ctx, s, s.prefix, &intentMirror{s: s}, ch)
	return ch
}

// A mirror is what a watch keeps of the keys under its prefix, and how
// it reports them: the intent's assembler, the locations' claims.
type mirror[E any] interface {
	// load replaces what is held with a fresh read.
	load(resp *clientv3.GetResponse)
	// apply takes one change from the watch.
	apply(ev *clientv3.Event)
	// current is the event that reports what is held; lost the one that
	// says etcd is lost and why.
	current() E
	lost(err error) E
}

// intentMirror assembles the intent's keys into snapshots.
type intentMirror struct {
	s   *Store
	a   *assembler
	rev int64
}

func (m *intentMirror) load(resp *clientv3.GetResponse) {
	m.a = newAssembler()
	for _, kv := range resp.Kvs {
		m.a.set(m.s.rel(kv.Key), kv.Value)
	}
	m.rev = maxModRevision(resp)
}

func (m *intentMirror) apply(ev *clientv3.Event) {
	k := m.s.rel(ev.Kv.Key)
	if ev.Type == clientv3.EventTypeDelete {
		m.a.remove(k)
	} else {
		m.a.set(k, ev.Kv.Value)
	}
	m.rev = max(m.rev, ev.Kv.ModRevision)
}

func (m *intentMirror) current() Event {
	snap := m.s.snapshot(m.a, m.rev)
	return Event{Snapshot: &snap, Connected: true}
}

func (m *intentMirror) lost(err error) Event { return Event{Connected: false, Err: err} }

// watchPrefix reads the keys under prefix into m, sends what m holds,
// follows the changes, and reads again after a loss, until ctx ends;
// then it closes ch.
func watchPrefix[E any](ctx context.Context, s *Store, prefix string, m mirror[E], ch chan<- E) {
	defer close(ch)
	send := func(ev E) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	connected, reported := false, false
	for ctx.Err() == nil {
		resp, err := s.readPrefix(ctx, prefix)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if connected || !reported {
				if !send(m.lost(err)) {
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
		m.load(resp)
		if !send(m.current()) {
			return
		}
		connected, reported = true, true
		lost, err := follow(ctx, s, prefix, m, resp.Header.Revision, send)
		if ctx.Err() != nil {
			return
		}
		if lost {
			connected = false
			if !send(m.lost(err)) {
				return
			}
		}
		// Not lost (the watch fell behind a compaction): read again.
	}
}

// follow applies the watch's events to m and sends what m holds after
// each response until the watch breaks or a health check fails (lost),
// or the watch needs a fresh read (compaction; not lost).
func follow[E any](ctx context.Context, s *Store, prefix string, m mirror[E], from int64, send func(E) bool) (lost bool, err error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// Watch blocks until etcd has set the watch up, however long etcd is
	// gone, so it runs aside while the health checks go on: a loss in
	// that moment is noticed like any other, and cancelling wctx ends it.
	opened := make(chan clientv3.WatchChan, 1)
	go func() {
		opened <- s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from+1))
	}()
	var wch clientv3.WatchChan // nil, so never ready, until opened
	tick := time.NewTicker(s.health)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case wch = <-opened:
		case wresp, ok := <-wch:
			if !ok {
				return true, fmt.Errorf("watch %s: closed", s.at(prefix))
			}
			if err := wresp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					return false, err
				}
				return true, fmt.Errorf("watch %s: %w", s.at(prefix), err)
			}
			if len(wresp.Events) == 0 {
				continue // progress notification
			}
			for _, ev := range wresp.Events {
				m.apply(ev)
			}
			if !send(m.current()) {
				return false, nil
			}
		case <-tick.C:
			if err := s.probe(ctx, prefix); err != nil {
				if ctx.Err() != nil {
					return false, nil
				}
				return true, err
			}
		}
	}
}

// probe checks that etcd answers a linearizable read (a member cut off
// from its cluster's quorum does not) of a key under prefix, which
// whoever watches the prefix may read.
func (s *Store) probe(ctx context.Context, prefix string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.client.Get(ctx, prefix, clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("%s does not answer: %w", s.at(prefix), err)
	}
	return nil
}
