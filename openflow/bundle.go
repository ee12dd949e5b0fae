package openflow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/flowgate/flowgate/flows"
	"time"
)

// OpenFlow 1.3 bundles are ONF extension 230 (OVS implements it for 1.3):
// experimenter messages carrying the OpenFlow 1.4 bundle bodies.
const (
	onfExperimenterID   uint32 = 0x4f4e4600
	onfBundleControl    uint32 = 2300
	onfBundleAddMessage uint32 = 2301

	bundleOpenRequest    uint16 = 0
	bundleOpenReply      uint16 = 1
	bundleCommitRequest  uint16 = 4
	bundleCommitReply    uint16 = 5
	bundleDiscardRequest uint16 = 6
	bundleDiscardReply   uint16 = 7

	bundleAtomic  uint16 = 1 << 0
	bundleOrdered uint16 = 1 << 1
)

func bundleControl(xid, bundleID uint32, typ uint16) []byte {
	b := ofpHeader(ofptExperimenter, xid)
	b = binary.BigEndian.AppendUint32(b, onfExperimenterID)
	b = binary.BigEndian.AppendUint32(b, onfBundleControl)
	b = binary.BigEndian.AppendUint32(b, bundleID)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, bundleAtomic|bundleOrdered)
	out, _ := finishMessage(b) // fixed size
	return out
}

// bundleAdd wraps msg, whose xid OVS requires to equal the outer one.
func bundleAdd(xid, bundleID uint32, msg []byte) ([]byte, error) {
	b := ofpHeader(ofptExperimenter, xid)
	b = binary.BigEndian.AppendUint32(b, onfExperimenterID)
	b = binary.BigEndian.AppendUint32(b, onfBundleAddMessage)
	b = binary.BigEndian.AppendUint32(b, bundleID)
	b = binary.BigEndian.AppendUint16(b, 0) // pad
	b = binary.BigEndian.AppendUint16(b, bundleAtomic|bundleOrdered)
	return finishMessage(append(b, msg...))
}

// bundleControlType returns the control type of an ONF bundle control
// reply, or false if m is something else.
func bundleControlType(m ofMsg) (uint16, bool) {
	if m.typ != ofptExperimenter || len(m.body) < 16 ||
		binary.BigEndian.Uint32(m.body) != onfExperimenterID ||
		binary.BigEndian.Uint32(m.body[4:]) != onfBundleControl {
		return 0, false
	}
	return binary.BigEndian.Uint16(m.body[12:]), true
}

// bundleOp is one message of a bundle and what it stands for, so that an
// error can name it.
type bundleOp struct {
	what string // "add <flow>", "delete <flow>", "delete cookie=..."
	msg  []byte
}

// ApplyError is a bundle the switch refused. Nothing of it was installed.
type ApplyError struct {
	Bridge string
	Op     string       // the refused message in text form, e.g. "add table=0, priority=10,ip actions=group:7"
	Err    *SwitchError // OVS's error type/code
	// AtCommit is true when the switch accepted the message into the
	// bundle and refused it only when committing (e.g. a full table).
	AtCommit bool
}

