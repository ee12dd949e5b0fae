package openflow

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/testbed"
)

// lbGroup is a load balancer's select group: one bucket per backend,
// each loading the backend's number into reg9's high half and committing
// the connection with a DNAT to the backend in the zone reg2 names, going
// on in table 41 (where affinityFlow learns the choice: OVS runs a bucket
// as an action set, which would drop a learn action). Weights grow with
// the bucket.
func lbGroup(id uint32, backends ...string) flows.GroupDesc {
	zone := flows.Bits(flows.RegField(2), 0, 16)
	g := flows.GroupDesc{ID: id}
	for i, b := range backends {
		g.Buckets = append(g.Buckets, flows.Bucket{Weight: uint16(i + 1), Actions: []flows.Action{
			flows.Load{Field: flows.Bits(flows.RegField(9), 16, 16), Value: uint64(i + 1)},
			flows.CT{Commit: true, ZoneField: &zone, Table: flows.U8(41),
				NAT: &flows.NAT{Kind: flows.NATDst, AddrMin: netip.MustParseAddr(b), PortMin: 8080}},
		}})
	}
	return g
}

// affinityFlow learns, in table 41 after an lbGroup bucket, the backend
// chosen for the client: a flow in table 42 that matches the service
// (reg9's low half) and the client's address, and loads the backend
// (reg9's high half).
func affinityFlow() flows.Flow {
	learn := learnOfBrief(false)
	learn.Specs[3] = flows.LearnSpec{Load: true, Src: &flows.FieldRef{Field: flows.RegField(9), Ofs: 16, Bits: 16}, Dst: flows.Bits(flows.RegField(9), 16, 16)}
	return flows.Flow{Table: 41, Priority: 10, Cookie: 0x3, Match: flows.Match{EthType: flows.EthTypeIPv4}, Actions: []flows.Action{learn}}
}

// TestGroupModBytes pins the group-mods against what ovs-ofctl 3.1 sends
// for "--may-create mod-group group_id=5,type=select,bucket=actions=output:1,
// bucket=weight:2,actions=group:3" and "del-groups group_id=5".
func TestGroupModBytes(t *testing.T) {
	g := flows.GroupDesc{ID: 5, Buckets: []flows.Bucket{
		{Weight: 1, Actions: []flows.Action{flows.Output{Port: 1}}},
		{Weight: 2, Actions: []flows.Action{flows.Group{ID: 3}}},
	}}
	body, err := groupModBody(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"add-or-modify", hex.EncodeToString(body),
			"8000 01 00 00000005" +
				"0020 0001 ffffffff ffffffff 00000000" + "0000 0010 00000001 0000 000000000000" +
				"0018 0002 ffffffff ffffffff 00000000" + "0016 0008 00000003"},
		{"delete", hex.EncodeToString([]byte(deleteGroupOp(5).body)), "0002 00 00 00000005"},
	} {
		if want := strings.ReplaceAll(tc.want, " ", ""); tc.got != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, want)
		}
	}
	// A bucket of "drop" has no actions.
	body, _ = groupModBody(flows.GroupDesc{ID: 1, Buckets: []flows.Bucket{{Weight: 1, Actions: []flows.Action{flows.Drop{}}}}})
	if want, _ := hex.DecodeString("800001000000000100100001ffffffffffffffff00000000"); !bytes.Equal(body, want) {
		t.Errorf("drop bucket:\n got %x\nwant %x", body, want)
	}
}

