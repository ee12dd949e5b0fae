package controller

import (
	"slices"
	"strconv"
	"time"

	"github.com/flowgate/flowgate/intent"
)

// sourceName names where the intent comes from: file:PATH [-> TARGET]
// or etcd://HOSTS/PREFIX.
func (c *Controller) sourceName() string {
	if c.cfg.Store != nil {
		return c.cfg.Store.String()
	}
	return intent.Source(c.cfg.IntentPath)
}

// Status is what GET /v1/status reports.
type Status struct {
	Connected      bool   `json:"connected"`       // OpenFlow session to the bridge is up
	OVSDBConnected bool   `json:"ovsdb_connected"` // OVSDB session is up
	Bridge         string `json:"bridge"`
	IntentSource   string `json:"intent_source"` // file:PATH [-> TARGET] or etcd://HOSTS/PREFIX revision N: the one source of the intent; PUT writes there
	// IntentRevision is the etcd revision of the intent in force (etcd mode).
	IntentRevision int64 `json:"intent_revision,omitempty"`
	// StoreConnected says whether etcd answers (etcd mode only). While it
	// is false the flows in force stay (fail static); when etcd is back
	// the controller reads the intent again and follows it from there.
	StoreConnected *bool    `json:"store_connected,omitempty"`
	OpenFlow       string   `json:"openflow"` // how the switch is reached: connect ADDR or listen ADDR
	Datapath       string   `json:"datapath"`
	PortsBound     []string `json:"ports_bound"`   // intent ports with an Interface and an ofport
	PortsUnbound   []string `json:"ports_unbound"` // intent ports without one (they get no flows)
	FlowsDesired   int      `json:"flows_desired"`
	FlowsInstalled *int     `json:"flows_installed,omitempty"` // read from the switch (API only)
	Synced         bool     `json:"synced"`                    // the flows in force are installed
	// NextHops are the routers that learn their next hop, with its MAC
	// ("" while it is being asked for).
	NextHops   map[string]string `json:"next_hops,omitempty"`
	LastApply  *ApplyResult      `json:"last_apply,omitempty"`
	LastReload *ReloadResult     `json:"last_reload,omitempty"`
	// IntentWarnings are the warnings of the intent in force, one
	// "path: reason" each (a policy rule that never matches).
	IntentWarnings []string `json:"intent_warnings,omitempty"`
	// Overlay is this host's view of the overlay (overlay mode only).
	Overlay *OverlayStatus `json:"overlay,omitempty"`
}

// OverlayStatus is where this host stands among the hosts sharing the
// store.
type OverlayStatus struct {
	Host     string `json:"host"`
	TunnelIP string `json:"tunnel_ip"`
	// LocationsRevision is the etcd revision of the locations in force.
	LocationsRevision int64 `json:"locations_revision"`
	// Hosts are the other hosts with ports bound, each with its tunnel
	// endpoint and how many of the intent's ports it has.
	Hosts map[string]OverlayHost `json:"hosts"`
	// Published says whether this host's ports are in the store as bound
	// now; PublishError is the last failure (retried with the lease).
	Published    bool   `json:"published"`
	PublishError string `json:"publish_error,omitempty"`
	// Contested are ports more than one host claims (a VM moving, or a
	// port bound twice): the newest claim wins, these hosts lost.
	Contested map[string][]string `json:"contested,omitempty"`
	// Routers says where each router runs: "here", or the host.
	Routers map[string]string `json:"routers,omitempty"`
}

// OverlayHost is another host of the overlay.
type OverlayHost struct {
	TunnelIP string `json:"tunnel_ip"`
	Ports    int    `json:"ports"`
}

// ApplyResult describes one attempt to put a flow set in force.
type ApplyResult struct {
	Time    time.Time `json:"time"`
	Trigger string    `json:"trigger"` // start, port bindings, intent file, SIGHUP, api
	// Result is "applied"; "pending" (switch not connected: installed on
	// reconnect); "refused" (did not compile or the switch refused the
	// bundle: the previous flows stay); or "cancelled".
	Result   string `json:"result"`
	Error    string `json:"error,omitempty"`
	Flows    int    `json:"flows"`
	Added    int    `json:"added"`
	Modified int    `json:"modified"`
	Deleted  int    `json:"deleted"`
	FlowMods uint64 `json:"flow_mods"` // flow-mods actually sent to the switch
	Duration string `json:"duration"`
	// Warnings are the document's warnings, one "path: reason" each: it
	// is valid, but something in it is probably not meant.
	Warnings []string `json:"warnings,omitempty"`
}

// ReloadResult describes the latest reload of the intent from its source
// (the file, or a revision from etcd).
type ReloadResult struct {
	Time     time.Time `json:"time"`
	Trigger  string    `json:"trigger"`
	Revision int64     `json:"revision,omitempty"` // etcd mode: the revision read
	Error    string    `json:"error,omitempty"`
	Problems []string  `json:"problems,omitempty"` // one per problem in a refused document
	Warnings []string  `json:"warnings,omitempty"` // one per warning of an accepted document
}

// Status returns a snapshot of the controller's state.
func (c *Controller) Status() Status {
	c.mu.Lock()
	s, session, db := c.status, c.session, c.db
	c.mu.Unlock()
	s.PortsBound = slices.Clone(s.PortsBound)
	s.PortsUnbound = slices.Clone(s.PortsUnbound)
	s.IntentWarnings = slices.Clone(s.IntentWarnings)
	if s.Overlay != nil {
		ov := *s.Overlay // its maps are replaced, never changed
		s.Overlay = &ov
	}
	if s.StoreConnected != nil {
		ok := *s.StoreConnected
		s.StoreConnected = &ok
	}
	if session != nil {
		s.Connected = session.Connected()
	}
	if s.IntentSource != "" {
		// Where the symlinks lead now (a ConfigMap swap re-points them),
		// or the revision in force.
		s.IntentSource = c.sourceName()
		if c.cfg.Store != nil {
			s.IntentSource += " revision " + strconv.FormatInt(s.IntentRevision, 10)
		}
	}
	if db != nil {
		s.OVSDBConnected = db.Connected()
	}
	return s
}

// Revision is the etcd revision of the intent in force (Status's
// IntentRevision without copying the rest: for callers that poll it).
func (c *Controller) Revision() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.IntentRevision
}

func (c *Controller) setStatus(fn func(*Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.status)
}
