package controller

import (
	"slices"
	"time"

	"github.com/flowgate/flowgate/intent"
)

// Status is what GET /v1/status reports.
type Status struct {
	Connected      bool          `json:"connected"`       // OpenFlow session to the bridge is up
	OVSDBConnected bool          `json:"ovsdb_connected"` // OVSDB session is up
	Bridge         string        `json:"bridge"`
	IntentSource   string        `json:"intent_source"` // file:PATH [-> TARGET]: the one source of the intent; PUT writes there
	OpenFlow       string        `json:"openflow"`      // how the switch is reached: connect ADDR or listen ADDR
	Datapath       string        `json:"datapath"`
	PortsBound     []string      `json:"ports_bound"`   // intent ports with an Interface and an ofport
	PortsUnbound   []string      `json:"ports_unbound"` // intent ports without one (they get no flows)
	FlowsDesired   int           `json:"flows_desired"`
	FlowsInstalled *int          `json:"flows_installed,omitempty"` // read from the switch (API only)
	Synced         bool          `json:"synced"`                    // the flows in force are installed
	LastApply      *ApplyResult  `json:"last_apply,omitempty"`
	LastReload     *ReloadResult `json:"last_reload,omitempty"`
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
}

// ReloadResult describes the latest reload of the intent file.
type ReloadResult struct {
	Time     time.Time `json:"time"`
	Trigger  string    `json:"trigger"`
	Error    string    `json:"error,omitempty"`
	Problems []string  `json:"problems,omitempty"` // one per problem in a refused document
}

// Status returns a snapshot of the controller's state.
func (c *Controller) Status() Status {
	c.mu.Lock()
	s, session, db := c.status, c.session, c.db
	c.mu.Unlock()
	s.PortsBound = slices.Clone(s.PortsBound)
	s.PortsUnbound = slices.Clone(s.PortsUnbound)
	if session != nil {
		s.Connected = session.Connected()
	}
	if s.IntentSource != "" {
		// Where the symlinks lead now (a ConfigMap swap re-points them).
		s.IntentSource = intent.Source(c.cfg.IntentPath)
	}
	if db != nil {
		s.OVSDBConnected = db.Connected()
	}
	return s
}

func (c *Controller) setStatus(fn func(*Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.status)
}
