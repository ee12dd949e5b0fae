package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/store"
)

// state is owned by Run's goroutine.
type state struct {
	c   *Controller
	doc []byte         // the document in force
	in  *intent.Intent // its intent
	// revision is the store revision of doc (etcd mode; 0 with a file):
	// what a PUT's compare-and-swap expects.
	revision int64
	bound    pipeline.Bindings
	// compiled holds the flows of the intent in force: the last set
	// handed to the Syncer and not refused. It compiles the next change
	// at the cost of what changed.
	compiled *pipeline.Incremental
	// hops are the next hops the resolver learned; resolver is told,
	// after each install, which routers to learn them for.
	hops pipeline.NextHops
	// meters are the port meters in force (qos).
	meters map[uint32]openflow.MeterSpec
	// groups are the services' select groups in force.
	groups map[uint32]flows.GroupDesc
	// overlay says where the ports bound on other hosts are (overlay
	// mode: from the store's locations); publisher publishes ours.
	overlay   pipeline.Overlay
	publisher *store.Publisher
	// locations are the store's, as last read, and publishErr the last
	// publication's failure ("" once it succeeded): for the status.
	locations  store.Locations
	published  bool
	publishErr string
	resolver   *resolver
	applied    bool // a set was handed to the Syncer
	// warned is the intent whose warnings were last logged: each
	// document's warnings are logged once, when it is put in force.
	warned *intent.Intent
}

// setBindings takes a new binding list and reports whether the ports the
// compiler sees (iface-id -> ofport) changed.
func (st *state) setBindings(list []ovsdb.Binding) bool {
	bound := pipeline.Bindings(ovsdb.OFPorts(list))
	changed := !maps.Equal(bound, st.bound)
	st.bound = bound
	st.publishPorts()
	return changed
}

// publishPorts updates the port lists of the status and the gauges.
func (st *state) publishPorts() {
	var boundNames, unbound []string
	for _, p := range st.in.Ports {
		if _, ok := st.bound[p.Name]; ok {
			boundNames = append(boundNames, p.Name)
		} else {
			unbound = append(unbound, p.Name)
		}
	}
	st.c.metrics.portsBound.Set(float64(len(boundNames)))
	st.c.metrics.portsUnbound.Set(float64(len(unbound)))
	st.c.setStatus(func(s *Status) { s.PortsBound, s.PortsUnbound = boundNames, unbound })
}

// apply compiles the intent in force with the bindings and installs it.
func (st *state) apply(ctx context.Context, trigger string) ApplyResult {
	return st.install(ctx, trigger, st.doc, st.in)
}

