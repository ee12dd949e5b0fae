// Package controller is flowgate's reconcile loop: it keeps one bridge's
// flow table equal to pipeline.Compile(intent, port bindings), as the
// intent (a file, or etcd through package store), the API and the ports
// in OVSDB change.
//
// One goroutine (Run's) owns the intent in force and the bindings; every
// change — a new binding list, a reloaded file, an API request — runs on
// it in turn, so changes never interleave and each is applied as one
// OpenFlow bundle or not at all.
package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/store"
)

// applyTimeout bounds one apply. When the switch is not connected the
// Syncer keeps the new set and installs it on the next connect.
const applyTimeout = 10 * time.Second

// Controller programs one bridge. Create it with New, then call Run.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	rundir  string // ovs-vswitchd's run directory

	// Set up by Run (under mu, for Status).
	db      *ovsdb.Client
	session *openflow.Session
	syncer  *openflow.Syncer

	// work carries changes to Run's goroutine.
	work chan func(*state)

	// For readers on other goroutines (API, metrics, Status).
	current atomic.Pointer[applied]
	running atomic.Bool // the API serves and changes are watched
	mu      sync.Mutex
	status  Status
}

// applied is what is in force: the document, its intent and the flows
// compiled from it with the bindings of the moment.
type applied struct {
	doc []byte
	in  *intent.Intent
	rev int64 // its store revision (etcd mode)
	// overlay is the other hosts' ports compiled in with it (overlay
	// mode): where the controller's own answers to them go.
	overlay pipeline.Overlay
	// namer names its cookies for the metrics. It indexes every rule of
	// the intent, which costs more than a small change does, so it is
	// built on the first scrape after an apply, not on the apply.
	namer func() *pipeline.CookieNamer
}

// New checks cfg and returns a controller ready to Run.
func New(cfg Config) (*Controller, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.HTTP = cfg.HTTP.withDefaults()
	return &Controller{cfg: cfg, log: log, metrics: newMetrics(), rundir: cfg.rundir(), work: make(chan func(*state))}, nil
}

