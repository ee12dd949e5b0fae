package flows

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseGroup parses one line of `ovs-ofctl -O OpenFlow13 dump-groups`
// output into a GroupDesc: exactly the text form GroupDesc.String writes,
// so that ParseGroup(g.String()).String() == g.String(). Groups of other
// types and bucket properties the IR cannot hold (watch_port,
// watch_group, bucket ids, selection methods) are an error.
func ParseGroup(line string) (GroupDesc, error) {
	var g GroupDesc
	line = strings.TrimSpace(line)
	toks, err := splitTopLevel(line)
	if err != nil {
		return g, fmt.Errorf("group %q: %w", line, err)
	}
	seenID, seenType := false, false
	var cur *Bucket
	var acts []string // the current bucket's action tokens
	finish := func() error {
		if cur == nil {
			return nil
		}
		a, err := ParseActions(strings.Join(acts, ","))
		if err != nil {
			return err
		}
		cur.Actions = a
		g.Buckets = append(g.Buckets, *cur)
		cur, acts = nil, nil
		return nil
	}
	for _, tok := range toks {
		if rest, ok := strings.CutPrefix(tok, "bucket="); ok {
			if err := finish(); err != nil {
				return g, fmt.Errorf("group %q: %w", line, err)
			}
			cur = &Bucket{Weight: 1}
			if w, ok := strings.CutPrefix(rest, "weight:"); ok {
				v, err := strconv.ParseUint(w, 10, 16)
				if err != nil {
					return g, fmt.Errorf("group %q: bucket weight: %w", line, err)
				}
				cur.Weight = uint16(v)
				continue
			}
			tok = rest // "bucket=actions=..."
		}
		if cur != nil {
			switch {
			case acts == nil:
				a, ok := strings.CutPrefix(tok, "actions=")
				if !ok {
					return g, fmt.Errorf("group %q: bucket property %q not representable in the IR", line, tok)
				}
				acts = []string{a}
			default:
				acts = append(acts, tok)
			}
			continue
		}
		key, val, _ := strings.Cut(tok, "=")
		switch key {
		case "group_id":
			v, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return g, fmt.Errorf("group %q: group_id: %w", line, err)
			}
			g.ID, seenID = uint32(v), true
		case "type":
			if val != "select" {
				return g, fmt.Errorf("group %q: type %s: only select groups are in the IR", line, val)
			}
			seenType = true
		default:
			return g, fmt.Errorf("group %q: %s not representable in the IR", line, tok)
		}
	}
	if err := finish(); err != nil {
		return g, fmt.Errorf("group %q: %w", line, err)
	}
	if !seenID || !seenType {
		return g, fmt.Errorf("group %q: want group_id= and type=", line)
	}
	return g, nil
}

// ParseGroupDump parses the whole output of dump-groups, skipping the
// "OFPST_GROUP_DESC reply" header.
func ParseGroupDump(out string) ([]GroupDesc, error) {
	var gs []GroupDesc
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "OFPST_GROUP_DESC reply") {
			continue
		}
		g, err := ParseGroup(t)
		if err != nil {
			return nil, err
		}
		gs = append(gs, g)
	}
	return gs, nil
}
