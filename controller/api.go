package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/store"
)

// maxIntentBytes bounds a PUT body: the largest document intent accepts.
const maxIntentBytes = intent.MaxDocumentBytes

// serveHTTP starts the API and the metrics listener, if configured. They
// stop when ctx ends.
func (c *Controller) serveHTTP(ctx context.Context, wg *sync.WaitGroup) error {
	c.metrics.registry.MustRegister(newFlowCollector(c))
	metricsHandler := promhttp.HandlerFor(c.metrics.registry, promhttp.HandlerOpts{})
	if c.cfg.API != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/intent", c.getIntent)
		mux.HandleFunc("PUT /v1/intent", c.putIntent)
		mux.HandleFunc("POST /v1/intent", c.postIntent)
		mux.HandleFunc("GET /v1/status", c.getStatus)
		mux.Handle("GET /metrics", metricsHandler)
		if err := c.serve(ctx, wg, "api", c.cfg.API, mux); err != nil {
			return err
		}
	}
	if c.cfg.Metrics != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler)
		if err := c.serve(ctx, wg, "metrics", c.cfg.Metrics, mux); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) serve(ctx context.Context, wg *sync.WaitGroup, key, ep string, h http.Handler) error {
	network, addr, err := httpEndpoint(key, ep)
	if err != nil {
		return err
	}
	if network == "unix" {
		if err := os.MkdirAll(filepath.Dir(addr), 0o755); err != nil {
			return fmt.Errorf("%s socket %s: %w", key, addr, err)
		}
		// A socket left by a controller that died; a live one answers.
		if conn, err := net.Dial("unix", addr); err == nil {
			conn.Close()
			return fmt.Errorf("%s socket %s: another process is serving it", key, addr)
		}
		os.Remove(addr)
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if network == "unix" {
		// Whoever can reach the API can reprogram the switch.
		if err := os.Chmod(addr, 0o600); err != nil {
			l.Close()
			return fmt.Errorf("%s socket %s: %w", key, addr, err)
		}
	}
	lim := c.cfg.HTTP
	l = &capListener{Listener: l, slots: make(chan struct{}, lim.MaxConns), log: c.log, what: key}
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: lim.HeaderTimeout, IdleTimeout: lim.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		// The body has its own deadline (readIntent); this one only
		// stops a client that never finishes its headers and body
		// together from holding a handler forever.
		ReadTimeout: lim.HeaderTimeout + lim.BodyTimeout,
		ErrorLog:    slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	c.log.Info("serving", "what", key, "address", l.Addr().String(), "max_conns", lim.MaxConns,
		"header_timeout", lim.HeaderTimeout, "body_timeout", lim.BodyTimeout, "idle_timeout", lim.IdleTimeout)
	wg.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("serving", "what", key, "error", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		if network == "unix" {
			os.Remove(addr)
		}
	})
	return nil
}

func (c *Controller) getIntent(w http.ResponseWriter, r *http.Request) {
	cur := c.current.Load()
	if cur == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no intent in force yet"})
		return
	}
	// The file as read; from etcd, the assembled document, which is
	// JSON (store.Snapshot.Doc).
	w.Header().Set("Content-Type", "application/yaml")
	if cur.rev != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Flowgate-Intent-Revision", strconv.FormatInt(cur.rev, 10))
	}
	w.Write(cur.doc)
}

func (c *Controller) getStatus(w http.ResponseWriter, r *http.Request) {
	s := c.Status()
	c.mu.Lock()
	session := c.session
	c.mu.Unlock()
	if session != nil && session.Connected() {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if dumped, _, err := session.DumpFlows(ctx); err == nil {
			n := len(dumped)
			s.FlowsInstalled = &n
		}
	}
	writeJSON(w, http.StatusOK, s)
}

// putIntent validates the body and puts it in force as one change; the
// intent file is then rewritten with it (through its symlinks), so the
// file stays the one source of the intent and a restart keeps it. When
// the file cannot be written (read-only, a read-only ConfigMap volume)
// the PUT is refused before anything is applied: a document the file
// would take back at the next change is never put in force.
func (c *Controller) putIntent(w http.ResponseWriter, r *http.Request) {
	doc, in, ok := c.readIntent(w, r)
	if !ok {
		return
	}
	if c.cfg.Store != nil {
		c.putIntentToStore(w, r, doc)
		return
	}
	if _, err := intent.CheckWritable(c.cfg.IntentPath); err != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": fmt.Sprintf(
			"PUT refused, nothing applied: the intent file %s cannot be written (%v); change the intent where the file comes from",
			intent.Source(c.cfg.IntentPath), err)})
		return
	}
	var res ApplyResult
	var saveErr error
	err := c.do(r.Context(), func(st *state) {
		res = st.install(r.Context(), "api", doc, in)
		if res.Result == "applied" || res.Result == "pending" {
			saveErr = intent.WriteFile(c.cfg.IntentPath, doc)
		}
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	code := map[string]int{"applied": http.StatusOK, "pending": http.StatusAccepted,
		"refused": http.StatusConflict}[res.Result]
	if code == 0 {
		code = http.StatusServiceUnavailable
	}
	if saveErr != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"apply": res,
			"error": fmt.Sprintf("applied, but not saved to %s (a restart or file change reverts it): %v", c.cfg.IntentPath, saveErr)})
		return
	}
	writeJSON(w, code, res)
}