// Run loads the intent (refusing to start on a bad one, before touching
// OVS), configures the bridge, and keeps its flows in step until ctx ends.
// On return the flows stay installed and the bridge stays fail-secure.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		doc         []byte
		in          *intent.Intent
		rev         int64
		storeEvents <-chan store.Event
	)
	if c.cfg.Store != nil {
		c.exportStoreConnected()
		storeEvents = c.cfg.Store.Watch(ctx)
		// The watch ends with ctx; wait for it so that the caller may
		// close the store once Run returned.
		defer func() {
			cancel()
			for range storeEvents {
			}
		}()
		if doc, in, rev = c.firstFromStore(ctx, storeEvents); doc == nil {
			return nil
		}
	} else {
		var err error
		doc, err = intent.ReadFile(c.cfg.IntentPath)
		if err != nil {
			return fmt.Errorf("intent: %w", err)
		}
		in, err = intent.Parse(doc)
		if err != nil {
			return fmt.Errorf("intent %s refused, nothing programmed:\n%w", c.cfg.IntentPath, err)
		}
	}
	bridge := c.cfg.Bridge
	if bridge == "" {
		bridge = in.Bridge
	}
	datapath, err := ovsdb.ResolveDatapath(in.Datapath)
	if err != nil {
		return err
	}
	c.setStatus(func(s *Status) {
		s.Bridge, s.Datapath = bridge, datapath
		s.IntentSource, s.IntentRevision = c.sourceName(), rev
		s.OpenFlow = c.openflowEndpoint()
	})

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: stop the helpers, then wait for them

	scfg := openflow.SessionConfig{
		Bridge: bridge, Listen: c.cfg.Listen, Listener: c.cfg.Listener, Dial: c.cfg.Connect,
		Logf: c.logf("openflow"), PacketInRate: c.cfg.PacketInRate,
	}
	if c.cfg.Connect == "" {
		// A listener: only ovs-vswitchd, announcing the bridge's
		// datapath id, may be the switch.
		scfg.VerifyPeer = c.verifyPeer
		scfg.VerifySwitch = c.verifyDatapath(bridge)
		c.warnUnprivilegedPort()
	}
	session, err := openflow.NewSession(scfg)
	if err != nil {
		if c.cfg.Listen != "" {
			// Someone else holds the address the bridge's controller
			// target names: take the target away from them.
			err = c.withdrawTarget(ctx, bridge, datapath, err)
		}
		return err
	}
	c.mu.Lock()
	c.session, c.syncer = session, openflow.NewSyncer(session, c.logf("sync"))
	c.syncer.SetUnmanaged(pipeline.IsLearned) // affinity flows the datapath learned
	c.mu.Unlock()
	c.metrics.watchSession(c.session)
	wg.Go(func() { c.syncer.Run(ctx) })
	hops := newResolver(session, c.logf("nexthop"))
	wg.Go(func() { hops.run(ctx) })

	db, err := ovsdb.Connect(ctx, c.cfg.OVSDB)
	if err != nil {
		return err
	}
	defer db.Close()
	c.mu.Lock()
	c.db = db
	c.mu.Unlock()
	target := c.controllerTarget()
	if err := c.db.EnsureBridge(ctx, bridge, datapath, target); err != nil {
		return err
	}
	// ovs-vswitchd flushes the flow table when a bridge loses its last
	// controller target (or gains its first); the session reads the table
	// back after it connects, so it starts once that has happened.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	if err := c.db.WaitApplied(wctx); err != nil {
		c.log.Warn("ovs-vswitchd has not applied the bridge configuration yet", "error", err)
	}
	wcancel()
	c.log.Info("bridge ready", "bridge", bridge, "datapath", datapath, "fail_mode", "secure", "controller_target", target)
	wg.Go(func() { c.session.Run(ctx) })
	wg.Go(func() { c.handlePacketIns(ctx, hops) })
	if target != "" {
		// While flowgate is stopped, whoever listened on the target's
		// address would be connected by ovs-vswitchd and own the bridge.
		defer c.parkTarget(db, bridge, datapath, target)
	}

	bindings, err := c.db.WatchBindings(ctx, bridge)
	if err != nil {
		return err
	}
	st := &state{c: c, doc: doc, in: in, revision: rev, compiled: pipeline.NewIncremental(), resolver: hops}
	// The first list is the ports that exist now. Compiling without it
	// would remove every port's flows on a controller restart.
	select {
	case list, ok := <-bindings:
		if !ok {
			return ctx.Err()
		}
		st.setBindings(list)
	case <-ctx.Done():
		return nil
	}
	var locations <-chan store.LocationsEvent
	if c.cfg.TunnelIP.IsValid() {
		if locations, err = c.startOverlay(ctx, db, bridge, st); err != nil {
			return err
		}
		defer st.publisher.Detach()
		st.publishLocations(ctx)
	}
	if res := st.apply(ctx, "start"); res.Result == "refused" {
		return fmt.Errorf("intent %s refused, flows unchanged: %s", c.sourceName(), res.Error)
	}

	if err := c.serveHTTP(ctx, &wg); err != nil {
		return err
	}
	var reloads chan string
	if c.cfg.Store == nil {
		reloads = make(chan string, 1)
		if err := watchIntentFile(ctx, &wg, c.cfg.IntentPath, reloads, c.log); err != nil {
			return err
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	c.running.Store(true)
	defer c.running.Store(false)
	c.log.Info("controller running", "bridge", bridge, "intent", c.sourceName())
	for {
		select {
		case <-ctx.Done():
			c.log.Info("controller stopping; flows stay installed, bridge stays fail-secure")
			return nil
		case list, ok := <-bindings:
			if !ok {
				return nil
			}
			if st.setBindings(list) {
				st.apply(ctx, "port bindings")
				st.publishLocations(ctx)
			}
		case ev, ok := <-locations:
			if !ok {
				return nil
			}
			if st.locationsEvent(ev) {
				st.apply(ctx, "port locations")
			}
		case why := <-reloads:
			st.reload(ctx, why, false)
		case ev, ok := <-storeEvents:
			if !ok {
				return nil
			}
			st.storeEvent(ctx, ev)
		case <-hup:
			st.reload(ctx, "SIGHUP", true)
		case <-c.syncer.Resynced():
			st.afterResync(ctx)
		case l := <-hops.learned:
			st.learnNextHops(ctx, l, hops.learned)
		case fn := <-c.work:
			fn(st)
		}
	}
}

// openflowEndpoint says how the switch is reached, for the status.
func (c *Controller) openflowEndpoint() string {
	if c.cfg.Connect != "" {
		return "connect " + c.cfg.Connect
	}
	return "listen " + c.controllerTarget()
}

// parkedTarget is where a listening controller points the bridge while
// it is stopped: a unix socket in ovs-vswitchd's run directory, which
// only root can create, that nobody serves. The target is parked rather
// than removed because ovs-vswitchd flushes a bridge's flows when it
// loses its last controller target, and the flows must stay.
func (c *Controller) parkedTarget(bridge string) string {
	return "unix:" + filepath.Join(c.rundir, bridge+".flowgate-stopped")
}

// parkTarget points the bridge's controller target at parkedTarget.
func (c *Controller) parkTarget(db *ovsdb.Client, bridge, datapath, was string) error {
	parked := c.parkedTarget(bridge)
	if fi, err := os.Stat(c.rundir); err == nil && fi.Mode().Perm()&0o022 != 0 {
		c.log.Warn("the OVS run directory is writable by other users; they could serve the parked controller target", "dir", c.rundir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.EnsureBridge(ctx, bridge, datapath, parked); err != nil {
		c.log.Error("could not park the bridge's controller target; whoever listens on it could steer the bridge", "target", was, "error", err)
		return err
	}
	c.log.Info("controller target parked where only root could serve it; the bridge stays fail-secure with its flows", "was", was, "parked", parked)
	return nil
}

// withdrawTarget runs when the listen address is taken: it parks the
// bridge's controller target (the bridge stays fail-secure with its
// flows) so that the process holding the address cannot steer it.
func (c *Controller) withdrawTarget(ctx context.Context, bridge, datapath string, cause error) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := ovsdb.Connect(wctx, c.cfg.OVSDB)
	if err == nil {
		defer db.Close()
		err = c.parkTarget(db, bridge, datapath, c.cfg.Listen)
	}
	if err != nil {
		return fmt.Errorf("%w (and the bridge's controller target could not be parked: %v)", cause, err)
	}
	return fmt.Errorf("%w; parked bridge %s's controller target so that whoever holds %s cannot steer it", cause, bridge, c.cfg.Listen)
}

// warnUnprivilegedPort says when a TCP listen port is one any local user
// may bind: after a crash (no clean stop removes the target) someone
// could serve the controller target until flowgate starts again.
func (c *Controller) warnUnprivilegedPort() {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(c.controllerTarget(), "tcp:"))
	if n, perr := strconv.Atoi(port); err == nil && perr == nil && n >= 1024 {
		c.log.Warn("the OpenFlow listen port is unprivileged: should flowgate die without stopping, another local user could bind it and be connected by ovs-vswitchd; prefer connect (the default) or a port below 1024",
			"target", c.controllerTarget())
	}
}

func (c *Controller) controllerTarget() string {
	switch {
	case c.cfg.Listener != nil:
		return "tcp:" + c.cfg.Listener.Addr().String()
	case c.cfg.Listen != "":
		return c.cfg.Listen
	}
	return "" // active connection to the management socket
}

// do runs fn on Run's goroutine and waits for it.
func (c *Controller) do(ctx context.Context, fn func(*state)) error {
	done := make(chan struct{})
	select {
	case c.work <- func(st *state) { defer close(done); fn(st) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitSynced returns once the intent in force is installed for the ports
// bound now, the switch is connected, every router that learns its next
// hop has learned it, and the API answers and changes are watched (the
// first apply comes before both, so synced alone does not say so).
func (c *Controller) WaitSynced(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := c.Status(); s.Synced && s.Connected && nextHopsKnown(s) && c.running.Load() {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			s := c.Status()
			return fmt.Errorf("controller not in sync (connected %v, last apply %+v): %w", s.Connected, s.LastApply, ctx.Err())
		}
	}
}

func (c *Controller) logf(component string) func(string, ...any) {
	return func(format string, args ...any) {
		c.log.Info(fmt.Sprintf(format, args...), "component", component)
	}
}

func isRefusal(err error) bool {
	var refused *openflow.ApplyError
	return errors.As(err, &refused)
}

// nextHopsKnown reports whether every learned next hop is known.
func nextHopsKnown(s Status) bool {
	for _, mac := range s.NextHops {
		if mac == "" {
			return false
		}
	}
	return true
}