func (e *ApplyError) Error() string {
	if e.Op == "" {
		return fmt.Sprintf("bridge %s: bundle refused: %s", e.Bridge, e.Err.Name())
	}
	return fmt.Sprintf("bridge %s: bundle refused, nothing applied: %s: %s", e.Bridge, e.Op, e.Err.Name())
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Apply installs cs as one atomic, ordered bundle: cookie-masked deletes,
// then deletes, modifies and adds (the order ChangeSet documents). If the
// switch refuses any message, the bundle is discarded, nothing of it is in
// force, and the *ApplyError names the refused flow. An empty change set
// sends nothing.
//
// The messages are added to the bundle and fenced with a barrier before
// the commit: OVS answers a flow-mod it cannot parse at add time and
// leaves the rest of the bundle open, so committing blindly would install
// everything but the bad flow.
func (s *Session) Apply(ctx context.Context, cs flows.ChangeSet) error {
	ops, err := bundleOps(cs)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", s.cfg.Bridge, err)
	}
	if len(ops) == 0 {
		return nil
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	c, err := s.current(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	err = s.applyOn(ctx, c, ops)
	elapsed := time.Since(start)
	s.stats.applies.Add(1)
	s.stats.applyNanos.Add(int64(elapsed))
	s.stats.lastApplyNanos.Store(int64(elapsed))
	if err != nil {
		s.stats.bundlesFailed.Add(1)
		return err
	}
	s.stats.bundlesCommitted.Add(1)
	return nil
}

func bundleOps(cs flows.ChangeSet) ([]bundleOp, error) {
	var ops []bundleOp
	for _, l := range []struct {
		verb string
		cmd  FlowModCommand
		fs   []flows.Flow
	}{{"delete", FlowDeleteStrict, cs.Delete}, {"modify", FlowModifyStrict, cs.Modify}, {"add", FlowAdd, cs.Add}} {
		for _, f := range l.fs {
			msg, err := FlowMod(f, l.cmd, 0)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", l.verb, f, err)
			}
			ops = append(ops, bundleOp{what: l.verb + " " + f.String(), msg: msg})
		}
	}
	return ops, nil
}

// applyOn runs the bundle protocol. xids: open, one per op, barrier,
// commit, discard; the bundle id is the open's xid.
func (s *Session) applyOn(ctx context.Context, c *ofConn, ops []bundleOp) error {
	first := s.allocXIDs(len(ops) + 4)
	id := first
	opXID := func(i int) uint32 { return first + 1 + uint32(i) }
	barrierXID := first + 1 + uint32(len(ops))
	commitXID, discardXID := barrierXID+1, barrierXID+2

	ex := c.startExchange(first, discardXID)
	defer c.endExchange(ex)

	fail := func(stage string, err error) error {
		return fmt.Errorf("bridge %s: bundle %s: %w", s.cfg.Bridge, stage, err)
	}
	if err := c.write(bundleControl(first, id, bundleOpenRequest)); err != nil {
		return fail("open", err)
	}
	for i, op := range ops {
		binary.BigEndian.PutUint32(op.msg[4:], opXID(i))
		add, err := bundleAdd(opXID(i), id, op.msg)
		if err != nil {
			return fail("add", fmt.Errorf("%s: %w", op.what, err))
		}
		if err := c.write(add); err != nil {
			return fail("add", err)
		}
	}
	barrier, _ := finishMessage(ofpHeader(ofptBarrierRequest, barrierXID))
	if err := c.send(barrier); err != nil {
		return fail("add", err)
	}
	s.stats.flowMods.Add(uint64(len(ops)))

	// Until the barrier reply, collect the open reply and any refusals.
	var refused *ApplyError
	atCommit := false
	note := func(m ofMsg) error {
		se, err := parseSwitchError(m.body)
		if err != nil {
			return err
		}
		if refused != nil {
			return nil // the first refusal is the one to report
		}
		refused = &ApplyError{Bridge: s.cfg.Bridge, Err: se, AtCommit: atCommit}
		if i := int(m.xid - first - 1); m.xid > first && i < len(ops) {
			refused.Op = ops[i].what
		}
		return nil
	}
	for done := false; !done; {
		m, err := c.recv(ctx, ex)
		if err != nil {
			return fail("add", err)
		}
		switch {
		case m.typ == ofptError:
			if err := note(m); err != nil {
				return fail("add", err)
			}
		case m.typ == ofptBarrierReply && m.xid == barrierXID:
			done = true
		}
	}
	if refused != nil {
		if err := s.discard(ctx, c, ex, id, discardXID); err != nil {
			return errors.Join(refused, err)
		}
		return refused
	}

	atCommit = true
	if err := c.send(bundleControl(commitXID, id, bundleCommitRequest)); err != nil {
		return fail("commit", err)
	}
	for {
		m, err := c.recv(ctx, ex)
		if err != nil {
			return fail("commit", err)
		}
		if t, ok := bundleControlType(m); ok && t == bundleCommitReply && m.xid == commitXID {
			return nil
		}
		if m.typ != ofptError {
			continue
		}
		if err := note(m); err != nil {
			return fail("commit", err)
		}
		// OVS reports the failing message first, then fails the commit
		// itself; after that the bundle is gone.
		if m.xid == commitXID {
			return refused
		}
	}
}

func (s *Session) discard(ctx context.Context, c *ofConn, ex *exchange, id, xid uint32) error {
	if err := c.send(bundleControl(xid, id, bundleDiscardRequest)); err != nil {
		return fmt.Errorf("bridge %s: bundle discard: %w", s.cfg.Bridge, err)
	}
	for {
		m, err := c.recv(ctx, ex)
		if err != nil {
			return fmt.Errorf("bridge %s: bundle discard: %w", s.cfg.Bridge, err)
		}
		if m.xid != xid {
			continue
		}
		if t, ok := bundleControlType(m); ok && t == bundleDiscardReply {
			return nil
		}
		if m.typ == ofptError {
			return fmt.Errorf("bridge %s: bundle discard: %w", s.cfg.Bridge, switchErr(m))
		}
	}
}