// TestSetGroupsReportsRefusals runs SetGroups against a fake switch that
// refuses one group: the error names that group, the next call sends it
// (and only it) again, and a call without changes sends nothing.
func TestSetGroupsReportsRefusals(t *testing.T) {
	s, err := NewSession(SessionConfig{Bridge: "br0", Dial: "unix:/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	c, f := connectFake(t)
	s.installGroups(context.Background(), c) // as Run does: nothing desired yet
	s.setConn(c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := func(port uint32) flows.Bucket {
		return flows.Bucket{Weight: 1, Actions: []flows.Action{flows.Output{Port: port}}}
	}
	want := map[uint32]flows.GroupDesc{
		1: {ID: 1, Buckets: []flows.Bucket{out(1)}},
		2: {ID: 2, Buckets: []flows.Bucket{out(2)}},
	}
	call := func() chan error {
		done := make(chan error, 1)
		go func() { done <- s.SetGroups(ctx, want) }()
		return done
	}
	// expect reads the group-mods of ids, then the barrier, answering
	// with an error for the group refuse names.
	expect := func(refuse uint32, ids ...uint32) {
		t.Helper()
		for _, id := range ids {
			m := f.recv()
			if m.typ != ofptGroupMod || u16(m.body) != ofpgcAddOrMod || u32(m.body[4:]) != id {
				t.Fatalf("got message type %d body %x, want an add-or-modify of group %d", m.typ, m.body, id)
			}
			if id == refuse {
				f.send(ofptError, m.xid, []byte{0, 6, 0, 12}) // OFPGMFC_BAD_BUCKET
			}
		}
		m := f.recv()
		if m.typ != ofptBarrierRequest {
			t.Fatalf("got message type %d, want a barrier", m.typ)
		}
		f.send(ofptBarrierReply, m.xid, nil)
	}

	done := call()
	expect(2, 1, 2)
	err = <-done
	var ge *GroupError
	if !errors.As(err, &ge) || ge.Group != want[2].String() || ge.Err.Name() != "OFPGMFC_BAD_BUCKET" {
		t.Fatalf("SetGroups = %v, want a GroupError for %s", err, want[2])
	}
	if !strings.Contains(err.Error(), "bridge br0: group refused: group_id=2,type=select,bucket=actions=output:2: OFPGMFC_BAD_BUCKET") {
		t.Errorf("error text %q", err)
	}

	done = call()
	expect(0, 2)
	if err := <-done; err != nil {
		t.Fatalf("second SetGroups: %v", err)
	}
	before := s.Stats().GroupMods
	if err := <-call(); err != nil {
		t.Fatalf("third SetGroups: %v", err)
	}
	if sent := s.Stats().GroupMods - before; sent != 0 {
		t.Errorf("SetGroups without changes sent %d group-mods", sent)
	}

	// An invalid group changes nothing and reaches no switch.
	bad := map[uint32]flows.GroupDesc{3: {ID: 3, Buckets: []flows.Bucket{{Weight: 0}}}}
	if err := s.SetGroups(ctx, bad); err == nil || !strings.Contains(err.Error(), "weight 0") {
		t.Errorf("SetGroups of an invalid group = %v", err)
	}
	if err := s.SetGroups(ctx, map[uint32]flows.GroupDesc{4: want[1]}); err == nil || !strings.Contains(err.Error(), "group 1 is listed as group 4") {
		t.Errorf("SetGroups under the wrong id = %v", err)
	}
	if got := s.Stats().GroupMods - before; got != 0 {
		t.Errorf("invalid sets sent %d group-mods", got)
	}
}

// groupLines is the groups of br0 as ovs-ofctl prints them, sorted.
func groupLines(t *testing.T, o *testbed.OVS) []string {
	t.Helper()
	out, err := o.Ofctl(testContext(t), "dump-groups", "br0")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range splitLines(out) {
		if strings.HasPrefix(l, "group_id=") {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// restartVswitchd kills ovs-vswitchd as a crash would, starts it again and
// waits until s is connected to the new one (which means s has sent it
// the groups: the connection is published after that).
func restartVswitchd(t *testing.T, ctx context.Context, o *testbed.OVS, s *Session) {
	t.Helper()
	connects := s.Stats().Connects
	if err := o.KillVswitchd(); err != nil {
		t.Fatal(err)
	}
	if err := o.StartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	for s.Stats().Connects == connects || !s.Connected() {
		if ctx.Err() != nil {
			t.Fatal("the session did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGroupsOnOVS sets a select group whose buckets DNAT through ct, has
// a flow send to it, changes it, survives a restart of
// ovs-vswitchd (the session installs it again before the connection is
// published, so a flow that uses it is accepted at once), and deletes it.
func TestGroupsOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	s := dialMgmt(t, o)

	g := lbGroup(5, "10.0.0.21", "10.0.0.22")
	if err := s.SetGroups(ctx, map[uint32]flows.GroupDesc{5: g}); err != nil {
		t.Fatal(err)
	}
	// A flow sent after SetGroups finds its group.
	f := flows.Flow{Priority: 10, Cookie: 0x1, Match: flows.Match{EthType: flows.EthTypeIPv4},
		Actions: []flows.Action{flows.Load{Field: flows.Bits(flows.RegField(9), 0, 16), Value: 0x1234}, flows.Group{ID: 5}}}
	if err := s.Apply(ctx, flows.ChangeSet{Add: []flows.Flow{f}}); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "groups", []string{g.String()}, groupLines(t, o))
	diffLines(t, "flows", []string{f.String()}, ofctlDump(t, o))

	before := s.Stats().GroupMods
	if err := s.SetGroups(ctx, map[uint32]flows.GroupDesc{5: g}); err != nil {
		t.Fatal(err)
	}
	if sent := s.Stats().GroupMods - before; sent != 0 {
		t.Errorf("an unchanged set sent %d group-mods", sent)
	}

	// A changed backend and a third bucket: modified in place, the flow
	// that sends to it stays.
	g = lbGroup(5, "10.0.0.21", "10.0.0.23", "10.0.0.24")
	if err := s.SetGroups(ctx, map[uint32]flows.GroupDesc{5: g}); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "groups after the change", []string{g.String()}, groupLines(t, o))
	diffLines(t, "flows after the change", []string{f.String()}, ofctlDump(t, o))

	// A restarted ovs-vswitchd has no groups and no flows; the session
	// gives it the group before anyone can send a flow.
	restartVswitchd(t, ctx, o, s)
	if err := s.Apply(ctx, flows.ChangeSet{Add: []flows.Flow{f}}); err != nil {
		t.Fatalf("a flow sending to the group, right after the reconnect: %v", err)
	}
	diffLines(t, "groups after the restart", []string{g.String()}, groupLines(t, o))

	// The flow goes first, then the group.
	if err := s.Apply(ctx, flows.ChangeSet{Delete: []flows.Flow{f}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGroups(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroups(ctx, []uint32{5}); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "groups after the delete", nil, groupLines(t, o))
	if err := s.DeleteGroups(ctx, []uint32{5}); err != nil {
		t.Errorf("deleting a group the switch does not have: %v", err)
	}
	restartVswitchd(t, ctx, o, s)
	diffLines(t, "groups after another restart", nil, groupLines(t, o))
}

// TestDeleteGroupsOwedToTheNextConnectOnOVS: a group deleted while the
// session is disconnected is deleted when it connects again to a switch
// that kept it. Only the connection is lost: the test closes it and hides
// the management socket until the deletes are owed. (Changing the
// bridge's controller would not do: OVS flushes flows and groups when a
// bridge gains or loses its controller.)
func TestDeleteGroupsOwedToTheNextConnectOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	s := dialMgmt(t, o)
	g := lbGroup(7, "10.0.0.21")
	if err := s.SetGroups(ctx, map[uint32]flows.GroupDesc{7: g}); err != nil {
		t.Fatal(err)
	}
	sock := o.MgmtSocket("br0")
	if err := os.Rename(sock, sock+".hidden"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.conn.nc.Close()
	s.mu.Unlock()
	for s.Connected() {
		if ctx.Err() != nil {
			t.Fatal("the session did not notice the disconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.SetGroups(short, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroups(short, []uint32{7}); err != nil {
		t.Fatal(err)
	}
	out, err := o.Ofctl(ctx, "dump-groups", "unix:"+sock+".hidden")
	if err != nil || !strings.Contains(out, g.String()) {
		t.Fatalf("the switch lost the group with the connection: %v\n%s", err, out)
	}
	if err := os.Rename(sock+".hidden", sock); err != nil {
		t.Fatal(err)
	}
	for !s.Connected() {
		if ctx.Err() != nil {
			t.Fatal("no reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	diffLines(t, "groups after the reconnect", nil, groupLines(t, o))
}