// install makes (doc, in) the intent in force if its flows reach the
// switch, or will once it reconnects. If the switch refuses them, or they
// do not compile, the previous intent and flows stay in force.
func (st *state) install(ctx context.Context, trigger string, doc []byte, in *intent.Intent) ApplyResult {
	start := time.Now()
	res := ApplyResult{Time: start, Trigger: trigger, Warnings: warningList(in)}
	for _, w := range placementWarnings(in, st.c.cfg.Host, st.bound, st.locations) {
		st.c.log.Warn("overlay: " + w)
		res.Warnings = append(res.Warnings, w)
	}
	plan, err := st.compiled.PlanOverlay(in, st.bound, st.hops, st.overlay)
	if err != nil {
		res.Result, res.Error = "refused", fmt.Sprintf("compile: %v", err)
		return st.finish(res, start)
	}
	res.Flows = plan.Flows

	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	// Meters first: the new flows may use them. Meters the new flows no
	// longer use go once the bundle committed.
	meters := portMeterSet(in, st.bound)
	if err := st.c.session.SetMeters(actx, meters); err != nil {
		st.c.log.Warn("port meters not sent; they are sent again on the next connect", "error", err)
	}
	// Groups likewise: the new flows may point at them.
	groups := serviceGroupSet(in, st.bound, st.overlay)
	if err := st.c.session.SetGroups(actx, groups); err != nil {
		st.c.log.Warn("service groups not sent; they are sent again on the next connect", "error", err)
	}
	before := st.c.session.Stats().FlowMods
	changes, err := st.c.syncer.Update(actx, plan.Updates)
	res.Added, res.Modified, res.Deleted = changes.Added, changes.Modified, changes.Deleted
	res.FlowMods = st.c.session.Stats().FlowMods - before
	switch {
	case err == nil:
		res.Result = "applied"
	case isRefusal(err):
		// The Syncer keeps the previous set in force and desired.
		res.Result, res.Error = "refused", err.Error()
		st.c.session.SetMeters(actx, st.meters)
		st.c.session.SetGroups(actx, st.groups)
		return st.finish(res, start)
	case ctx.Err() != nil:
		res.Result, res.Error = "cancelled", err.Error()
		return st.finish(res, start)
	default:
		// Not connected, or the connection dropped mid-bundle: the Syncer
		// installs the new set after the reconnect.
		res.Result, res.Error = "pending", err.Error()
	}
	st.compiled.Commit(plan)
	var gone []uint32
	for id := range st.meters {
		if _, ok := meters[id]; !ok {
			gone = append(gone, id)
		}
	}
	if err := st.c.session.DeleteMeters(actx, gone); err != nil {
		st.c.log.Warn("unused port meters not deleted", "error", err)
	}
	st.meters = meters
	var goneGroups []uint32
	for id := range st.groups {
		if _, ok := groups[id]; !ok {
			goneGroups = append(goneGroups, id)
		}
	}
	if err := st.c.session.DeleteGroups(actx, goneGroups); err != nil {
		st.c.log.Warn("unused service groups not deleted", "error", err)
	}
	st.groups = groups
	st.publishNextHops(in)
	st.doc, st.in, st.applied = doc, in, true
	st.c.current.Store(&applied{doc: doc, in: in, rev: st.revision, overlay: st.overlay, namer: sync.OnceValue(func() *pipeline.CookieNamer { return pipeline.NewCookieNamer(in) })})
	st.publishPorts()
	st.logWarnings(in)
	return st.finish(res, start)
}

// logWarnings logs the warnings of the intent just put in force (once per
// document) and reports them in the status.
func (st *state) logWarnings(in *intent.Intent) {
	if in == st.warned {
		return
	}
	st.warned = in
	list := warningList(in)
	for _, w := range list {
		st.c.log.Warn("intent warning", "source", st.c.sourceName(), "revision", st.revision, "problem", w)
	}
	st.c.setStatus(func(s *Status) { s.IntentWarnings = list })
}

// warningList flattens an intent's warnings into "path: reason" lines.
func warningList(in *intent.Intent) []string {
	var out []string
	for _, w := range in.Warnings {
		out = append(out, w.Error())
	}
	return out
}

func (st *state) finish(res ApplyResult, start time.Time) ApplyResult {
	d := time.Since(start)
	res.Duration = d.String()
	st.c.metrics.applyDuration.Observe(d.Seconds())
	st.c.metrics.applies.WithLabelValues(res.Result).Inc()
	attrs := []any{"trigger", res.Trigger, "result", res.Result, "flows", res.Flows,
		"add", res.Added, "modify", res.Modified, "delete", res.Deleted, "flow_mods", res.FlowMods, "duration", d}
	if res.Error != "" {
		st.c.log.Error("apply", append(attrs, "error", res.Error)...)
	} else {
		st.c.log.Info("apply", attrs...)
	}
	st.c.setStatus(func(s *Status) {
		s.LastApply = &res
		switch res.Result {
		case "applied":
			s.Synced = true
		case "pending", "cancelled":
			s.Synced = false
		} // refused: the previous flows stay in force, as they were
		s.FlowsDesired = st.compiled.Len()
	})
	// Whatever the outcome: the locations taken and the intent in force.
	st.overlayStatus()
	return res
}

