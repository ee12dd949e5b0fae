package openflow

import (
	"context"
	"encoding/binary"
	"fmt"
)

// The controller meter (OFPM_CONTROLLER) bounds the packet-ins the switch
// sends: OVS applies it to every controller action, so a flood of new
// connections that a logged or rejecting policy rule sees cannot starve
// the controller or the datapath. Packets over the rate are dropped by
// the meter's band (only the packet-in copy: the flow's other actions
// still run), and the band's counter says how many.

const (
	ofptMeterMod    uint8  = 29
	ofpmpMeter      uint16 = 9
	ofpmControl     uint32 = 0xfffffffe // OFPM_CONTROLLER (0xfffffffd is OFPM_SLOWPATH)
	ofpmcAdd        uint16 = 0
	ofpmcModify     uint16 = 1
	ofpmfPktps      uint16 = 1 << 1
	ofpmfBurst      uint16 = 1 << 2
	ofpmfStats      uint16 = 1 << 3
	ofpmbtDrop      uint16 = 1
	meterStatsFixed        = 40 // ofp_meter_stats without bands
)

// DefaultPacketInRate is the controller meter's rate when none is given.
const DefaultPacketInRate = 100

// meterModMessage sets the controller meter to rate packets per second
// (with a burst of the same size).
func meterModMessage(xid uint32, cmd uint16, rate uint32) []byte {
	b := ofpHeader(ofptMeterMod, xid)
	b = binary.BigEndian.AppendUint16(b, cmd)
	b = binary.BigEndian.AppendUint16(b, ofpmfPktps|ofpmfBurst|ofpmfStats)
	b = binary.BigEndian.AppendUint32(b, ofpmControl)
	b = binary.BigEndian.AppendUint16(b, ofpmbtDrop)
	b = binary.BigEndian.AppendUint16(b, 16)
	b = binary.BigEndian.AppendUint32(b, rate)
	b = binary.BigEndian.AppendUint32(b, rate) // burst
	b = append(b, 0, 0, 0, 0)
	m, _ := finishMessage(b)
	return m
}

// controllerMeterMessages add the controller meter, or modify it where a
// running ovs-vswitchd kept it from an earlier connection: one of the two
// fails (the error is unsolicited and dropped) and the other sets it.
func controllerMeterMessages(s *Session) [][]byte {
	rate := s.cfg.PacketInRate
	if rate == 0 {
		rate = DefaultPacketInRate
	}
	first := s.allocXIDs(2)
	return [][]byte{meterModMessage(first, ofpmcAdd, rate), meterModMessage(first+1, ofpmcModify, rate)}
}

// MeterStats are the controller meter's counters.
type MeterStats struct {
	PacketsIn uint64 // packets that reached the meter (packet-ins asked for)
	Dropped   uint64 // of those, dropped by its band (over the rate)
}

// ControllerMeterStats reads the controller meter's counters.
func (s *Session) ControllerMeterStats(ctx context.Context) (MeterStats, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	c, err := s.current(ctx)
	if err != nil {
		return MeterStats{}, err
	}
	xid := s.allocXIDs(1)
	ex := c.startExchange(xid, xid)
	defer c.endExchange(ex)
	b := ofpHeader(ofptMultipartRequest, xid)
	b = binary.BigEndian.AppendUint16(b, ofpmpMeter)
	b = append(b, 0, 0, 0, 0, 0, 0) // flags, pad
	b = binary.BigEndian.AppendUint32(b, ofpmControl)
	b = append(b, 0, 0, 0, 0)
	req, _ := finishMessage(b)
	if err := c.send(req); err != nil {
		return MeterStats{}, fmt.Errorf("bridge %s: meter stats: %w", s.cfg.Bridge, err)
	}
	var st MeterStats
	for {
		m, err := c.recv(ctx, ex)
		if err != nil {
			return MeterStats{}, fmt.Errorf("bridge %s: meter stats: %w", s.cfg.Bridge, err)
		}
		switch m.typ {
		case ofptError:
			return MeterStats{}, fmt.Errorf("bridge %s: meter stats: %w", s.cfg.Bridge, switchErr(m))
		case ofptMultipartReply:
			body := m.body[multipartHeaderLen-ofpHeaderLen:]
			for len(body) >= meterStatsFixed {
				n := int(binary.BigEndian.Uint16(body[4:6]))
				if n < meterStatsFixed || n > len(body) {
					return MeterStats{}, fmt.Errorf("bridge %s: meter stats: entry of %d bytes", s.cfg.Bridge, n)
				}
				if binary.BigEndian.Uint32(body[0:4]) == ofpmControl {
					st.PacketsIn += binary.BigEndian.Uint64(body[16:24])
					for band := body[meterStatsFixed:n]; len(band) >= 16; band = band[16:] {
						st.Dropped += binary.BigEndian.Uint64(band[0:8])
					}
				}
				body = body[n:]
			}
			if binary.BigEndian.Uint16(m.body[2:])&ofpmpfReplyMore == 0 {
				return st, nil
			}
		}
	}
}