// putIntentToStore is PUT in etcd mode: etcd is the one source of the
// intent, so the document is written there first, with a compare-and-swap
// against the revision in force (a PUT based on what GET /v1/intent
// showed cannot undo a change made in etcd since), and then put in force
// in the form the watch will deliver, which then finds nothing to do.
// Nothing is applied when the write fails: 409 on a conflict, 503 when
// etcd does not answer or refuses (a host's read-only identity gets 503
// with etcd's "permission denied").
func (c *Controller) putIntentToStore(w http.ResponseWriter, r *http.Request, body []byte) {
	d, err := intent.Decode(body)
	var canonical []byte
	var in *intent.Intent
	if err == nil {
		canonical, err = store.Render(d)
	}
	if err == nil {
		in, err = intent.Parse(canonical)
	}
	if err != nil { // readIntent validated the body; the stored form must be as valid
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "stored form of the document: " + err.Error()})
		return
	}
	var res ApplyResult
	var putErr error
	var expected, rev int64
	err = c.do(r.Context(), func(st *state) {
		expected = st.revision
		rev, putErr = c.cfg.Store.Put(r.Context(), d, expected)
		if putErr != nil {
			return
		}
		res = st.install(r.Context(), "api", canonical, in)
		if res.Result == "applied" || res.Result == "pending" {
			st.setRevision(rev)
		}
	})
	var conflict *store.ConflictError
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	case errors.As(putErr, &conflict):
		writeJSON(w, http.StatusConflict, map[string]any{"error": fmt.Sprintf(
			"PUT refused, nothing written or applied: %v", putErr), "revision_in_force": expected, "revision_stored": conflict.Current})
		return
	case putErr != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf(
			"PUT refused, nothing written or applied: %v", putErr)})
		return
	}
	code := map[string]int{"applied": http.StatusOK, "pending": http.StatusAccepted,
		"refused": http.StatusConflict}[res.Result]
	if code == 0 {
		code = http.StatusServiceUnavailable
	}
	if res.Result == "refused" || res.Result == "cancelled" {
		res.Error = fmt.Sprintf("written to %s at revision %d, but not applied here: %s", c.cfg.Store, rev, res.Error)
	}
	w.Header().Set("Flowgate-Intent-Revision", strconv.FormatInt(rev, 10))
	writeJSON(w, code, res)
}

// postIntent is PUT, or with ?dry_run=1 the flow diff the document would
// make, changing nothing.
func (c *Controller) postIntent(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("dry_run"); v == "" || v == "0" || v == "false" {
		c.putIntent(w, r)
		return
	}
	_, in, ok := c.readIntent(w, r)
	if !ok {
		return
	}
	var plan DryRun
	var compileErr error
	err := c.do(r.Context(), func(st *state) {
		p, err := st.compiled.PlanOverlay(in, st.bound, st.hops, st.overlay)
		if err != nil {
			compileErr = err
			return
		}
		plan = dryRun(p.ChangeSet(), pipeline.NewCookieNamer(in), pipeline.NewCookieNamer(st.in))
	})
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	case compileErr != nil:
		writeJSON(w, http.StatusConflict, map[string]string{"error": "compile: " + compileErr.Error()})
	default:
		writeJSON(w, http.StatusOK, plan)
	}
}

// DryRun is the change a document would make to the flow table.
type DryRun struct {
	Add     []PlannedFlow `json:"add"`
	Modify  []PlannedFlow `json:"modify"`
	Delete  []PlannedFlow `json:"delete"`
	Summary string        `json:"summary"`
}

// PlannedFlow is one flow of a DryRun, with the object it belongs to.
type PlannedFlow struct {
	Flow   string `json:"flow"`
	Object string `json:"object"`
}

func dryRun(cs flows.ChangeSet, next, prev *pipeline.CookieNamer) DryRun {
	list := func(fs []flows.Flow, namer *pipeline.CookieNamer) []PlannedFlow {
		out := make([]PlannedFlow, len(fs))
		for i, f := range fs {
			out[i] = PlannedFlow{Flow: f.String(), Object: namer.Describe(f.Cookie)}
		}
		return out
	}
	return DryRun{
		Add: list(cs.Add, next), Modify: list(cs.Modify, next), Delete: list(cs.Delete, prev),
		Summary: fmt.Sprintf("%d to add, %d to modify, %d to delete", len(cs.Add), len(cs.Modify), len(cs.Delete)),
	}
}

// readIntent reads and validates a request body; on a bad document it
// answers 400 with one entry per problem. The body must arrive within the
// body timeout: a client trickling bytes is cut off and its connection
// closed.
func (c *Controller) readIntent(w http.ResponseWriter, r *http.Request) ([]byte, *intent.Intent, bool) {
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(c.cfg.HTTP.BodyTimeout))
	doc, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxIntentBytes))
	if err != nil {
		code, reason := http.StatusBadRequest, "reading body: "+err.Error()
		var tooLarge *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooLarge):
			code, reason = http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes, the limit for an intent document", maxIntentBytes)
		case errors.As(err, &ne) && ne.Timeout():
			code, reason = http.StatusRequestTimeout, fmt.Sprintf("body not received within %v", c.cfg.HTTP.BodyTimeout)
		}
		w.Header().Set("Connection", "close")
		writeJSON(w, code, map[string]any{"errors": []*intent.FieldError{{Reason: reason}}})
		return nil, nil, false
	}
	in, err := intent.Parse(doc)
	if err != nil {
		var list intent.Errors
		if !errors.As(err, &list) {
			list = intent.Errors{{Reason: err.Error()}}
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": list})
		return nil, nil, false
	}
	return doc, in, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// capListener holds at most cap(slots) connections open; a connection
// over the cap is closed at once (a flood costs no descriptors beyond the
// cap, and the connections being served are not starved).
type capListener struct {
	net.Listener
	slots chan struct{}
	log   *slog.Logger
	what  string
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: nc, release: func() { <-l.slots }}, nil
		default:
			l.log.Debug("connection over the cap closed", "what", l.what, "max_conns", cap(l.slots))
			nc.Close()
		}
	}
}

// slotConn gives its slot back when it is closed (once).
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
