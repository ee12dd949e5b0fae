package openflow

import (
	"context"
	"errors"
	"fmt"
	"github.com/flowgate/flowgate/flows"
	"maps"
	"slices"
)

// Syncer keeps one bridge's flow table equal to a desired flow set. It
// owns the whole table: flows it did not ask for are deleted, except those
// SetUnmanaged leaves to someone else (the datapath's learned flows).
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
	// unmanaged is SetUnmanaged's predicate; nil: every flow is managed.
	unmanaged func(*flows.Flow) bool
}

type syncRequest struct {
	ctx     context.Context
	replace bool           // flows is the whole desired set
	list    []flows.Flow   // when replace
	updates []flows.Update // otherwise
	result  chan syncResult
}

// NewSyncer returns a Syncer on top of session; the caller runs both.
// logf, when non-nil, receives one line per resync.
func NewSyncer(session *Session, logf func(format string, args ...any)) *Syncer {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Syncer{session: session, reqs: make(chan syncRequest), resynced: make(chan struct{}, 1), logf: logf}
}

// SetUnmanaged tells the Syncer which flows on the switch are not its
// own: typically the flows the datapath adds itself with a learn action
// (for the pipeline: table 42 with a cookie that is not an infra one).
// A resync, which reads the table after every (re)connect, leaves the
// flows for which unmanaged returns true out of its view of the switch:
// it neither deletes them nor counts them as installed (in Changes or its
// log), so they survive a controller restart or a reconnect. The Syncer
// never sends a flow-mod for them: it only sends the difference between
// its view and the desired set. A desired flow with the key of an
// unmanaged one is added over it.
//
// unmanaged sees every dumped flow, in Run's goroutine, and must not keep
// it or block. nil (the default) means the Syncer owns every flow. Call
// SetUnmanaged before Run.
func (y *Syncer) SetUnmanaged(unmanaged func(*flows.Flow) bool) { y.unmanaged = unmanaged }

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
func (y *Syncer) SetDesired(ctx context.Context, set []flows.Flow) (Changes, error) {
	set, err := flows.Dedupe(slices.Clone(set))
	if err != nil {
		return Changes{}, fmt.Errorf("bridge %s: desired flows: %w", y.session.cfg.Bridge, err)
	}
	return y.send(ctx, syncRequest{ctx: ctx, replace: true, list: set})
}

// Update changes the desired flows of the given keys and brings the
// switch there in one bundle, like SetDesired, at the cost of the keys
// named: the Syncer diffs only those against its view of the switch. On
// a refusal the keys go back to their previous desired flows.
func (y *Syncer) Update(ctx context.Context, updates []flows.Update) (Changes, error) {
	return y.send(ctx, syncRequest{ctx: ctx, updates: updates})
}

func (y *Syncer) send(ctx context.Context, req syncRequest) (Changes, error) {
	req.result = make(chan syncResult, 1)
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

// syncState is owned by Run's goroutine. Both maps are by Key; flows are
// shared, never modified.
type syncState struct {
	desired     map[string]*flows.Flow
	haveDesired bool                   // a set was given: until then, change nothing
	installed   map[string]*flows.Flow // valid only when known
	known       bool                   // installed reflects the switch
}

// Run serves SetDesired and Update, and resynchronises after every
// connect of the session, until ctx ends. It returns ctx's error.
func (y *Syncer) Run(ctx context.Context) error {
	st := syncState{desired: map[string]*flows.Flow{}}
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
			updates := req.updates
			if req.replace {
				updates = replacement(st.desired, req.list)
			}
			previous := make([]flows.Update, len(updates))
			for i, u := range updates {
				previous[i] = flows.Update{Key: u.Key, Flow: st.desired[u.Key]}
			}
			had := st.haveDesired
			st.set(updates)
			st.haveDesired = true
			changes, err := y.apply(req.ctx, &st, updates)
			var refused *ApplyError
			if errors.As(err, &refused) {
				st.set(previous)
				st.haveDesired = had
				y.restore(req.ctx, &st, previous)
			}
			req.result <- syncResult{changes, err}
		}
	}
}

// replacement is the updates that turn desired into the set fs.
func replacement(desired map[string]*flows.Flow, fs []flows.Flow) []flows.Update {
	us := make([]flows.Update, 0, len(fs))
	next := make(map[string]bool, len(fs))
	for i := range fs {
		k := fs[i].Key()
		next[k] = true
		us = append(us, flows.Update{Key: k, Flow: &fs[i]})
	}
	for k := range desired {
		if !next[k] {
			us = append(us, flows.Update{Key: k})
		}
	}
	flows.SortUpdates(us)
	return us
}

