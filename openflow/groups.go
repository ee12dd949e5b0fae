package openflow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flowgate/flowgate/flows"
)

// Select groups (flows.GroupDesc): a service's backends, one chosen per
// connection by a hash of the packet. Like port meters, OVS keeps groups
// outside bundles and forgets them when ovs-vswitchd restarts, and it
// refuses a flow that sends to a missing group (OFPBAC_BAD_OUT_GROUP), so
// the session holds the desired set and sends all of it on every connect,
// waiting for the switch to have processed it before the connection is
// published: the Syncer's flows never reach a switch that lacks their
// groups.
//
// Each group goes out as one OFPT_GROUP_MOD with OVS's add-or-modify
// command (OFPGC11_ADD_OR_MOD, 0x8000, which OVS accepts over OpenFlow
// 1.3; `ovs-ofctl -O OpenFlow13 --may-create mod-group` sends it), fenced
// by a barrier. Unlike the meters' add-then-modify pair, of which one
// always fails, every error the switch sends is then a real refusal of
// one group, and SetGroups reports it.

const (
	ofptGroupMod  uint8  = 15
	ofpgcAddOrMod uint16 = 0x8000 // OFPGC11_ADD_OR_MOD, an OVS extension
	ofpgcDelete   uint16 = 2
	ofpgtSelect   uint8  = 1
	bucketHeadLen        = 16 // ofp_bucket before its actions

	// groupsOnConnectTimeout bounds the wait for the switch to process
	// the groups sent to a new connection; after it the connection is
	// published all the same.
	groupsOnConnectTimeout = 10 * time.Second
)

// GroupError is a group the switch refused. The group stays desired (it
// is sent again by the next SetGroups and on every connect); the other
// groups of the call are in place.
type GroupError struct {
	Bridge string
	Group  string // the refused group-mod: "group_id=5,type=select,..." or "delete group_id=5"
	Err    *SwitchError
}

func (e *GroupError) Error() string {
	return fmt.Sprintf("bridge %s: group refused: %s: %s", e.Bridge, e.Group, e.Err.Name())
}

func (e *GroupError) Unwrap() error { return e.Err }

type desiredGroup struct {
	desc flows.GroupDesc
	body string // the group-mod after its header
}

// groupTable is the session's group state. sent says what the switch on
// connection on has accepted, so that SetGroups sends only changes.
type groupTable struct {
	mu      sync.Mutex
	want    map[uint32]desiredGroup
	deletes map[uint32]bool // DeleteGroups not yet confirmed by a switch
	on      *ofConn
	sent    map[uint32]string // bodies accepted on on, by group id
}

// SetGroups makes want the bridge's select groups. New and changed groups
// are added or modified now (with the add-or-modify command, so that it
// does not matter whether the switch has them already), and are in place
// before any flow sent after this call; the whole set is sent again on
// every connect. Groups that leave the set are not deleted here: flows may
// still send to them until the next bundle commits; DeleteGroups does that
// afterwards. want is keyed by group id; the session keeps its
// descriptions, which must not be modified afterwards.
//
// Every group is validated and encoded first: if one is invalid, nothing
// changes and the error names it. Each group the switch refuses is a
// *GroupError in the returned error. SetGroups waits for a connection
// until ctx ends; without one, or if the connection drops, it returns nil
// and the set goes out on the next connect.
func (s *Session) SetGroups(ctx context.Context, want map[uint32]flows.GroupDesc) error {
	next := make(map[uint32]desiredGroup, len(want))
	for id, g := range want {
		if g.ID != id {
			return fmt.Errorf("bridge %s: group %d is listed as group %d", s.cfg.Bridge, g.ID, id)
		}
		if err := g.Validate(); err != nil {
			return fmt.Errorf("bridge %s: %w", s.cfg.Bridge, err)
		}
		body, err := groupModBody(g)
		if err != nil {
			return fmt.Errorf("bridge %s: group %d: %w", s.cfg.Bridge, id, err)
		}
		next[id] = desiredGroup{desc: g, body: string(body)}
	}
	s.groups.mu.Lock()
	s.groups.want = next
	for id := range next {
		delete(s.groups.deletes, id)
	}
	s.groups.mu.Unlock()

	s.opMu.Lock()
	defer s.opMu.Unlock()
	c, err := s.current(ctx)
	if err != nil {
		return nil // sent on the next connect
	}
	ops := s.groups.changes(c)
	return s.sendGroupOps(ctx, c, ops)
}

