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
	Table    uint8
	Match    string
	Priority int
	Cookie   uint64
	Actions  []string
	Object   string // the object behind the cookie, in intent terms
}

// traceOutput is what parseTrace reads from ofproto/trace.
type traceOutput struct {
	Steps []Step
	// Datapath is the "Datapath actions" line of the last pass (after the
	// last conntrack recirculation), which decides the packet's fate.
	Datapath string
}

var stepLine = regexp.MustCompile(`^\s*(\d+)\. (.*?),? ?priority (\d+)(?:, cookie (0x[0-9a-f]+))?$`)

// parseTrace reads `ovs-appctl ofproto/trace` output: the flows matched in
// every pass (the first, and one per ct() recirculation followed with
// --ct-next) and the final datapath actions.
func parseTrace(out string) traceOutput {
	var t traceOutput
	for _, line := range strings.Split(out, "\n") {
		if m := stepLine.FindStringSubmatch(line); m != nil {
			table, _ := strconv.Atoi(m[1])
			prio, _ := strconv.Atoi(m[3])
			var cookie uint64
			if m[4] != "" {
				cookie, _ = strconv.ParseUint(m[4][2:], 16, 64)
			}
			t.Steps = append(t.Steps, Step{Table: uint8(table), Match: m[2], Priority: prio, Cookie: cookie})
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Datapath actions: "); ok {
			t.Datapath = strings.TrimSpace(rest)
			continue
		}
		trimmed := strings.TrimSpace(line)
		if len(t.Steps) > 0 && strings.HasPrefix(line, "    ") && !strings.HasPrefix(trimmed, "->") &&
			trimmed != "thaw" && !strings.HasPrefix(trimmed, "Resuming from") {
			last := &t.Steps[len(t.Steps)-1]
			last.Actions = append(last.Actions, trimmed)
		}
	}
	return t
}

// delivered reports whether datapath actions send the packet somewhere:
// an output port number, not only drop/ct/recirc.
func delivered(actions string) bool {
	if actions == "" || actions == "drop" {
		return false
	}
	depth := 0
	field := strings.Builder{}
	var fields []string
	for _, r := range actions {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			fields = append(fields, field.String())
			field.Reset()
			continue
		}
		field.WriteRune(r)
	}
	fields = append(fields, field.String())
	for _, f := range fields {
		if _, err := strconv.Atoi(f); err == nil {
			return true
		}
	}
	return false
}
