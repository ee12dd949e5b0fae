package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
)

// maxIntentBytes bounds a PUT body; intents of thousands of ports are a
// few hundred KiB.
const maxIntentBytes = 16 << 20

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
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	c.log.Info("serving", "what", key, "address", l.Addr().String())
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
	w.Header().Set("Content-Type", "application/yaml")
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
// intent file is then rewritten with it, so a restart keeps it.
func (c *Controller) putIntent(w http.ResponseWriter, r *http.Request) {
	doc, in, ok := readIntent(w, r)
	if !ok {
		return
	}
	var res ApplyResult
	var saveErr error
	err := c.do(r.Context(), func(st *state) {
		res = st.install(r.Context(), "api", doc, in)
		if res.Result == "applied" || res.Result == "pending" {
			saveErr = writeFileAtomic(c.cfg.IntentPath, doc)
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

// postIntent is PUT, or with ?dry_run=1 the flow diff the document would
// make, changing nothing.
func (c *Controller) postIntent(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("dry_run"); v == "" || v == "0" || v == "false" {
		c.putIntent(w, r)
		return
	}
	_, in, ok := readIntent(w, r)
	if !ok {
		return
	}
	var plan DryRun
	var compileErr error
	err := c.do(r.Context(), func(st *state) {
		p, err := st.compiled.Plan(in, st.bound)
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
// answers 400 with one entry per problem.
func readIntent(w http.ResponseWriter, r *http.Request) ([]byte, *intent.Intent, bool) {
	doc, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxIntentBytes))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []*intent.FieldError{{Reason: "reading body: " + err.Error()}}})
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

// writeFileAtomic replaces path with data by renaming a temporary file in
// the same directory, so a reader (the file watcher, an editor) never sees
// half a document.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flowgate-intent-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
