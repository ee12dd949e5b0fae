package controller

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/store"
)

// In etcd mode (Config.Store) the intent comes from the store's watch
// instead of the file: the first valid snapshot is the intent the
// controller starts with, every later one is judged like a changed
// file, and losing etcd changes nothing but the status (fail static)
// until it is back and the whole intent has been read again.

// firstFromStore waits for the first valid intent from the store. Until
// there is one the controller touches nothing: an etcd that does not
// answer, an empty prefix and a document that does not validate are
// logged, and the next snapshot is awaited (the store is shared by every
// host and fixed from elsewhere, so waiting sees the fix). It returns a
// nil document when ctx ends first.
func (c *Controller) firstFromStore(ctx context.Context, events <-chan store.Event) ([]byte, *intent.Intent, int64) {
	c.log.Info("reading the intent from etcd", "store", c.cfg.Store)
	for {
		var ev store.Event
		select {
		case <-ctx.Done():
			return nil, nil, 0
		case e, ok := <-events:
			if !ok {
				return nil, nil, 0
			}
			ev = e
		}
		c.storeConnection(ev)
		if ev.Snapshot == nil {
			continue
		}
		snap := ev.Snapshot
		err := snap.Err
		var in *intent.Intent
		if err == nil {
			in, err = snap.Intent()
		}
		if err == nil {
			c.log.Info("intent read from etcd", "store", c.cfg.Store, "revision", snap.Revision, "keys", snap.Keys)
			return snap.Doc, in, snap.Revision
		}
		problems := problemList(err)
		for _, p := range problems {
			c.log.Error("intent in etcd refused; nothing programmed until a valid one is stored", "store", c.cfg.Store,
				"revision", snap.Revision, "problem", p)
		}
		c.setStatus(func(s *Status) {
			s.LastReload = &ReloadResult{Trigger: "start", Revision: snap.Revision, Error: "intent refused", Problems: problems}
		})
	}
}

// exportStoreConnected adds flowgate_store_connected to the metrics.
func (c *Controller) exportStoreConnected() {
	c.metrics.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flowgate_store_connected", Help: "1 while etcd, the intent's store, answers (etcd mode only).",
	}, func() float64 {
		if ok := c.Status().StoreConnected; ok != nil && *ok {
			return 1
		}
		return 0
	}))
}

// storeConnection records whether etcd answers and logs the changes. It
// reports whether the connection was just regained.
func (c *Controller) storeConnection(ev store.Event) (regained bool) {
	ok := ev.Connected
	c.mu.Lock()
	was := c.status.StoreConnected
	c.status.StoreConnected = &ok
	c.mu.Unlock()
	switch {
	case !ok && (was == nil || *was):
		c.log.Error("etcd does not answer: the flows in force stay (fail static) until it does", "store", c.cfg.Store, "error", ev.Err)
	case ok && was != nil && !*was:
		c.log.Info("etcd answers again: reading the whole intent again and watching from there", "store", c.cfg.Store)
		return true
	}
	return false
}

// storeEvent takes one event of the store's watch on Run's goroutine.
func (st *state) storeEvent(ctx context.Context, ev store.Event) {
	trigger := "etcd"
	if st.c.storeConnection(ev) {
		trigger = "etcd resync"
	}
	if ev.Snapshot != nil {
		st.fromSnapshot(ctx, trigger, *ev.Snapshot, false)
	}
}

// fromSnapshot judges a snapshot of the store like a reloaded file.
func (st *state) fromSnapshot(ctx context.Context, trigger string, snap store.Snapshot, force bool) {
	switch {
	case errors.Is(snap.Err, store.ErrNoIntent):
		st.unreadable(trigger, snap.Revision, snap.Err)
	case snap.Err != nil:
		st.refuse(trigger, snap.Revision, snap.Err)
	default:
		st.take(ctx, trigger, snap.Doc, snap.Revision, force, snap.Intent)
	}
}
