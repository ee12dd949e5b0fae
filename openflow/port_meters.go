package openflow

import (
	"context"
	"encoding/binary"
	"maps"
	"sync"
)

// Port meters: rate limits in kilobits per second that flows apply with a
// meter instruction (pipeline/qos.go). OVS keeps meters outside bundles
// and forgets them when ovs-vswitchd restarts, so the session holds the
// desired set and sends all of it on every connect, before the connection
// is published: the Syncer's flows never reach a switch that lacks their
// meters.

// MeterSpec is a drop meter: Kbps with a burst of BurstKb (0: the
// datapath's default).
type MeterSpec struct {
	Kbps, BurstKb uint32
}

const (
	ofpmcDelete uint16 = 2
	ofpmfKbps   uint16 = 1 << 0
)

type portMeters struct {
	mu  sync.Mutex
	set map[uint32]MeterSpec
}

// SetMeters makes want the port meters: new and changed ones are added
// or modified now (they are in place before any flow sent after this
// call), and the set is sent again on every connect. Meters that leave the
// set are not deleted here: flows may still use them until the next
// bundle commits; DeleteMeters does that afterwards.
func (s *Session) SetMeters(ctx context.Context, want map[uint32]MeterSpec) error {
	s.meters.mu.Lock()
	prev := s.meters.set
	s.meters.set = maps.Clone(want)
	s.meters.mu.Unlock()
	var msgs [][]byte
	for id, m := range want {
		if old, ok := prev[id]; ok && old == m {
			continue
		}
		msgs = append(msgs, portMeterMessages(s, id, m)...)
	}
	if len(msgs) == 0 {
		return nil
	}
	c, err := s.current(ctx)
	if err != nil {
		return nil // sent on the next connect
	}
	return c.send(msgs...)
}

// DeleteMeters removes meters no flow uses any more.
func (s *Session) DeleteMeters(ctx context.Context, ids []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	c, err := s.current(ctx)
	if err != nil {
		return nil // a restarted switch has none
	}
	var msgs [][]byte
	for _, id := range ids {
		b := ofpHeader(ofptMeterMod, s.allocXIDs(1))
		b = binary.BigEndian.AppendUint16(b, ofpmcDelete)
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint32(b, id)
		m, _ := finishMessage(b)
		msgs = append(msgs, m)
	}
	return c.send(msgs...)
}

// portMeterMessages add meter id, or modify it where the switch has it
// already: one of the two fails (its error is unsolicited and dropped)
// and the other sets it.
func portMeterMessages(s *Session, id uint32, m MeterSpec) [][]byte {
	mod := func(cmd uint16) []byte {
		flags := ofpmfKbps | ofpmfStats
		if m.BurstKb > 0 {
			flags |= ofpmfBurst
		}
		b := ofpHeader(ofptMeterMod, s.allocXIDs(1))
		b = binary.BigEndian.AppendUint16(b, cmd)
		b = binary.BigEndian.AppendUint16(b, flags)
		b = binary.BigEndian.AppendUint32(b, id)
		b = binary.BigEndian.AppendUint16(b, ofpmbtDrop)
		b = binary.BigEndian.AppendUint16(b, 16)
		b = binary.BigEndian.AppendUint32(b, m.Kbps)
		b = binary.BigEndian.AppendUint32(b, m.BurstKb)
		b = append(b, 0, 0, 0, 0)
		out, _ := finishMessage(b)
		return out
	}
	return [][]byte{mod(ofpmcAdd), mod(ofpmcModify)}
}

// allPortMeterMessages is the whole set, for a new connection.
func (s *Session) allPortMeterMessages() [][]byte {
	s.meters.mu.Lock()
	defer s.meters.mu.Unlock()
	var msgs [][]byte
	for id, m := range s.meters.set {
		msgs = append(msgs, portMeterMessages(s, id, m)...)
	}
	return msgs
}