// DeleteGroups removes groups no flow sends to any more. Call it after the
// bundle that removed the flows that did: OVS deletes the flows that send
// to a group along with it. An id that is still in the desired set is
// deleted all the same and comes back with the next SetGroups or connect.
// Deleting a group the switch does not have is not an error. Without a
// connection the deletes are owed and sent on the next connect (a
// restarted switch has no groups; one that only lost the connection still
// has them).
func (s *Session) DeleteGroups(ctx context.Context, ids []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	s.groups.mu.Lock()
	if s.groups.deletes == nil {
		s.groups.deletes = map[uint32]bool{}
	}
	for _, id := range ids {
		s.groups.deletes[id] = true
	}
	s.groups.mu.Unlock()

	s.opMu.Lock()
	defer s.opMu.Unlock()
	c, err := s.current(ctx)
	if err != nil {
		return nil // owed to the next connect
	}
	ops := make([]groupOp, len(ids))
	for i, id := range ids {
		ops[i] = deleteGroupOp(id)
	}
	return s.sendGroupOps(ctx, c, ops)
}

// groupOp is one group-mod and what it stands for.
type groupOp struct {
	id     uint32
	delete bool
	body   string // add-or-modify: the body sent
	what   string // for errors and logs
}

func deleteGroupOp(id uint32) groupOp {
	b := binary.BigEndian.AppendUint16(nil, ofpgcDelete)
	b = append(b, 0, 0) // type, pad
	b = binary.BigEndian.AppendUint32(b, id)
	return groupOp{id: id, delete: true, body: string(b), what: fmt.Sprintf("delete group_id=%d", id)}
}

func setGroupOp(id uint32, g desiredGroup) groupOp {
	return groupOp{id: id, body: g.body, what: g.desc.String()}
}

// changes is what c needs to reach the desired set: the groups whose
// description c has not accepted. Called with opMu held.
func (t *groupTable) changes(c *ofConn) []groupOp {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.on != c {
		t.on, t.sent = c, map[uint32]string{}
	}
	var ops []groupOp
	for _, id := range sortedIDs(t.want) {
		if g := t.want[id]; t.sent[id] != g.body {
			ops = append(ops, setGroupOp(id, g))
		}
	}
	return ops
}

// onConnect is everything a new connection needs: the deletes still
// owed (of groups not desired again), then the whole desired set.
func (t *groupTable) onConnect(c *ofConn) []groupOp {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on, t.sent = c, map[uint32]string{}
	var ops []groupOp
	for _, id := range sortedIDs(t.deletes) {
		if _, wanted := t.want[id]; !wanted {
			ops = append(ops, deleteGroupOp(id))
		}
	}
	for _, id := range sortedIDs(t.want) {
		ops = append(ops, setGroupOp(id, t.want[id]))
	}
	return ops
}

// record notes which ops the switch on c accepted.
func (t *groupTable) record(c *ofConn, ops []groupOp, refused []*SwitchError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, op := range ops {
		switch {
		case refused[i] != nil:
			if t.on == c && !op.delete {
				delete(t.sent, op.id) // try again next time
			}
		case op.delete:
			delete(t.deletes, op.id)
			if t.on == c {
				delete(t.sent, op.id)
			}
		case t.on == c:
			t.sent[op.id] = op.body
		}
	}
}