// reload reads the intent file (or the store) again. An unchanged
// document is skipped unless forced (SIGHUP); a bad one is refused and
// everything stays.
func (st *state) reload(ctx context.Context, trigger string, force bool) {
	if s := st.c.cfg.Store; s != nil {
		snap, err := s.Read(ctx)
		if err != nil {
			st.unreadable(trigger, 0, err)
			return
		}
		st.fromSnapshot(ctx, trigger, snap, force)
		return
	}
	doc, err := intent.ReadFile(st.c.cfg.IntentPath)
	if err != nil {
		st.unreadable(trigger, 0, err)
		return
	}
	st.take(ctx, trigger, doc, 0, force, func() (*intent.Intent, error) { return intent.Parse(doc) })
}

// unreadable records a reload that found no document to judge.
func (st *state) unreadable(trigger string, rev int64, err error) {
	st.c.metrics.reloads.WithLabelValues("unreadable").Inc()
	st.c.log.Error("intent reload refused; flows unchanged", "trigger", trigger, "error", err)
	st.c.setStatus(func(s *Status) {
		s.LastReload = &ReloadResult{Time: time.Now(), Trigger: trigger, Revision: rev, Error: err.Error()}
	})
}

// take judges a document read from the intent's source (rev is its
// revision in the store; 0 for the file; parse decodes and validates it)
// and puts it in force if it is valid. An unchanged document is skipped unless forced; a bad one is
// refused whole and the flows in force stay.
func (st *state) take(ctx context.Context, trigger string, doc []byte, rev int64, force bool, parse func() (*intent.Intent, error)) {
	if !force && bytes.Equal(doc, st.doc) {
		st.c.metrics.reloads.WithLabelValues("unchanged").Inc()
		st.setRevision(rev)
		return
	}
	in, err := parse()
	if err != nil {
		st.refuse(trigger, rev, err)
		return
	}
	res := st.install(ctx, trigger, doc, in)
	if res.Result == "applied" || res.Result == "pending" {
		st.setRevision(rev)
	}
	st.c.metrics.reloads.WithLabelValues(res.Result).Inc()
	st.c.setStatus(func(s *Status) {
		s.LastReload = &ReloadResult{Time: time.Now(), Trigger: trigger, Revision: rev, Error: res.Error, Warnings: res.Warnings}
	})
}

// refuse records a document that did not validate: every problem is
// logged and reported in the status; nothing changes.
func (st *state) refuse(trigger string, rev int64, err error) {
	st.c.metrics.reloads.WithLabelValues("invalid").Inc()
	errs := problemList(err)
	for _, e := range errs {
		st.c.log.Error("intent refused; flows unchanged", "source", st.c.sourceName(), "revision", rev, "problem", e)
	}
	st.c.setStatus(func(s *Status) {
		s.LastReload = &ReloadResult{Time: time.Now(), Trigger: trigger, Revision: rev, Error: "intent refused", Problems: errs}
	})
}

// setRevision records the store revision of the document in force (file
// mode: 0, nothing to record).
func (st *state) setRevision(rev int64) {
	if rev == 0 || rev == st.revision {
		return
	}
	st.revision = rev
	if cur := st.c.current.Load(); cur != nil && cur.rev != rev {
		next := *cur
		next.rev = rev
		st.c.current.Store(&next)
	}
	st.c.setStatus(func(s *Status) { s.IntentRevision = rev })
}

// problemList flattens intent errors into "path: reason" lines.
func problemList(err error) []string {
	var list intent.Errors
	if errors.As(err, &list) {
		out := make([]string, len(list))
		for i, e := range list {
			out[i] = e.Error()
		}
		return out
	}
	return []string{err.Error()}
}