func (st *syncState) set(updates []flows.Update) {
	for _, u := range updates {
		if u.Flow == nil {
			delete(st.desired, u.Key)
		} else {
			st.desired[u.Key] = u.Flow
		}
	}
}

// restore brings the switch back to the set in force before a refused
// one if the refused attempt began with a fresh read that showed the
// switch elsewhere (normally nothing to send).
func (y *Syncer) restore(ctx context.Context, st *syncState, previous []flows.Update) {
	if st.haveDesired && st.known {
		if _, err := y.push(ctx, st, st.diff(previous)); err != nil {
			y.logf("bridge %s: back to the set in force after a refusal: %v", y.session.cfg.Bridge, err)
		}
	}
}

// apply brings the switch from the known installed view to st.desired for
// the keys of updates, reading the switch first when the view is not
// known.
func (y *Syncer) apply(ctx context.Context, st *syncState, updates []flows.Update) (Changes, error) {
	if !st.known {
		return y.resync(ctx, st)
	}
	return y.push(ctx, st, st.diff(updates))
}

// diff is the change set for the keys of updates: desired vs installed.
func (st *syncState) diff(updates []flows.Update) flows.KeyedChanges {
	var cs flows.KeyedChanges
	for _, u := range updates {
		want, have := st.desired[u.Key], st.installed[u.Key]
		if want != nil && have != nil && want != have && want.Cookie == have.Cookie && flows.SameActions(want.Actions, have.Actions) {
			// The same flow in new storage: the view shares it, and the
			// old copy can go.
			st.installed[u.Key] = want
			continue
		}
		cs.Note(u.Key, want, have)
	}
	cs.SortAll()
	return cs
}

// resync dumps the switch's table, then pushes the difference. Before
// the first SetDesired it only reads: a controller that has just started
// must not flush the flows it is about to recompute.
func (y *Syncer) resync(ctx context.Context, st *syncState) (Changes, error) {
	// One resync per connect: wait for a connection, whose connect notice
	// is posted before the session publishes it, so the notice is pending
	// now and the dump below (of the newest connection) answers it.
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
	st.installed = make(map[string]*flows.Flow, len(dumped))
	unmanaged := 0
	for i := range dumped {
		if y.unmanaged != nil && y.unmanaged(&dumped[i]) {
			unmanaged++
			continue
		}
		st.installed[dumped[i].Key()] = &dumped[i]
	}
	st.known = true
	if !st.haveDesired {
		y.logf("bridge %s: resync: %d flows installed (and %d unmanaged), no desired set yet", y.session.cfg.Bridge, len(st.installed), unmanaged)
		return Changes{}, nil
	}
	var cs flows.KeyedChanges
	for k, want := range st.desired {
		cs.Note(k, want, st.installed[k])
	}
	for k, have := range st.installed {
		if st.desired[k] == nil {
			cs.Note(k, nil, have)
		}
	}
	cs.SortAll()
	y.logf("bridge %s: resync: %d installed (and %d unmanaged), %d desired: %d to add, %d to modify, %d to delete",
		y.session.cfg.Bridge, len(st.installed), unmanaged, len(st.desired), len(cs.Add), len(cs.Modify), len(cs.Delete))
	changes, err := y.push(ctx, st, cs)
	if err != nil {
		return changes, err
	}
	// The switch holds the desired set: share its flows rather than keep
	// the dumped copies.
	st.installed = maps.Clone(st.desired)
	select {
	case y.resynced <- struct{}{}:
	default:
	}
	return changes, nil
}

func (y *Syncer) push(ctx context.Context, st *syncState, cs flows.KeyedChanges) (Changes, error) {
	changes := Changes{Added: len(cs.Add), Modified: len(cs.Modify), Deleted: len(cs.Delete)}
	if cs.Empty() {
		return changes, nil
	}
	err := y.session.Apply(ctx, cs.ChangeSet)
	var refused *ApplyError
	switch {
	case err == nil:
		for _, k := range cs.Keys {
			if f := st.desired[k]; f != nil {
				st.installed[k] = f
			} else {
				delete(st.installed, k)
			}
		}
	case errors.As(err, &refused):
		// The switch discarded the bundle: the view is still right.
	default:
		// Lost connection or cancelled mid-bundle: the switch may or may
		// not have committed, so read it again before the next change.
		st.known = false
	}
	return changes, err
}
