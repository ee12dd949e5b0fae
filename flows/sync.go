package flows

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Syncer keeps one bridge's flow table equal to a desired flow set. It
// owns the whole table: flows it did not ask for are deleted.
//
// All state lives in the goroutine running Run; SetDesired hands it a new
// set and waits for the outcome. The Syncer's view of the installed flows
// changes only after the switch committed a bundle, and is rebuilt from a
// dump after every (re)connect, so an unchanged desired set after a
// controller restart costs zero flow-mods and a restarted ovs-vswitchd
// gets everything back.
type Syncer struct {
	session  *Session
	reqs     chan syncRequest
	resynced chan struct{}
	logf     func(format string, args ...any)
}

type syncRequest struct {
	ctx    context.Context
	flows  []Flow
	result chan syncResult
}

// NewSyncer returns a Syncer on top of session; the caller runs both.
// logf, when non-nil, receives one line per resync.
func NewSyncer(session *Session, logf func(format string, args ...any)) *Syncer {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Syncer{session: session, reqs: make(chan syncRequest), resynced: make(chan struct{}, 1), logf: logf}
}

// Resynced receives a notice each time the table was brought to the
// desired set after a (re)connect. A controller waits for it before it
// lets a restarted ovs-vswitchd forward (flow-restore-wait).
func (y *Syncer) Resynced() <-chan struct{} { return y.resynced }

// Changes counts the flow-mods of the change set one SetDesired sent.
type Changes struct {
	Added, Modified, Deleted int
}

// SetDesired makes flows the bridge's flow table, in one bundle, and
// reports the change set it sent. Flows with the same table, priority and
// match must be identical (see Dedupe). If the switch refuses the bundle,
// the previous table stays in force and stays desired: a reconnect does
// not retry what was refused. If the error is a disconnect, the new set
// is installed after the reconnect.
func (y *Syncer) SetDesired(ctx context.Context, flows []Flow) (Changes, error) {
	flows, err := Dedupe(slices.Clone(flows))
	if err != nil {
		return Changes{}, fmt.Errorf("bridge %s: desired flows: %w", y.session.cfg.Bridge, err)
	}
	req := syncRequest{ctx: ctx, flows: flows, result: make(chan syncResult, 1)}
	select {
	case y.reqs <- req:
	case <-ctx.Done():
		return Changes{}, ctx.Err()
	}
	select {
	case r := <-req.result:
		return r.changes, r.err
	case <-ctx.Done():
		return Changes{}, ctx.Err()
	}
}

type syncResult struct {
	changes Changes
	err     error
}

// syncState is owned by Run's goroutine.
type syncState struct {
	desired     []Flow
	haveDesired bool   // SetDesired was called: until then, change nothing
	installed   []Flow // valid only when known
	known       bool   // installed reflects the switch
}

// Run serves SetDesired and resynchronises after every connect of the
// session, until ctx ends. It returns ctx's error.
func (y *Syncer) Run(ctx context.Context) error {
	var st syncState
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-y.session.Connects():
			st.known = false
			if _, err := y.resync(ctx, &st); err != nil {
				y.logf("bridge %s: resync after connect: %v", y.session.cfg.Bridge, err)
			}
		case req := <-y.reqs:
			previous, had := st.desired, st.haveDesired
			st.desired, st.haveDesired = req.flows, true
			changes, err := y.apply(req.ctx, &st)
			var refused *ApplyError
			if errors.As(err, &refused) {
				y.restore(req.ctx, &st, previous, had)
			}
			req.result <- syncResult{changes, err}
		}
	}
}

// restore makes the set in force before a refused one desired again, and
// brings the switch back to it if the refused attempt began with a fresh
// read that showed the switch elsewhere (normally nothing to send).
func (y *Syncer) restore(ctx context.Context, st *syncState, previous []Flow, had bool) {
	st.desired, st.haveDesired = previous, had
	if had && st.known {
		if _, err := y.push(ctx, st, Diff(st.desired, st.installed)); err != nil {
			y.logf("bridge %s: back to the set in force after a refusal: %v", y.session.cfg.Bridge, err)
		}
	}
}

// apply brings the switch from the known installed view to st.desired,
// reading the switch first when the view is not known.
func (y *Syncer) apply(ctx context.Context, st *syncState) (Changes, error) {
	if !st.known {
		return y.resync(ctx, st)
	}
	return y.push(ctx, st, Diff(st.desired, st.installed))
}

// resync dumps the switch's table, then pushes the difference. Before
// the first SetDesired it only reads: a controller that has just started
// must not flush the flows it is about to recompute.
func (y *Syncer) resync(ctx context.Context, st *syncState) (Changes, error) {
	// Wait for a connection first: its connect notice is posted before
	// the session publishes it, so the notice is pending now and the dump
	// below (which reads the newest connection) covers it. Without the
	// wait, a first SetDesired racing the first connect resynced twice.
	if _, err := y.session.current(ctx); err != nil {
		return Changes{}, err
	}
	select {
	case <-y.session.Connects():
	default:
	}
	dumped, _, err := y.session.DumpFlows(ctx)
	if err != nil {
		return Changes{}, err
	}
	st.installed, st.known = dumped, true
	if !st.haveDesired {
		y.logf("bridge %s: resync: %d flows installed, no desired set yet", y.session.cfg.Bridge, len(dumped))
		return Changes{}, nil
	}
	cs := Diff(st.desired, dumped)
	y.logf("bridge %s: resync: %d installed, %d desired: %d to add, %d to modify, %d to delete",
		y.session.cfg.Bridge, len(dumped), len(st.desired), len(cs.Add), len(cs.Modify), len(cs.Delete))
	changes, err := y.push(ctx, st, cs)
	if err != nil {
		return changes, err
	}
	select {
	case y.resynced <- struct{}{}:
	default:
	}
	return changes, nil
}

func (y *Syncer) push(ctx context.Context, st *syncState, cs ChangeSet) (Changes, error) {
	changes := Changes{Added: len(cs.Add), Modified: len(cs.Modify), Deleted: len(cs.Delete)}
	if cs.Empty() {
		return changes, nil
	}
	err := y.session.Apply(ctx, cs)
	var refused *ApplyError
	switch {
	case err == nil:
		st.installed = st.desired
	case errors.As(err, &refused):
		// The switch discarded the bundle: the view is still right.
	default:
		// Lost connection or cancelled mid-bundle: the switch may or may
		// not have committed, so read it again before the next change.
		st.known = false
	}
	return changes, err
}
