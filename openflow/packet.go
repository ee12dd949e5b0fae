package openflow

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/flowgate/flowgate/flows"
)

// Packets between the controller and the switch: packet-ins that flows
// send to the controller (controller(reason=action)), and packet-outs the
// controller sends out of a port (an ARP request for a next hop).

const (
	ofptPacketIn  uint8 = 10
	ofptPacketOut uint8 = 13
	ofptSetAsync  uint8 = 28

	ofppController    uint32 = 0xfffffffd
	oxmClassOpenFlow  uint16 = 0x8000
	oxmFieldInPort    uint8  = 0
	packetInQueueSize        = 256
)

// PacketIn is a packet a flow sent to the controller.
type PacketIn struct {
	Cookie uint64 // of the flow that sent it: names its object
	Table  uint8
	Reason uint8  // flows.PacketIn* reason
	InPort uint32 // the port the packet came in on
	Data   []byte // the frame, from its Ethernet header
}

// PacketIns delivers the packets flows send to the controller, from every
// connection in turn. It holds a bounded queue: packets that arrive while
// it is full are dropped (and counted), as a switch drops what a slow
// controller cannot take.
func (s *Session) PacketIns() <-chan PacketIn { return s.packetIns }

// PacketOut sends frame out of port, as if the controller had sent it.
func (s *Session) PacketOut(ctx context.Context, port uint32, frame []byte) error {
	c, err := s.current(ctx)
	if err != nil {
		return err
	}
	msg, err := packetOut(s.allocXIDs(1), port, frame)
	if err != nil {
		return err
	}
	return c.send(msg)
}

// packetOut encodes OFPT_PACKET_OUT with one output action.
func packetOut(xid uint32, port uint32, frame []byte) ([]byte, error) {
	b := ofpHeader(ofptPacketOut, xid)
	b = binary.BigEndian.AppendUint32(b, ofpNoBuffer)
	b = binary.BigEndian.AppendUint32(b, ofppController) // in_port
	b = binary.BigEndian.AppendUint16(b, 16)             // actions_len
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, ofpatOutput)
	b = binary.BigEndian.AppendUint16(b, 16)
	b = binary.BigEndian.AppendUint32(b, port)
	b = binary.BigEndian.AppendUint16(b, 0xffff) // max_len: unused for a port
	b = append(b, 0, 0, 0, 0, 0, 0)
	return finishMessage(append(b, frame...))
}

// decodePacketIn reads the body of an OpenFlow 1.3 OFPT_PACKET_IN. Only
// in_port is taken from the match: the other pipeline fields OVS includes
// (registers, conntrack state) are not needed.
func decodePacketIn(body []byte) (PacketIn, error) {
	var p PacketIn
	if len(body) < 16+4 {
		return p, fmt.Errorf("packet-in: %d bytes", len(body))
	}
	p.Reason, p.Table = body[6], body[7]
	p.Cookie = binary.BigEndian.Uint64(body[8:])
	m := body[16:]
	length := int(binary.BigEndian.Uint16(m[2:]))
	if length < 4 || pad8(length)+2 > len(m) {
		return p, fmt.Errorf("packet-in: match length %d in %d bytes", length, len(m))
	}
	for t := m[4:length]; len(t) >= 4; {
		class, field, n := binary.BigEndian.Uint16(t), t[2]>>1, int(t[3])
		if len(t) < 4+n {
			break
		}
		if class == oxmClassOpenFlow && field == oxmFieldInPort && n == 4 {
			p.InPort = binary.BigEndian.Uint32(t[4:])
		}
		t = t[4+n:]
	}
	p.Data = append([]byte(nil), m[pad8(length)+2:]...)
	return p, nil
}

// takePacketIn queues a packet-in for PacketIns, or drops it when the
// queue is full.
func (s *Session) takePacketIn(body []byte) {
	p, err := decodePacketIn(body)
	if err != nil {
		s.logf("openflow %s: %v", s.cfg.Bridge, err)
		return
	}
	select {
	case s.packetIns <- p:
	default:
		s.stats.packetInsDropped.Add(1)
	}
}

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
