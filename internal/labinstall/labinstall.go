// Package labinstall installs a compiled pipeline on a test bridge with
// the OVS tools, in the controller's order: meters and select groups
// first (flows refer to them), the flows in one bundle, then the meters
// and groups no flow uses any more. Test labs that run without a
// controller use it, so what they install is what the controller would.
package labinstall

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/flows"
)

// Meter is a drop meter in kilobits per second (burst 0: the datapath's
// default), as pipeline.PortMeters lists them.
type Meter struct {
	ID, Kbps, BurstKb uint32
}

// Ofctl runs ovs-ofctl with args against the lab's OVS (testbed.OVS.Ofctl).
type Ofctl func(ctx context.Context, args ...string) (string, error)

// Apply makes bridge hold exactly fs, meters and groups.
func Apply(ctx context.Context, ofctl Ofctl, bridge string, fs []flows.Flow, meters []Meter, groups []flows.GroupDesc) error {
	of13 := func(args ...string) (string, error) {
		return ofctl(ctx, append([]string{"-O", "OpenFlow13"}, args...)...)
	}
	for _, m := range meters {
		spec := fmt.Sprintf("meter=%d,kbps,stats,bands=type=drop,rate=%d", m.ID, m.Kbps)
		if m.BurstKb > 0 {
			spec = fmt.Sprintf("meter=%d,kbps,burst,stats,bands=type=drop,rate=%d,burst_size=%d", m.ID, m.Kbps, m.BurstKb)
		}
		if _, err := of13("add-meter", bridge, spec); err != nil {
			if out, err := of13("mod-meter", bridge, spec); err != nil {
				return fmt.Errorf("meter %s: %v\n%s", spec, err, out)
			}
		}
	}
	for _, g := range groups {
		if out, err := of13("--may-create", "mod-group", bridge, g.String()); err != nil {
			return fmt.Errorf("group %s: %v\n%s", g.String(), err, out)
		}
	}
	dir, err := os.MkdirTemp("", "labinstall")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var text strings.Builder
	for _, f := range fs {
		text.WriteString(f.String())
		text.WriteByte('\n')
	}
	path := filepath.Join(dir, "flows.txt")
	if err := os.WriteFile(path, []byte(text.String()), 0o644); err != nil {
		return err
	}
	if out, err := of13("--bundle", "replace-flows", bridge, path); err != nil {
		return fmt.Errorf("install %d flows: %v\n%s", len(fs), err, out)
	}
	out, err := of13("dump-groups", bridge)
	if err != nil {
		return fmt.Errorf("dump-groups: %v\n%s", err, out)
	}
	for _, id := range ids(groupID, out) {
		if !slices.ContainsFunc(groups, func(g flows.GroupDesc) bool { return g.ID == id }) {
			if out, err := of13("del-groups", bridge, fmt.Sprintf("group_id=%d", id)); err != nil {
				return fmt.Errorf("delete group %d: %v\n%s", id, err, out)
			}
		}
	}
	if out, err = of13("dump-meters", bridge); err != nil {
		return fmt.Errorf("dump-meters: %v\n%s", err, out)
	}
	for _, id := range ids(meterID, out) {
		if !slices.ContainsFunc(meters, func(m Meter) bool { return m.ID == id }) {
			if out, err := of13("del-meter", bridge, fmt.Sprintf("meter=%d", id)); err != nil {
				return fmt.Errorf("delete meter %d: %v\n%s", id, err, out)
			}
		}
	}
	return nil
}

var (
	groupID = regexp.MustCompile(`group_id=(\d+)`)
	meterID = regexp.MustCompile(`meter=(\d+)`)
)

func ids(re *regexp.Regexp, dump string) []uint32 {
	var out []uint32
	for _, m := range re.FindAllStringSubmatch(dump, -1) {
		if v, err := strconv.ParseUint(m[1], 10, 32); err == nil && !slices.Contains(out, uint32(v)) {
			out = append(out, uint32(v))
		}
	}
	return out
}
