package openflow

// OpenFlow 1.3 wire form of a Flow.
//
// flowgate encodes and decodes OpenFlow itself instead of going through
// contiv/libOpenflow: that codec's decoder rejects match fields OVS sends
// back (icmp_type, icmpv6_type, nd_*: "Bad pkt class"), its FlowMod writes
// out_port into the out_group slot, and its MessageStream parses messages
// on 25 goroutines, so replies and errors lose their order, which the
// bundle protocol below depends on. The message layouts follow the
// OpenFlow 1.3.5 specification and OVS's ofp-actions.c / nx-match.c; the
// tests install every construct on a real ovs-vswitchd and read it back.
//
// Conventions shared with the text form (text.go). They were settled by
// installing flows over the wire and reading them back with
// `ovs-ofctl -O OpenFlow13 dump-flows br0 --no-stats` (OVS 3.1); OVS keeps
// the encoding it was given and prints accordingly, so the text form must
// print exactly this. TestWireRoundTripOnOVS repeats the experiment for
// every construct: DumpFlows must return the IR unchanged and ovs-ofctl
// must print Flow.String() for each flow.
//
//   - Load with Field.Bits == 0 (whole field) is OFPAT_SET_FIELD and prints
//     "set_field:0x5->reg0", "set_field:0x1->ct_mark",
//     "set_field:02:00:00:00:00:01->arp_sha", "set_field:10.0.0.1->arp_spa".
//   - Load with Field.Bits > 0 is NXAST_REG_LOAD and prints
//     "load:0x5->NXM_NX_REG0[0..7]"; a slice that covers the whole field
//     prints "load:0x5->NXM_NX_REG0[]" and stays a reg_load.
//   - SetEthSrc / SetEthDst are OFPAT_SET_FIELD eth_src / eth_dst and print
//     "set_field:02:..->eth_src"; a whole-field Load of eth_src/eth_dst has
//     the same wire form and decodes as SetEthSrc/SetEthDst.
//   - Move, OutputReg and CT.ZoneField refs covering a whole field decode
//     as Whole(f) (Bits == 0); OVS prints them as "NXM_NX_REG0[]".
//   - FieldInPort in Load/Move is the 16-bit NXM_OF_IN_PORT; FieldTPSrc and
//     FieldTPDst are tcp_src/tcp_dst and FieldICMPType is the ICMPv4 type,
//     as in text_fields.go.
//   - FieldTunID and Match.TunID are OXM_OF_TUNNEL_ID ("tun_id"; a reply's
//     NXM_NX_TUN_ID decodes the same); the outer addresses, which have no
//     OXM form, are NXM_NX_TUN_IPV4_SRC/DST ("tun_src", "tun_dst") and
//     NXM_NX_TUN_IPV6_SRC/DST ("tun_ipv6_src", "tun_ipv6_dst"), exact only.
//   - SetTunnel is OFPAT_SET_FIELD of NXM_NX_TUN_IPV4_SRC/DST for an IPv4
//     address and NXM_NX_TUN_IPV6_SRC/DST for an IPv6 one; a whole-field
//     Load of any of the four has the same wire form and decodes as
//     SetTunnel.
//   - Resubmit{T} is NXAST_RESUBMIT_TABLE with in_port IN_PORT: "resubmit(,T)".
//   - Goto{T} is the goto_table instruction: "goto_table:T" (last).
//   - Meter{ID} is the meter instruction: "meter:ID" (first).
//   - DecTTL is OFPAT_DEC_NW_TTL: "dec_ttl".
//   - Conjunction clauses are 1-based in the IR and the text, 0-based on
//     the wire: "conjunction(ID,K/N)".
//   - Controller with Reason PacketInAction is output to CONTROLLER
//     ("CONTROLLER:65535"; MaxLen 0 means the whole packet, 0xffff on the
//     wire); any other reason is NXAST_CONTROLLER
//     ("controller(reason=no_match,max_len=...)"). Output{PortController}
//     is refused: OVS would turn it into the controller action.
//   - CT: nat(...) is the first nested action, then the exec loads:
//     "ct(commit,table=T,zone=Z,nat(src=A-B:P-Q,random),exec(set_field:0x1->ct_mark))".
//   - Drop (alone) and an empty action list are no instructions: "drop";
//     a decoded drop has Actions == nil.
//
// Decoding yields the normal form OVS keeps: exact masks as 0, an all-zero
// mask as an absent field, IP prefixes masked, /0 prefixes as invalid
// (absent), Masked32/64/128 values ANDed with their masks. Flows built in
// that form compare equal after a round trip through the switch.