// afterResync runs when the Syncer brought a (re)connected switch to the
// desired set: a restarted ovs-vswitchd may now forward.
func (st *state) afterResync(ctx context.Context) {
	st.c.setStatus(func(s *Status) { s.Synced = st.applied })
	wait, err := st.c.db.FlowRestoreWait(ctx)
	if err != nil || !wait {
		return
	}
	if err := st.c.db.ClearFlowRestoreWait(ctx); err != nil {
		st.c.log.Error("flows restored but flow-restore-wait could not be cleared; ovs-vswitchd will not forward", "error", err)
		return
	}
	st.c.log.Info("flows restored; cleared flow-restore-wait")
}

// publishNextHops tells the resolver which routers learn their next hop
// under the intent in force, forgets next hops of routers that no longer
// do, and reports them in the status ("" while unknown).
func (st *state) publishNextHops(in *intent.Intent) {
	qs := pipeline.NextHopQueries(in, st.bound)
	if st.publisher != nil {
		// An uplink bound here feeds a router only if it runs here
		// (routers[].host may name another host).
		qs = slices.DeleteFunc(qs, func(q pipeline.NextHopQuery) bool {
			r := in.Router(q.Router)
			return r != nil && placeRouter(*r, st.c.cfg.Host, st.bound, st.locations).runsOn != st.c.cfg.Host
		})
	}
	status := map[string]string{}
	kept := pipeline.NextHops{}
	for _, q := range qs {
		key := q.Key()
		status[key.String()] = ""
		if mac, ok := st.hops[key]; ok {
			kept[key], status[key.String()] = mac, mac.String()
		}
		// The on-link neighbours of the uplink's prefix (as it is now).
		for k, mac := range st.hops {
			if k.Router == q.Router && k.Neighbour.IsValid() && q.OnLink.Contains(k.Neighbour) {
				kept[k], status[k.String()] = mac, mac.String()
			}
		}
	}
	st.hops = kept
	if st.resolver != nil {
		st.resolver.setQueries(qs, pipeline.RouterSides(in, st.bound))
	}
	st.c.setStatus(func(s *Status) { s.NextHops = status })
}

// learnNextHops compiles a newly learned next hop or on-link neighbour
// in, or one the resolver forgot out, together with whatever else the
// resolver has queued meanwhile (a refresh that finds many neighbours
// gone is one apply, not one each).
func (st *state) learnNextHops(ctx context.Context, first learnedHop, queued <-chan learnedHop) {
	hops := maps.Clone(st.hops)
	if hops == nil {
		hops = pipeline.NextHops{}
	}
	trigger := "next hop of router " + first.key.String()
	if first.forget {
		trigger = "forgot " + first.key.String()
	}
	batch := []learnedHop{first}
	for drained := false; !drained; {
		select {
		case l := <-queued:
			batch = append(batch, l)
		default:
			drained = true
		}
	}
	for _, l := range batch {
		if l.forget {
			delete(hops, l.key)
		} else {
			hops[l.key] = l.mac
		}
	}
	if len(batch) > 1 {
		trigger += fmt.Sprintf(" and %d more", len(batch)-1)
	}
	prev := st.hops
	st.hops = hops
	if res := st.apply(ctx, trigger); res.Result == "refused" {
		st.hops = prev
	}
}

// portMeterSet is the meters the bound ports' QoS needs, by meter id.
func portMeterSet(in *intent.Intent, b pipeline.Bindings) map[uint32]openflow.MeterSpec {
	out := map[uint32]openflow.MeterSpec{}
	for _, m := range pipeline.PortMeters(in, b) {
		out[m.ID] = openflow.MeterSpec{Kbps: m.Kbps, BurstKb: m.BurstKb}
	}
	return out
}

// serviceGroupSet is the select groups the services need, by group id.
func serviceGroupSet(in *intent.Intent, b pipeline.Bindings, ov pipeline.Overlay) map[uint32]flows.GroupDesc {
	out := map[uint32]flows.GroupDesc{}
	for _, g := range pipeline.ServiceGroupsOn(in, b, ov) {
		out[g.ID] = g
	}
	return out
}
