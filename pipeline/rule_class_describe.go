package pipeline

import (
	"fmt"
	"strconv"
	"strings"
)

// maxListed is how many port ranges, remotes or index runs a description
// spells out before it counts them instead: a cookie of a 5,000-rule
// class must stay one readable line.
const maxListed = 3

// describe names the class the way the intent does, compactly:
// "security_groups[db].rules[0] (ingress tcp/3306 from group web)" for a
// class of one rule, "security_groups[big].rules[0-4999] (ingress tcp 50
// port ranges from 100 CIDRs)" for a large one.
func (c ruleClass) describe() string {
	return fmt.Sprintf("security_groups[%s].rules[%s] (%s)", c.group, compactIndices(c.rules), c.summary())
}

// summary is text() with long lists replaced by their counts.
func (c ruleClass) summary() string {
	if len(c.ranges) <= maxListed && len(c.remotes) <= maxListed {
		return c.text()
	}
	ports := portsText(c.ranges)
	if len(c.ranges) > maxListed {
		ports = fmt.Sprintf(" %d port ranges", len(c.ranges))
	}
	return ruleText(c.service, ports, remotesSummary(c.remotes))
}

// remotesSummary lists up to maxListed remotes, else counts them by kind
// ("100 CIDRs and group web").
func remotesSummary(rms []remote) string {
	if len(rms) <= maxListed {
		return remotesText(rms)
	}
	var parts []string
	var cidrs, groups []remote
	for _, rm := range rms {
		switch {
		case rm.isAny():
			parts = append(parts, rm.String())
		case rm.group != "":
			groups = append(groups, rm)
		default:
			cidrs = append(cidrs, rm)
		}
	}
	for _, kind := range []struct {
		rms  []remote
		noun string
	}{{cidrs, "CIDRs"}, {groups, "groups"}} {
		switch len(kind.rms) {
		case 0:
		case 1:
			parts = append(parts, kind.rms[0].String())
		default:
			parts = append(parts, fmt.Sprintf("%d %s", len(kind.rms), kind.noun))
		}
	}
	return strings.Join(parts, " and ")
}

// compactIndices writes ascending indices as runs, "0-4999" or
// "0,2,5-7", and after maxListed*2 runs counts the rest ("…+12").
func compactIndices(idx []int) string {
	var runs []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if len(runs) == 2*maxListed {
			runs = append(runs, "…+"+strconv.Itoa(len(idx)-i))
			break
		}
		run := strconv.Itoa(idx[i])
		if j > i {
			run += "-" + strconv.Itoa(idx[j])
		}
		runs = append(runs, run)
		i = j + 1
	}
	return strings.Join(runs, ",")
}