func sortedIDs[V any](m map[uint32]V) []uint32 {
	ids := make([]uint32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// sendGroupOps sends ops on c, waits for the switch to process them and
// records the outcome. A lost connection is not an error: the next
// connect sends everything again.
func (s *Session) sendGroupOps(ctx context.Context, c *ofConn, ops []groupOp) error {
	if len(ops) == 0 {
		return nil
	}
	refused, err := s.groupExchange(ctx, c, ops)
	if err != nil {
		if IsDisconnected(err) {
			return nil
		}
		return fmt.Errorf("bridge %s: groups: %w", s.cfg.Bridge, err)
	}
	s.groups.record(c, ops, refused)
	var errs []error
	for i, se := range refused {
		if se != nil {
			errs = append(errs, &GroupError{Bridge: s.cfg.Bridge, Group: ops[i].what, Err: se})
		}
	}
	return errors.Join(errs...)
}

// groupExchange sends the group-mods of ops and a barrier on c and returns
// the switch's refusal of each op (nil where it accepted it). The caller
// owns c's exchange: it holds opMu, or c is not published yet.
func (s *Session) groupExchange(ctx context.Context, c *ofConn, ops []groupOp) ([]*SwitchError, error) {
	first := s.allocXIDs(len(ops) + 1)
	barrierXID := first + uint32(len(ops))
	ex := c.startExchange(first, barrierXID)
	defer c.endExchange(ex)
	for i, op := range ops {
		msg, err := finishMessage(append(ofpHeader(ofptGroupMod, first+uint32(i)), op.body...))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.what, err)
		}
		if err := c.write(msg); err != nil {
			return nil, err
		}
	}
	barrier, _ := finishMessage(ofpHeader(ofptBarrierRequest, barrierXID))
	if err := c.send(barrier); err != nil {
		return nil, err
	}
	s.stats.groupMods.Add(uint64(len(ops)))
	refused := make([]*SwitchError, len(ops))
	for {
		m, err := c.recv(ctx, ex)
		if err != nil {
			return nil, err
		}
		switch {
		case m.typ == ofptError && m.xid < barrierXID:
			se, err := parseSwitchError(m.body)
			if err != nil {
				return nil, err
			}
			refused[m.xid-first] = se
		case m.typ == ofptBarrierReply && m.xid == barrierXID:
			return refused, nil
		}
	}
}

// installGroups brings a new connection's switch to the desired groups
// before Run publishes the connection, and waits (a bounded time) until
// the switch has processed them: the Syncer reads and writes the table
// only after that, and its flows may send to these groups. Refusals are
// logged; they are the same refusals SetGroups reported.
func (s *Session) installGroups(ctx context.Context, c *ofConn) {
	ops := s.groups.onConnect(c)
	if len(ops) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, groupsOnConnectTimeout)
	defer cancel()
	refused, err := s.groupExchange(wctx, c, ops)
	if err != nil {
		// Lost or stuck: the groups are sent again with the next
		// SetGroups (nothing is recorded as sent) or connect.
		s.logf("openflow %s: groups on connect: %v", s.cfg.Bridge, err)
		return
	}
	s.groups.record(c, ops, refused)
	for i, se := range refused {
		if se != nil {
			s.logf("openflow %s: group refused on connect: %s: %s", s.cfg.Bridge, ops[i].what, se.Name())
		}
	}
}

// groupModBody is an add-or-modify OFPT_GROUP_MOD for g, after the
// header: command, type select, group id, then one ofp_bucket per bucket
// (weight, no watch port or group, actions).
func groupModBody(g flows.GroupDesc) ([]byte, error) {
	b := binary.BigEndian.AppendUint16(nil, ofpgcAddOrMod)
	b = append(b, ofpgtSelect, 0)
	b = binary.BigEndian.AppendUint32(b, g.ID)
	for i, k := range g.Buckets {
		var acts []byte
		if _, drop := k.Actions[0].(flows.Drop); len(k.Actions) != 1 || !drop {
			for j, a := range k.Actions {
				ab, err := encodeAction(a)
				if err != nil {
					return nil, fmt.Errorf("bucket %d action %d: %w", i, j, err)
				}
				acts = append(acts, ab...)
			}
		}
		if bucketHeadLen+len(acts) > 0xffff {
			return nil, fmt.Errorf("bucket %d: %d bytes of actions", i, len(acts))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(bucketHeadLen+len(acts)))
		b = binary.BigEndian.AppendUint16(b, k.Weight)
		b = binary.BigEndian.AppendUint32(b, ofpPortAny)  // watch_port
		b = binary.BigEndian.AppendUint32(b, ofpGroupAny) // watch_group
		b = append(b, 0, 0, 0, 0)
		b = append(b, acts...)
	}
	return b, nil
}
