package openflow

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/flowgate/flowgate/flows"
)

// Packet-ins and packet-outs: the switch punts a packet with a flow's
// controller(reason=action) (admin policies' reject, pipeline/policy.go),
// and the controller answers with a packet it built (a TCP RST, an ICMP
// unreachable) output to a port.

const (
	ofptPacketIn  uint8 = 10
	ofptPacketOut uint8 = 13
	ofptSetConfig uint8 = 9
	ofptSetAsync  uint8 = 28

	ofppController uint32 = 0xfffffffd // OFPP_CONTROLLER

	// packetInQueue bounds the packet-ins waiting for the owner; more are
	// dropped (and counted) rather than stalling the reader, which also
	// carries every reply.
	packetInQueue = 256
)

// PacketIn is an OFPT_PACKET_IN: a packet a flow sent to the controller,
// with the pipeline fields flowgate reads from its match.
type PacketIn struct {
	Reason uint8
	Table  uint8
	Cookie uint64
	InPort uint32
	// Reg0 is NXM_NX_REG0 (the pipeline's source port), when the switch
	// included it (OVS includes registers that are not zero).
	Reg0    uint32
	HasReg0 bool
	Data    []byte // the packet from its Ethernet header
}

// decodePacketIn parses the body of an OpenFlow 1.3 packet-in.
func decodePacketIn(body []byte) (PacketIn, error) {
	// buffer_id(4) total_len(2) reason(1) table_id(1) cookie(8) match
	if len(body) < 16+4 {
		return PacketIn{}, fmt.Errorf("packet-in of %d bytes is too short", len(body))
	}
	p := PacketIn{Reason: body[6], Table: body[7], Cookie: binary.BigEndian.Uint64(body[8:16])}
	m := body[16:]
	mlen := int(binary.BigEndian.Uint16(m[2:4]))
	padded := (mlen + 7) / 8 * 8
	if binary.BigEndian.Uint16(m[0:2]) != 1 || mlen < 4 || padded+2 > len(m) {
		return PacketIn{}, fmt.Errorf("packet-in match of length %d in %d bytes is malformed", mlen, len(m))
	}
	for oxm := m[4:mlen]; len(oxm) >= 4; {
		class, field, n := binary.BigEndian.Uint16(oxm[0:2]), oxm[2]>>1, int(oxm[3])
		if 4+n > len(oxm) {
			return PacketIn{}, fmt.Errorf("packet-in match field of %d bytes overruns the match", n)
		}
		v := oxm[4 : 4+n]
		switch {
		case class == 0x8000 && field == 0 && n == 4: // OXM_OF_IN_PORT
			p.InPort = binary.BigEndian.Uint32(v)
		case class == 0x0001 && field == 0 && n >= 4: // NXM_NX_REG0
			p.Reg0, p.HasReg0 = binary.BigEndian.Uint32(v), true
		}
		oxm = oxm[4+n:]
	}
	p.Data = m[padded+2:]
	return p, nil
}

// setConfigMessage asks the switch to send asynchronous messages on this
// connection: OVS sends none to a service connection (the management
// socket flowgate dials) until it sets a nonzero miss_send_len.
func setConfigMessage(xid uint32) []byte {
	b := ofpHeader(ofptSetConfig, xid)
	b = binary.BigEndian.AppendUint16(b, 0) // flags: normal fragment handling
	b = binary.BigEndian.AppendUint16(b, ofpcmlNoBuffer)
	m, _ := finishMessage(b)
	return m
}

// setAsyncPacketIns chooses the packet-ins this connection gets, whatever
// its role: those of flows' controller actions, and those of dec_ttl
// reaching zero (invalid TTL), which the router answers with ICMP time
// exceeded. setConfigMessage turns packet-ins on; this says which.
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

// packetOutActionsMessage runs actions on data (which may send it into a
// tunnel with its header set, or output it).
func packetOutActionsMessage(xid uint32, data []byte, actions []flows.Action) ([]byte, error) {
	var encoded []byte
	for _, a := range actions {
		b, err := encodeAction(a)
		if err != nil {
			return nil, err
		}
		encoded = append(encoded, b...)
	}
	b := ofpHeader(ofptPacketOut, xid)
	b = binary.BigEndian.AppendUint32(b, ofpNoBuffer)
	b = binary.BigEndian.AppendUint32(b, ofppController) // in_port
	b = binary.BigEndian.AppendUint16(b, uint16(len(encoded)))
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, encoded...)
	return finishMessage(append(b, data...))
}

// PacketIns delivers the packet-ins of every connection, in order. When
// the owner falls behind by more than packetInQueue, later ones are
// dropped and counted (SessionStats.PacketInsDropped).
func (s *Session) PacketIns() <-chan PacketIn { return s.packetIns }

// PacketOut sends data out of port. It needs no reply and does not wait
// for other operations (it may run between the messages of a bundle).
func (s *Session) PacketOut(ctx context.Context, port uint32, data []byte) error {
	return s.PacketOutActions(ctx, data, []flows.Action{flows.Output{Port: port}})
}

// PacketOutActions runs actions on data, as PacketOut does: for a frame
// that must leave through a tunnel with its header set, say.
func (s *Session) PacketOutActions(ctx context.Context, data []byte, actions []flows.Action) error {
	c, err := s.current(ctx)
	if err != nil {
		return err
	}
	msg, err := packetOutActionsMessage(s.allocXIDs(1), data, actions)
	if err != nil {
		return fmt.Errorf("bridge %s: packet-out: %w", s.cfg.Bridge, err)
	}
	if err := c.send(msg); err != nil {
		return fmt.Errorf("bridge %s: packet-out: %w", s.cfg.Bridge, err)
	}
	return nil
}

// deliverPacketIn hands a packet-in from the reader to the owner without
// ever blocking the reader.
func (s *Session) deliverPacketIn(m ofMsg) {
	p, err := decodePacketIn(m.body)
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
