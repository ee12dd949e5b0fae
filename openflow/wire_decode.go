package openflow

import (
	"encoding/binary"
	"fmt"
	"github.com/flowgate/flowgate/flows"
)

const (
	ofpmpFlow          uint16 = 1  // OFPMP_FLOW
	ofpmpfReplyMore    uint16 = 1  // OFPMPF_REPLY_MORE
	multipartHeaderLen        = 16 // ofp_header + type, flags, pad
	flowStatsFixedLen         = 48 // ofp_flow_stats up to the match
)

// decodeFlowStats decodes the ofp_flow_stats entries of one OFPMP_FLOW
// reply body (after the multipart header), appending to flows and stats.
func decodeFlowStats(b []byte, fs []flows.Flow, stats []flows.FlowStats) ([]flows.Flow, []flows.FlowStats, error) {
	for len(b) > 0 {
		if len(b) < flowStatsFixedLen {
			return nil, nil, fmt.Errorf("flow stats: truncated entry of %d bytes", len(b))
		}
		length := int(binary.BigEndian.Uint16(b))
		if length < flowStatsFixedLen || length > len(b) {
			return nil, nil, fmt.Errorf("flow stats: bad entry length %d", length)
		}
		e := b[:length]
		f := flows.Flow{Table: e[2], Priority: u16(e[12:]), Cookie: u64(e[24:])}
		st := flows.FlowStats{Packets: u64(e[32:]), Bytes: u64(e[40:])}
		m, n, err := decodeMatch(e[flowStatsFixedLen:])
		if err != nil {
			return nil, nil, fmt.Errorf("flow stats table=%d priority=%d cookie=%#x: %w", f.Table, f.Priority, f.Cookie, err)
		}
		f.Match = m
		if f.Actions, err = decodeInstructions(e[flowStatsFixedLen+n:]); err != nil {
			return nil, nil, fmt.Errorf("flow stats table=%d priority=%d cookie=%#x: %w", f.Table, f.Priority, f.Cookie, err)
		}
		fs, stats = append(fs, f), append(stats, st)
		b = b[length:]
	}
	return fs, stats, nil
}

// flowStatsRequest is an OFPMP_FLOW request for every flow in every table.
func flowStatsRequest(xid uint32) []byte {
	b := ofpHeader(ofptMultipartRequest, xid)
	b = binary.BigEndian.AppendUint16(b, ofpmpFlow)
	b = append(b, 0, 0, 0, 0, 0, 0) // flags, pad
	b = append(b, ofpTableAll, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, ofpPortAny)
	b = binary.BigEndian.AppendUint32(b, ofpGroupAny)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, 0) // cookie
	b = binary.BigEndian.AppendUint64(b, 0) // cookie_mask
	b = append(b, 0, byte(ofpmtOXM), 0, 4, 0, 0, 0, 0)
	out, _ := finishMessage(b) // fixed size
	return out
}