import (
	"encoding/binary"
	"fmt"
	"github.com/flowgate/flowgate/flows"
)

// ofp13Version is the only OpenFlow version flowgate speaks.
const ofp13Version uint8 = 4

// OpenFlow 1.3 message types used by the session.
const (
	ofptHello            uint8 = 0
	ofptError            uint8 = 1
	ofptEchoRequest      uint8 = 2
	ofptEchoReply        uint8 = 3
	ofptExperimenter     uint8 = 4
	ofptFeaturesRequest  uint8 = 5
	ofptFeaturesReply    uint8 = 6
	ofptFlowMod          uint8 = 14
	ofptMultipartRequest uint8 = 18
	ofptMultipartReply   uint8 = 19
	ofptBarrierRequest   uint8 = 20
	ofptBarrierReply     uint8 = 21
)

const (
	ofpHeaderLen = 8
	ofpTableAll  = 0xff       // OFPTT_ALL
	ofpPortAny   = 0xffffffff // OFPP_ANY
	ofpGroupAny  = 0xffffffff // OFPG_ANY
	ofpNoBuffer  = 0xffffffff // OFP_NO_BUFFER
)

// FlowModCommand is ofp_flow_mod_command.
type FlowModCommand uint8

const (
	FlowAdd          FlowModCommand = 0 // OFPFC_ADD: also replaces an identical (table, priority, match) flow
	FlowModify       FlowModCommand = 1 // OFPFC_MODIFY
	FlowModifyStrict FlowModCommand = 2 // OFPFC_MODIFY_STRICT
	FlowDelete       FlowModCommand = 3 // OFPFC_DELETE
	FlowDeleteStrict FlowModCommand = 4 // OFPFC_DELETE_STRICT
)

// ofpHeader builds an OpenFlow 1.3 message header; length is patched by
// finishMessage once the body is known.
func ofpHeader(typ uint8, xid uint32) []byte {
	b := []byte{ofp13Version, typ, 0, 0}
	return binary.BigEndian.AppendUint32(b, xid)
}

func finishMessage(b []byte) ([]byte, error) {
	if len(b) > 0xffff {
		return nil, fmt.Errorf("OpenFlow message of %d bytes exceeds 65535", len(b))
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b, nil
}

// FlowMod encodes f as an OpenFlow 1.3 OFPT_FLOW_MOD with the given
// command and transaction id. Deletes carry the match only; adds and
// modifies carry the instructions too.
func FlowMod(f flows.Flow, cmd FlowModCommand, xid uint32) ([]byte, error) {
	match, err := encodeMatch(f.Match)
	if err != nil {
		return nil, err
	}
	var instr []byte
	if cmd != FlowDelete && cmd != FlowDeleteStrict {
		if instr, err = encodeInstructions(f); err != nil {
			return nil, err
		}
	}
	b := flowModHeader(xid, f.Cookie, 0, f.Table, cmd, f.Priority)
	b = append(b, match...)
	return finishMessage(append(b, instr...))
}

// flowModHeader is ofp_header plus the fixed part of ofp_flow_mod.
func flowModHeader(xid uint32, cookie, cookieMask uint64, table uint8, cmd FlowModCommand, priority uint16) []byte {
	b := ofpHeader(ofptFlowMod, xid)
	b = binary.BigEndian.AppendUint64(b, cookie)
	b = binary.BigEndian.AppendUint64(b, cookieMask)
	b = append(b, table, byte(cmd))
	b = binary.BigEndian.AppendUint16(b, 0) // idle_timeout
	b = binary.BigEndian.AppendUint16(b, 0) // hard_timeout
	b = binary.BigEndian.AppendUint16(b, priority)
	b = binary.BigEndian.AppendUint32(b, ofpNoBuffer)
	b = binary.BigEndian.AppendUint32(b, ofpPortAny)
	b = binary.BigEndian.AppendUint32(b, ofpGroupAny)
	b = binary.BigEndian.AppendUint16(b, 0) // flags
	return append(b, 0, 0)
}
