package openflow

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/flowgate/flowgate/flows"
)

// DumpFlows reads every flow of every table with its counters, following
// multipart replies until the last one (no OFPMPF_REPLY_MORE flag).
func (s *Session) DumpFlows(ctx context.Context) ([]flows.Flow, []flows.FlowStats, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	c, err := s.current(ctx)
	if err != nil {
		return nil, nil, err
	}
	xid := s.allocXIDs(1)
	ex := c.startExchange(xid, xid)
	defer c.endExchange(ex)
	if err := c.send(flowStatsRequest(xid)); err != nil {
		return nil, nil, fmt.Errorf("bridge %s: dump flows: %w", s.cfg.Bridge, err)
	}
	var fs []flows.Flow
	var stats []flows.FlowStats
	for {
		m, err := c.recv(ctx, ex)
		if err != nil {
			return nil, nil, fmt.Errorf("bridge %s: dump flows: %w", s.cfg.Bridge, err)
		}
		switch m.typ {
		case ofptError:
			return nil, nil, fmt.Errorf("bridge %s: dump flows: %w", s.cfg.Bridge, switchErr(m))
		case ofptMultipartReply:
			if len(m.body) < multipartHeaderLen-ofpHeaderLen || binary.BigEndian.Uint16(m.body) != ofpmpFlow {
				return nil, nil, fmt.Errorf("bridge %s: dump flows: unexpected multipart reply", s.cfg.Bridge)
			}
			flags := binary.BigEndian.Uint16(m.body[2:])
			fs, stats, err = decodeFlowStats(m.body[multipartHeaderLen-ofpHeaderLen:], fs, stats)
			if err != nil {
				return nil, nil, fmt.Errorf("bridge %s: dump flows: %w", s.cfg.Bridge, err)
			}
			if flags&ofpmpfReplyMore == 0 {
				return fs, stats, nil
			}
		}
	}
}
