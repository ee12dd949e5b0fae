package openflow

import (
	"errors"
	"github.com/flowgate/flowgate/flows"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// manyFlows builds n distinct flows spread over a few tables, shaped like
// a security-group pipeline: per-address conjunction clauses, per-port
// clauses and conj_id flows committing to conntrack.
func manyFlows(n int) []flows.Flow {
	list := make([]flows.Flow, 0, n)
	for i := 0; len(list) < n; i++ {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		switch i % 3 {
		case 0:
			list = append(list, flows.Flow{Table: 10, Priority: 100, Cookie: uint64(i),
				Match:   flows.Match{EthType: flows.EthTypeIPv4, IPSrc: netip.PrefixFrom(ip, 32)},
				Actions: []flows.Action{flows.Conjunction{ID: uint32(i), Clause: 1, NClauses: 2}}})
		case 1:
			list = append(list, flows.Flow{Table: 10, Priority: 100, Cookie: uint64(i),
				Match:   flows.Match{EthType: flows.EthTypeIPv4, IPProto: flows.U8(flows.ProtoTCP), TPDst: flows.ExactPort(uint16(i))},
				Actions: []flows.Action{flows.Conjunction{ID: uint32(i), Clause: 2, NClauses: 2}}})
		default:
			list = append(list, flows.Flow{Table: 10, Priority: 90, Cookie: uint64(i),
				Match: flows.Match{ConjID: flows.U32(uint32(i)), EthType: flows.EthTypeIPv4},
				Actions: []flows.Action{flows.CT{Commit: true, Zone: 1, Exec: []flows.Action{flows.Load{Field: flows.Whole(flows.FieldCTMark), Value: uint64(i)}}},
					flows.Goto{Table: 20}}})
		}
	}
	return list
}

func sortedStrings(list []flows.Flow) []string {
	out := make([]string, len(list))
	for i, f := range list {
		out[i] = f.String()
	}
	slices.Sort(out)
	return out
}

func sortedLines(lines []string) []string {
	out := slices.Clone(lines)
	slices.Sort(out)
	return out
}

// TestApplyTenThousandFlowsOnOVS installs 10,000 flows in one bundle; what
// ovs-ofctl prints must be the text form of exactly those flows.
func TestApplyTenThousandFlowsOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	s := dialMgmt(t, o)
	want := manyFlows(10000)
	start := time.Now()
	if err := s.Apply(ctx, flows.ChangeSet{Add: want}); err != nil {
		t.Fatal(err)
	}
	t.Logf("10,000 flows in one bundle: Apply took %v", time.Since(start))
	diffLines(t, "ovs-ofctl dump", sortedStrings(want), sortedLines(ofctlDump(t, o)))

	start = time.Now()
	got, _, err := s.DumpFlows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DumpFlows of 10,000 flows took %v", time.Since(start))
	if cs := flows.Diff(want, got); !cs.Empty() {
		t.Errorf("Diff(desired, DumpFlows) = %d adds, %d modifies, %d deletes, want none", len(cs.Add), len(cs.Modify), len(cs.Delete))
	}
	if st := s.Stats(); st.FlowMods != 10000 || st.BundlesCommitted != 1 {
		t.Errorf("stats = %+v, want 10000 flow-mods in 1 bundle", st)
	}
}

// TestApplyRefusedBundleChangesNothingOnOVS sends bundles with one flow OVS
// refuses, once when the bundle is filled and once at commit; either way
// nothing of the bundle may be in force and the error names the flow.
func TestApplyRefusedBundleChangesNothingOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	s := dialMgmt(t, o)
	base := manyFlows(30)
	if err := s.Apply(ctx, flows.ChangeSet{Add: base}); err != nil {
		t.Fatal(err)
	}
	before := sortedLines(ofctlDump(t, o))

	// Table 31 holds at most one flow, so a bundle adding two to it is
	// only refused when committed.
	if _, err := o.Vsctl(ctx, "--", "--id=@ft", "create", "Flow_Table", "flow_limit=1", "overflow_policy=refuse",
		"--", "set", "Bridge", "br0", "flow_tables:31=@ft"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		extra    []flows.Flow // good flows added before bad
		bad      flows.Flow
		ovsCode  string
		atCommit bool
	}{
		{"output to a group that does not exist", nil,
			flows.Flow{Table: 30, Priority: 5, Match: flows.Match{EthType: flows.EthTypeIPv4}, Actions: []flows.Action{flows.Group{ID: 4242}}},
			"OFPBAC_BAD_OUT_GROUP", true},
		{"ct() without an IP match", nil,
			flows.Flow{Table: 30, Priority: 6, Actions: []flows.Action{flows.CT{Commit: true}}},
			"OFPBAC_MATCH_INCONSISTENT", false},
		{"table full at commit", []flows.Flow{{Table: 31, Priority: 1, Match: flows.Match{InPort: 1}}},
			flows.Flow{Table: 31, Priority: 2, Match: flows.Match{InPort: 2}},
			"OFPFMFC_TABLE_FULL", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := manyFlows(60)[30:]
			changed := base[0]
			changed.Actions = []flows.Action{flows.Conjunction{ID: 999, Clause: 1, NClauses: 2}}
			cs := flows.ChangeSet{
				Delete: []flows.Flow{base[1]},
				Modify: []flows.Flow{changed},
				Add:    slices.Concat(good[:15], tc.extra, []flows.Flow{tc.bad}, good[15:]),
			}
			err := s.Apply(ctx, cs)
			var refused *ApplyError
			if !errors.As(err, &refused) {
				t.Fatalf("Apply = %v, want an *ApplyError", err)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tc.bad.String()) {
				t.Errorf("error %q does not name the refused flow %q", err, tc.bad.String())
			}
			if refused.Err.Name() != tc.ovsCode || refused.AtCommit != tc.atCommit {
				t.Errorf("OVS error %s at commit %v, want %s at commit %v", refused.Err.Name(), refused.AtCommit, tc.ovsCode, tc.atCommit)
			}
			diffLines(t, "flows after the refused bundle", before, sortedLines(ofctlDump(t, o)))
		})
	}
	// The session is still usable after refusals.
	if err := s.Apply(ctx, flows.ChangeSet{Delete: base[:1]}); err != nil {
		t.Fatal(err)
	}
	if got := len(ofctlDump(t, o)); got != len(base)-1 {
		t.Errorf("after deleting one flow: %d flows, want %d", got, len(base)-1)
	}
	if st := s.Stats(); st.BundlesFailed != 3 || st.BundlesCommitted != 2 {
		t.Errorf("stats = %+v, want 3 failed and 2 committed bundles", st)
	}
}

func TestApplyEmptySendsNothing(t *testing.T) {
	s, err := NewSession(SessionConfig{Bridge: "br0", Dial: "unix:/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	// Not connected: an empty change must not even wait for a connection.
	if err := s.Apply(testContext(t), flows.ChangeSet{}); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Applies != 0 || st.FlowMods != 0 {
		t.Errorf("stats = %+v, want nothing sent", st)
	}
}
