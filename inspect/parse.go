// Package inspect explains an installed pipeline in intent terms: the
// flows behind each object with their counters, the difference between
// what the intent compiles to and what the switch holds, and
// ofproto/trace runs turned into a verdict naming the rule that made it.
package inspect

import (
	"regexp"
	"strconv"
	"strings"
)

// Step is one flow a traced packet matched.
type Step struct {
	Table    uint8    `json:"table"`
	Match    string   `json:"match"`
	Priority int      `json:"priority"`
	Cookie   uint64   `json:"cookie"`
	Actions  []string `json:"actions"`
	Pass     int      `json:"pass"`   // 0 for the first pass, n after the n-th ct() recirculation
	Object   string   `json:"object"` // the object behind the cookie, in intent terms
}

// TracePass is one run of the packet through the bridge: the first, or one
// resumed after a ct() recirculation or a select group's hash.
type TracePass struct {
	// Resume is how ofproto/trace resumed this pass, e.g.
	// "ct_state=new|trk" (empty for the first pass).
	Resume string `json:"resume,omitempty"`
	// NAT is the translation ofproto/trace simulated before this pass,
	// "nw_dst=192.0.2.10,tp_dst=2222 -> nw_dst=10.0.0.21,tp_dst=22".
	NAT string `json:"nat,omitempty"`
	// Flow is the packet as the pass began ("Flow:"), Final as it ended
	// ("Final flow:", or Flow when unchanged).
	Flow  string `json:"flow"`
	Final string `json:"final"`
	// Datapath is the pass's "Datapath actions:".
	Datapath string `json:"datapath"`
}

// traceOutput is what parseTrace reads from ofproto/trace.
type traceOutput struct {
	Steps  []Step      `json:"steps"`
	Passes []TracePass `json:"passes"`
}

// Datapath is the datapath actions of the last pass (after the last
// conntrack recirculation), which decide the packet's fate.
func (t traceOutput) Datapath() string {
	if len(t.Passes) == 0 {
		return ""
	}
	return t.Passes[len(t.Passes)-1].Datapath
}

var (
	stepLine   = regexp.MustCompile(`^\s*(\d+)\. (.*?),? ?priority (\d+)(?:, cookie (0x[0-9a-f]+))?$`)
	bridgeLine = regexp.MustCompile(`^bridge\("([^"]+)"\)$`)
	resumeLine = regexp.MustCompile(`^recirc\(0x[0-9a-f]+\) - resume (?:conntrack|select group) with ((?:ct_state|dp_hash)=\S+)`)
)

// parseTrace reads `ovs-appctl ofproto/trace` output: the flows matched in
// every pass (the first, and one per ct() recirculation followed with
// --ct-next), each pass's packet and datapath actions.
func parseTrace(out string) traceOutput {
	var t traceOutput
	var natFrom string
	cur := func() *TracePass {
		if len(t.Passes) == 0 {
			t.Passes = append(t.Passes, TracePass{})
		}
		return &t.Passes[len(t.Passes)-1]
	}
	// The flows of the traced bridge are the first bridge("...") the
	// output names; a packet sent into a native tunnel goes on through
	// the underlay's bridge (br-phy), whose flows are not ours.
	var traced, bridge string
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		if m := bridgeLine.FindStringSubmatch(line); m != nil {
			if bridge = m[1]; traced == "" {
				traced = bridge
			}
			continue
		}
		if bridge != traced && (stepLine.MatchString(line) || strings.HasPrefix(line, "    ")) {
			continue
		}
		if m := resumeLine.FindStringSubmatch(line); m != nil {
			t.Passes = append(t.Passes, TracePass{Resume: m[1]})
			continue
		}
		if m := stepLine.FindStringSubmatch(line); m != nil {
			table, _ := strconv.Atoi(m[1])
			prio, _ := strconv.Atoi(m[3])
			var cookie uint64
			if m[4] != "" {
				cookie, _ = strconv.ParseUint(m[4][2:], 16, 64)
			}
			cur()
			t.Steps = append(t.Steps, Step{Table: uint8(table), Match: m[2], Priority: prio, Cookie: cookie, Pass: len(t.Passes) - 1})
			continue
		}
		if v, ok := strings.CutPrefix(trimmed, "Initial flow:"); ok {
			natFrom = strings.TrimSpace(v)
			continue
		}
		if v, ok := strings.CutPrefix(trimmed, "Modified flow:"); ok {
			if to := strings.TrimSpace(v); natFrom != "" && to != natFrom {
				cur().NAT = natFrom + " -> " + to
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "Flow: "); ok {
			p := cur()
			p.Flow, p.Final = v, v
			continue
		}
		if v, ok := strings.CutPrefix(line, "Final flow: "); ok {
			if v != "unchanged" {
				cur().Final = v
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "Datapath actions: "); ok {
			cur().Datapath = strings.TrimSpace(v)
			continue
		}
		if len(t.Steps) > 0 && strings.HasPrefix(line, "    ") && !strings.HasPrefix(trimmed, "->") &&
			trimmed != "thaw" && !strings.HasPrefix(trimmed, "Resuming from") {
			last := &t.Steps[len(t.Steps)-1]
			last.Actions = append(last.Actions, trimmed)
		}
	}
	return t
}

// flowField is the value of key in a flow as ofproto/trace prints it
// ("tcp,reg1=0x3,nw_src=10.0.0.11,..."), or "".
func flowField(flow, key string) string {
	for _, kv := range strings.Split(flow, ",") {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// topLevel splits datapath actions at the commas outside parentheses.
func topLevel(actions string) []string {
	var fields []string
	depth, start := 0, 0
	for i, r := range actions {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			fields = append(fields, actions[start:i])
			start = i + 1
		}
	}
	return append(fields, actions[start:])
}

// delivered reports whether datapath actions send the packet somewhere:
// an output port number, or the userspace datapath's tunnel
// encapsulation (tnl_push), not only drop/ct/recirc.
func delivered(actions string) bool {
	if actions == "" || actions == "drop" {
		return false
	}
	for _, f := range topLevel(actions) {
		if _, err := strconv.Atoi(f); err == nil || strings.HasPrefix(f, "tnl_push(") {
			return true
		}
	}
	return false
}

var commitLabel = regexp.MustCompile(`^ct\(commit,zone=(\d+),.*label=(0x[0-9a-f]+)`)

// commit is a conntrack commit with a label, as the datapath actions show
// it: the connection's entry in zone Zone would carry Label.
type commit struct {
	Zone  string
	Label string
	Pass  int
}

// labelledCommits lists the commits with a ct_label a trace made, in
// order.
func labelledCommits(passes []TracePass) []commit {
	var out []commit
	for i, p := range passes {
		for _, f := range topLevel(p.Datapath) {
			if m := commitLabel.FindStringSubmatch(f); m != nil {
				out = append(out, commit{Zone: m[1], Label: m[2], Pass: i})
			}
		}
	}
	return out
}
