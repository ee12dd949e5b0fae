package openflow

import (
	"encoding/binary"

	"github.com/flowgate/flowgate/flows"
)

const ofptSetAsync uint8 = 28

// setAsyncPacketIns asks the switch to send this connection packet-ins of
// flows' controller actions, and of dec_ttl reaching zero (invalid TTL),
// whatever its role: OVS sends a management socket connection ("service"
// connection) no asynchronous messages unless it asks.
func setAsyncPacketIns(xid uint32) []byte {
	b := ofpHeader(ofptSetAsync, xid)
	action := uint32(1)<<flows.PacketInAction | uint32(1)<<flows.PacketInInvalidTTL
	b = binary.BigEndian.AppendUint32(b, action) // packet_in_mask, master/equal
	b = binary.BigEndian.AppendUint32(b, action) // packet_in_mask, slave
	b = binary.BigEndian.AppendUint32(b, 0)      // port_status_mask
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0) // flow_removed_mask
	b = binary.BigEndian.AppendUint32(b, 0)
	out, _ := finishMessage(b) // fixed size
	return out
}
