package flows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

// What OVS does with a flow Validate refuses.
const (
	ovsRefuses = "refuses" // ovs-ofctl add-flow fails
	ovsAlters  = "alters"  // installed, but dumps differently from String()
	ovsPolicy  = ""        // flowgate's own rule, stricter than OVS
	ovsDrops   = "drops"   // in a group bucket: accepted, but ofproto/trace shows OVS running other actions
)

var invalidFlows = []struct {
	name string
	f    Flow
	want string // substring of the error
	ovs  string
}{
	{"tp_dst without protocol", Flow{Match: Match{EthType: EthTypeIPv4, TPDst: ExactPort(80)}}, "tp_src/tp_dst need tcp, udp or sctp", ovsAlters},
	{"tp_dst with icmp", Flow{Match: Match{EthType: EthTypeIPv4, IPProto: U8(ProtoICMP), TPDst: ExactPort(80)}}, "tp_src/tp_dst need tcp", ovsAlters},
	{"ipv6 source with ip", Flow{Match: Match{EthType: EthTypeIPv4, IPSrc: pfx("fd00::/64")}}, "ip source fd00::/64 needs ipv6 (dl_type 0x86dd), have dl_type 0x0800", ovsRefuses},
	{"ipv4 destination without dl_type", Flow{Match: Match{IPDst: pfx("10.0.0.0/8")}}, "ip destination 10.0.0.0/8 needs ip", ovsAlters},
	{"nw_proto without ip", Flow{Match: Match{IPProto: U8(ProtoTCP)}}, "nw_proto needs ip or ipv6", ovsAlters},
	{"nw_ttl on arp", Flow{Match: Match{EthType: EthTypeARP, IPTTL: U8(1)}}, "nw_ttl needs ip or ipv6", ovsAlters},
	{"icmp_type on tcp", Flow{Match: Match{EthType: EthTypeIPv4, IPProto: U8(ProtoTCP), ICMPType: U8(8)}}, "icmp_type/icmp_code need icmp", ovsAlters},
	{"icmpv4 type on ipv6", Flow{Match: Match{EthType: EthTypeIPv6, IPProto: U8(ProtoICMP), ICMPType: U8(8)}}, "icmp_type/icmp_code need icmp", ovsAlters},
	{"arp_tpa on ip", Flow{Match: Match{EthType: EthTypeIPv4, ARPTpa: pfx("10.0.0.1/32")}}, "arp_* fields need arp", ovsPolicy}, // String cannot even print it
	{"arp_op above 255", Flow{Match: Match{EthType: EthTypeARP, ARPOp: U16(256)}}, "arp_op 256", ovsAlters},
	{"nd_target on echo", Flow{Match: Match{EthType: EthTypeIPv6, IPProto: U8(ProtoICMPv6), ICMPType: U8(128), NDTarget: addr("fd00::1")}}, "nd_target needs icmp6 with icmp_type 135 or 136", ovsAlters},
	{"nd_target with icmp_code 1", Flow{Match: Match{EthType: EthTypeIPv6, IPProto: U8(ProtoICMPv6), ICMPType: U8(135), ICMPCode: U8(1), NDTarget: addr("fd00::1")}}, "icmp_code 0 or unmatched", ovsAlters},
	{"nd_tll on solicitation", Flow{Match: Match{EthType: EthTypeIPv6, IPProto: U8(ProtoICMPv6), ICMPType: U8(135), NDTll: &mac1}}, "nd_tll needs icmp6 with icmp_type 136", ovsAlters},
	{"nd_sll on advertisement", Flow{Match: Match{EthType: EthTypeIPv6, IPProto: U8(ProtoICMPv6), ICMPType: U8(136), NDSll: &mac1}}, "nd_sll needs icmp6 with icmp_type 135", ovsAlters},
	{"register 16", Flow{Match: Match{Regs: []RegMatch{Reg(16, 1, 0)}}}, "reg16: registers are reg0-reg15", ovsPolicy},
	{"register twice", Flow{Match: Match{Regs: []RegMatch{Reg(1, 1, 0), Reg(1, 2, 0)}}}, "reg1 matched twice", ovsPolicy},
	{"ct_state set and clear", Flow{Match: Match{CTState: CTStateMatch{Set: CTNew, Clear: CTNew}}}, "a flag both set and clear", ovsPolicy},
	{"tunnel addresses of two families", Flow{Match: Match{TunSrc: addr("192.168.100.11"), TunDst: addr("fd00::12")}}, "tun_src 192.168.100.11 and tun_ipv6_dst fd00::12: a tunnel is IPv4 or IPv6", ovsPolicy}, // OVS installs it; no packet matches
	{"IPv4-mapped tunnel address", Flow{Match: Match{TunDst: addr("::ffff:192.168.100.12")}}, "tun_ipv6_dst ::ffff:192.168.100.12: an IPv4 tunnel's addresses are matched as IPv4", ovsPolicy},
	{"tunnel address with a zone", Flow{Match: Match{TunSrc: addr("fe80::1%eth0")}}, "tun_ipv6_src fe80::1%eth0: an outer address has no zone", ovsRefuses},
	{"vlan 4096", Flow{Match: Match{VLANID: U16(4096)}}, "dl_vlan 4096", ovsAlters},
	{"in_port reserved", Flow{Match: Match{InPort: 0xff00}}, "in_port 65280", ovsPolicy},
	{"table 254", Flow{Table: 254}, "table 254: above 253", ovsRefuses},
	{"cookie all ones", Flow{Cookie: ^uint64(0)}, "cookie 0xffffffffffffffff is reserved", ovsPolicy},
	{"drop with output", Flow{Actions: []Action{Drop{}, Output{Port: 1}}}, "drop must be the only action", ovsRefuses},
	{"goto not last", Flow{Actions: []Action{Goto{Table: 2}, Output{Port: 1}}}, "goto_table must be the last action", ovsPolicy},
	{"goto backwards", Flow{Table: 5, Actions: []Action{Goto{Table: 3}}}, "goto_table must go forward, to a table in 6..253", ovsRefuses},
	{"goto same table", Flow{Table: 5, Actions: []Action{Goto{Table: 5}}}, "goto_table must go forward", ovsRefuses},
	{"meter not first", Flow{Actions: []Action{Output{Port: 1}, Meter{ID: 1}}}, "meter must be the first action", ovsPolicy},
	{"meter zero", Flow{Actions: []Action{Meter{ID: 0}}}, "meter id must be 1..0xffff0000", ovsRefuses},
	{"conjunction with output", Flow{Actions: []Action{Conjunction{ID: 1, Clause: 1, NClauses: 2}, Output{Port: 1}}}, "conjunction cannot be mixed", ovsRefuses},
	{"conjunction of one clause", Flow{Actions: []Action{Conjunction{ID: 1, Clause: 1, NClauses: 1}}}, "2 <= n <= 64", ovsRefuses},
	{"conjunction clause above n", Flow{Actions: []Action{Conjunction{ID: 1, Clause: 3, NClauses: 2}}}, "1 <= k <= n", ovsRefuses},
	{"output to controller port", Flow{Actions: []Action{Output{Port: PortController}}}, "use Controller{Reason: PacketInAction}", ovsPolicy},
	{"output to port 0", Flow{Actions: []Action{Output{Port: 0}}}, "not a port number", ovsPolicy},
	{"output to reserved OF1.0 range", Flow{Actions: []Action{Output{Port: 0xff00}}}, "not a port number", ovsRefuses},
	{"dec_ttl on arp", Flow{Match: Match{EthType: EthTypeARP}, Actions: []Action{DecTTL{}}}, "dec_ttl needs ip or ipv6", ovsRefuses},
	{"load ip_src without ip", Flow{Match: Match{EthType: EthTypeIPv6}, Actions: []Action{Load{Field: Whole(FieldIPv4Src), Value: 1}}}, "NXM_OF_IP_SRC needs ip in the match", ovsRefuses},
	{"load udp port through tp_dst", Flow{Match: Match{EthType: EthTypeIPv4, IPProto: U8(ProtoUDP)}, Actions: []Action{Load{Field: Whole(FieldTPDst), Value: 53}}}, "NXM_OF_TCP_DST needs tcp or tcp6", ovsRefuses},
	{"load icmpv6_type on icmp", Flow{Match: Match{EthType: EthTypeIPv4, IPProto: U8(ProtoICMP)}, Actions: []Action{Load{Field: Whole(FieldICMPv6Type), Value: 129}}}, "NXM_NX_ICMPV6_TYPE needs icmp6", ovsRefuses},
	{"load nd_tll on solicitation", Flow{Match: Match{EthType: EthTypeIPv6, IPProto: U8(ProtoICMPv6), ICMPType: U8(135)}, Actions: []Action{Load{Field: Whole(FieldNDTll), Value: 1}}}, "NXM_NX_ND_TLL needs icmp6 with icmp_type 136", ovsRefuses},
	{"load ct_mark outside ct", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{Load{Field: Whole(FieldCTMark), Value: 1}}}, "can only be written inside ct(commit,exec(...))", ovsRefuses},
	{"load value too wide", Flow{Actions: []Action{Load{Field: Bits(RegField(0), 0, 4), Value: 16}}}, "value 0x10 does not fit in 4 bits", ovsRefuses},
	{"load slice past the field", Flow{Actions: []Action{Load{Field: Bits(RegField(0), 30, 4), Value: 1}}}, "NXM_NX_REG0 is 32 bits wide", ovsRefuses},
	{"load offset without bits", Flow{Actions: []Action{Load{Field: FieldRef{Field: RegField(0), Ofs: 3}, Value: 1}}}, "an offset needs a bit count", ovsPolicy},
	{"load arp_op above 255", Flow{Match: Match{EthType: EthTypeARP}, Actions: []Action{Load{Field: Whole(FieldARPOp), Value: 256}}}, "arp_op values are 0..255", ovsRefuses},
	{"set in_port to LOCAL", Flow{Actions: []Action{Load{Field: Whole(FieldInPort), Value: 0xfffe}}}, "in_port must be set to a port number", ovsAlters},
	{"move widths differ", Flow{Actions: []Action{Move{Src: Bits(RegField(0), 0, 8), Dst: Bits(RegField(1), 0, 16)}}}, "source is 8 bits, destination 16", ovsRefuses},
	{"move into ct_label outside ct", Flow{Actions: []Action{Move{Src: Whole(RegField(0)), Dst: Bits(FieldCTLabel, 0, 32)}}}, "can only be written inside ct", ovsRefuses},
	{"output reg wider than 32 bits", Flow{Actions: []Action{OutputReg{Field: Whole(FieldMetadata)}}}, "wider than 32 bits", ovsPolicy}, // OVS accepts, ports are 32 bits
	{"controller reason unknown", Flow{Actions: []Action{Controller{Reason: 9}}}, "unknown packet-in reason 9", ovsPolicy},
	{"ct on arp", Flow{Match: Match{EthType: EthTypeARP}, Actions: []Action{CT{}}}, "ct needs ip or ipv6", ovsRefuses},
	{"ct force without commit", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Force: true}}}, "need commit", ovsRefuses},
	{"ct exec without commit", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Exec: []Action{Load{Field: Whole(FieldCTMark), Value: 1}}}}}, "need commit", ovsRefuses},
	{"ct snat without commit", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{NAT: &NAT{Kind: NATSrc, AddrMin: addr("10.0.0.1")}}}}, "need commit", ovsRefuses},
	{"ct commit of +inv", Flow{Match: Match{EthType: EthTypeIPv4, CTState: CTStateMatch{Set: CTTrk | CTInv}}, Actions: []Action{CT{Commit: true}}}, "cannot be committed", ovsRefuses},
	{"ct zone number and field", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Zone: 1, ZoneField: &FieldRef{Field: RegField(0), Bits: 16}}}}, "zone given both", ovsPolicy},
	{"ct zone field of 32 bits", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{ZoneField: &FieldRef{Field: RegField(0)}}}}, "a zone field must be 16 bits", ovsRefuses},
	{"ct exec writes a register", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, Exec: []Action{Load{Field: Whole(RegField(0)), Value: 1}}}}}, "ct exec may only write ct_mark or ct_label", ovsRefuses},
	{"ct exec outputs", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, Exec: []Action{Output{Port: 1}}}}}, "ct exec may only hold loads and moves", ovsRefuses},
	{"nat ipv6 address on ip", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, NAT: &NAT{Kind: NATDst, AddrMin: addr("fd00::1")}}}}, "not of the flow's IP family", ovsRefuses},
	{"nat range reversed", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, NAT: &NAT{Kind: NATSrc, AddrMin: addr("10.0.0.5"), AddrMax: addr("10.0.0.1")}}}}, "reversed or mixes families", ovsRefuses},
	{"nat ports reversed", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, NAT: &NAT{Kind: NATSrc, AddrMin: addr("10.0.0.1"), PortMin: 90, PortMax: 80}}}}, "port range 90-80 is reversed", ovsRefuses},
	{"nat hash and random", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, NAT: &NAT{Kind: NATSrc, AddrMin: addr("10.0.0.1"), Hash: true, Random: true}}}}, "hash and random exclude each other", ovsRefuses},
	{"nat flags without address", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, NAT: &NAT{Kind: NATSrc, Random: true}}}}, "need an address", ovsAlters},
	{"nat from the unspecified address", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, NAT: &NAT{Kind: NATDst, AddrMin: addr("0.0.0.0"), AddrMax: addr("10.0.0.1")}}}}, "NAT address 0.0.0.0 is unspecified", ovsRefuses},
	{"nat to the unspecified address", Flow{Match: Match{EthType: EthTypeIPv6}, Actions: []Action{CT{Commit: true, NAT: &NAT{Kind: NATDst, AddrMin: addr("::")}}}}, "NAT address :: is unspecified", ovsAlters},
	{"ct_nw_proto with +trk only", Flow{Match: Match{CTState: CTStateMatch{Set: CTTrk}, CTNwProto: U8(ProtoTCP)}}, "ct_nw_proto needs a valid ct_state", ovsRefuses},
	{"ct_nw_proto 0", Flow{Match: Match{CTState: CTStateMatch{Set: CTTrk | CTEst}, CTNwProto: U8(0)}}, "ct_nw_proto 0", ovsAlters},
	{"ct_tp_dst without ct_nw_proto", Flow{Match: Match{CTState: CTStateMatch{Set: CTTrk | CTEst}, CTTpDst: U16(80)}}, "ct_tp_dst needs ct_nw_proto", ovsPolicy}, // String cannot print it; OVS drops it
	{"load tun_id too wide", Flow{Actions: []Action{Load{Field: Bits(FieldTunID, 0, 24), Value: 0x1000000}}}, "value 0x1000000 does not fit in 24 bits", ovsRefuses},
	{"load tun_dst slice past the field", Flow{Actions: []Action{Load{Field: Bits(FieldTunDst, 24, 16), Value: 1}}}, "NXM_NX_TUN_IPV4_DST is 32 bits wide", ovsRefuses},
	{"set tunnel without an address", Flow{Actions: []Action{SetTunnel{}, Output{Port: 10}}}, "action 0 (set_field:invalid IP->tun_ipv6_dst): no address to set", ovsRefuses},
	{"set tunnel address with a zone", Flow{Actions: []Action{SetTunnel{Src: true, Addr: addr("fe80::1%eth0")}}}, "->tun_ipv6_src): an outer address has no zone", ovsRefuses},
	{"set IPv4-mapped tunnel address", Flow{Actions: []Action{SetTunnel{Addr: addr("::ffff:192.168.100.12")}}}, "(set_field:::ffff:192.168.100.12->tun_ipv6_dst): an IPv4 tunnel's addresses are set as IPv4", ovsPolicy},
	{"move tun_id into a narrower register slice", Flow{Actions: []Action{Move{Src: Bits(FieldTunID, 0, 24), Dst: Bits(RegField(2), 0, 16)}}}, "source is 24 bits, destination 16", ovsRefuses},
	{"tun_id written in ct exec", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Commit: true, Exec: []Action{Load{Field: Whole(FieldTunID), Value: 1}}}}}, "ct exec may only write ct_mark or ct_label", ovsRefuses},
	{"set eth_type", Flow{Actions: []Action{Load{Field: Whole(FieldEthType), Value: 0x800}}}, "NXM_OF_ETH_TYPE can be matched but not written", ovsRefuses},
	{"move into nw_proto", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{Move{Src: Bits(RegField(0), 0, 8), Dst: Whole(FieldIPProto)}}}, "NXM_OF_IP_PROTO can be matched but not written", ovsRefuses},
	{"learn into table 255", Flow{Actions: []Action{Learn{Table: 255}}}, "learn table 255: above 253", ovsRefuses},
	{"learn into table 254", Flow{Actions: []Action{Learn{Table: 254}}}, "learn table 254: above 253", ovsPolicy},
	{"learn cookie all ones", Flow{Actions: []Action{Learn{Table: 1, Cookie: ^uint64(0)}}}, "learn cookie 0xffffffffffffffff is reserved", ovsPolicy},
	{"learn source needs the flow's match", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Value: 0x800, Dst: Whole(FieldEthType)}, {Src: &FieldRef{Field: FieldIPv4Src}, Dst: Whole(FieldIPv4Src)}}}}},
		"NXM_OF_IP_SRC needs ip in the match", ovsRefuses},
	{"learned match needs eth_type first", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Src: &FieldRef{Field: FieldIPv4Src}, Dst: Whole(FieldIPv4Src)}, {Value: 0x800, Dst: Whole(FieldEthType)}}}}},
		"the learned flow matches NXM_OF_IP_SRC, which needs ip matched against a value in an earlier spec", ovsRefuses},
	{"learned match on the wrong family", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Value: 0x86dd, Dst: Whole(FieldEthType)}, {Src: &FieldRef{Field: FieldIPv4Src}, Dst: Whole(FieldIPv4Src)}}}}},
		"the learned flow matches NXM_OF_IP_SRC, which needs ip", ovsRefuses},
	{"learned udp port needs nw_proto", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Value: 0x800, Dst: Whole(FieldEthType)}, {Value: 53, Dst: Whole(FieldUDPDst)}}}}},
		"the learned flow matches NXM_OF_UDP_DST, which needs udp or udp6", ovsRefuses},
	{"learned load needs eth_type", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Load: true, Value: 1, Dst: Whole(FieldIPv4Src)}}}}},
		"the learned flow writes NXM_OF_IP_SRC, which needs ip", ovsRefuses},
	{"learned load into eth_type", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Load: true, Value: 0x800, Dst: Whole(FieldEthType)}}}}},
		"NXM_OF_ETH_TYPE can be matched but not written", ovsRefuses},
	{"learned load into ct_mark", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Load: true, Value: 1, Dst: Whole(FieldCTMark)}}}}},
		"NXM_NX_CT_MARK can only be written inside ct(commit,exec(...))", ovsPolicy}, // OVS accepts the learn action
	{"learn widths differ", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Src: &FieldRef{Field: RegField(0), Bits: 8}, Dst: Bits(RegField(1), 0, 16)}}}}},
		"source is 8 bits, destination 16", ovsRefuses},
	{"learn value too wide", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Value: 0x100, Dst: Bits(RegField(1), 0, 8)}}}}},
		"value 0x100 does not fit in 8 bits", ovsRefuses},
	{"learn slice past the field", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Load: true, Value: 1, Dst: Bits(RegField(1), 30, 4)}}}}},
		"NXM_NX_REG1 is 32 bits wide", ovsRefuses},
	{"learn value and source", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Src: &FieldRef{Field: RegField(0)}, Value: 1, Dst: Whole(RegField(1))}}}}},
		"a value and a source field exclude each other", ovsPolicy}, // String prints the source only
	{"learn in_port LOCAL", Flow{Actions: []Action{Learn{Table: 1, Specs: []LearnSpec{{Value: uint64(PortLocal & 0xffff), Dst: Whole(FieldInPort)}}}}},
		"in_port values are port numbers 0..65279", ovsAlters},
	{"plain nat with address", Flow{Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{NAT: &NAT{AddrMin: addr("10.0.0.1")}}}}, "plain nat takes no addresses", ovsPolicy},
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range invalidFlows {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %q", tc.f.String())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate error\n got %v\nwant it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.f.String()) {
				t.Errorf("error does not name the flow: %v", err)
			}
		})
	}
}

func TestValidateAcceptsBriefFlows(t *testing.T) {
	for _, tc := range briefFlows {
		if err := tc.flow.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestValidateMatchesOnOVS checks the reason behind each rule against a real
// switch: flows marked ovsRefuses must be refused by ovs-ofctl, flows marked
// ovsAlters must be installed as something other than their text form.
func TestValidateMatchesOnOVS(t *testing.T) {
	o, ctx := newTestBridge(t)
	for _, tc := range invalidFlows {
		if tc.ovs == ovsPolicy {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			text := tc.f.String()
			if _, err := o.Ofctl(ctx, "del-flows", "br0"); err != nil {
				t.Fatal(err)
			}
			_, addErr := o.Ofctl(ctx, "add-flow", "br0", text)
			switch tc.ovs {
			case ovsRefuses:
				if addErr == nil {
					t.Errorf("OVS accepted %q, so Validate is stricter than it says", text)
				}
			case ovsAlters:
				if addErr != nil {
					t.Fatalf("OVS refused %q: %v", text, addErr)
				}
				out, err := o.Ofctl(ctx, "dump-flows", "br0", "--no-stats")
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.TrimSpace(out); got == text {
					t.Errorf("OVS installed %q unchanged, so the rule is unnecessary", text)
				} else {
					t.Logf("OVS installs %q as %q", text, got)
				}
			}
		})
	}
}

var invalidGroups = []struct {
	name string
	g    GroupDesc
	want string // substring of the error
	ovs  string
}{
	{"reserved group id", GroupDesc{ID: 0xfffffffc}, "group id 0xfffffffc: above 0xffffff00", ovsRefuses},
	{"weight 0", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 0, Actions: []Action{Output{Port: 1}}}}}, "bucket 0: weight 0", ovsPolicy},
	{"goto in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Goto{Table: 1}}}}}, "goto_table is an instruction", ovsRefuses},
	{"meter in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Meter{ID: 1}, Output{Port: 1}}}}}, "meter is an instruction", ovsRefuses},
	{"conjunction in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Conjunction{ID: 1, Clause: 1, NClauses: 2}}}}}, "conjunction belongs in a flow", ovsPolicy},
	{"bucket to its own group", GroupDesc{ID: 9, Buckets: []Bucket{{Weight: 1, Actions: []Action{Group{ID: 9}}}}}, "a bucket cannot send to its own group", ovsPolicy},
	{"ct_mark outside ct in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Load{Field: Whole(FieldCTMark), Value: 1}}}}}, "can only be written inside ct", ovsRefuses},
	{"load too wide in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Load{Field: Bits(RegField(0), 0, 4), Value: 16}}}}}, "bucket 0: action 0", ovsRefuses},
	{"learn in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{briefLearn(false), Output{Port: 1}}}}},
		"bucket 0: action 0 (learn(", ovsDrops},
	{"controller(reason=no_match) in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Controller{Reason: PacketInNoMatch}, Output{Port: 1}}}}},
		"which drops this action", ovsDrops},
	{"output to a register in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{OutputReg{Field: Whole(RegField(1))}, Output{Port: 1}}}}},
		"which drops this action", ovsDrops},
	{"two outputs in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Output{Port: 1}, Resubmit{Table: 3}}}}},
		"only one of a bucket's output, group, resubmit and ct", ovsDrops},
	{"load after output in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Resubmit{Table: 3}, Load{Field: Whole(RegField(1)), Value: 1}}}}},
		"write them in that order", ovsDrops},
	{"dec_ttl after a load in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Load{Field: Whole(RegField(1)), Value: 1}, DecTTL{}, Resubmit{Table: 3}}}}},
		"write them in that order", ovsDrops},
	{"two dec_ttl in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{DecTTL{}, DecTTL{}, Resubmit{Table: 3}}}}},
		"only one dec_ttl", ovsDrops},
	{"loads going nowhere in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{Load{Field: Whole(RegField(1)), Value: 1}}}}},
		"bucket 0: no output, group, resubmit or ct", ovsDrops},
	{"nat range reversed in a bucket", GroupDesc{ID: 21, Buckets: []Bucket{{Weight: 1, Actions: []Action{CT{Commit: true, NAT: &NAT{Kind: NATDst, AddrMin: addr("10.0.0.5"), AddrMax: addr("10.0.0.1")}}}}}},
		"reversed or mixes families", ovsRefuses},
}

func TestGroupValidateRejects(t *testing.T) {
	for _, tc := range invalidGroups {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %q", tc.g.String())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate error\n got %v\nwant it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.g.String()) {
				t.Errorf("error does not name the group: %v", err)
			}
		})
	}
}

// bucketOnlyGroup holds actions a flow could not have without a match
// (ct, dec_ttl and ip_src need ip; a NAT address needs its family): in a
// bucket they are valid, whatever the flows that send packets to the
// group match.
func bucketOnlyGroup() GroupDesc {
	return GroupDesc{ID: 10, Buckets: []Bucket{
		{Weight: 1, Actions: []Action{DecTTL{}, Load{Field: Bits(RegField(9), 16, 16), Value: 1}, CT{Commit: true, Zone: 1, NAT: &NAT{Kind: NATDst, AddrMin: addr("fd00::1"), PortMin: 80}}}},
		{Weight: 1, Actions: []Action{Move{Src: Whole(FieldIPv4Src), Dst: Whole(RegField(0))}, CT{Commit: true, Zone: 1, NAT: &NAT{Kind: NATDst, AddrMin: addr("10.0.0.1")}}}},
		{Weight: 1, Actions: []Action{SetEthDst{MAC: mac1}, Controller{Reason: PacketInAction}}},
		{Weight: 1, Actions: []Action{Drop{}}},
	}}
}

func TestGroupValidateAcceptsBucketActions(t *testing.T) {
	for _, g := range []GroupDesc{affinityGroup(), bucketOnlyGroup(), {ID: MaxGroupID}} {
		if err := g.Validate(); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestGroupValidateMatchesOnOVS: groups marked ovsRefuses are refused by
// ovs-ofctl add-group (their ids are free on the bridge, so only their
// content can be the reason); for groups marked ovsDrops, ofproto/trace
// shows OVS running the bucket's actions otherwise than written; what
// Validate accepts in a bucket, OVS accepts.
func TestGroupValidateMatchesOnOVS(t *testing.T) {
	o, ctx := newTestBridge(t)
	for _, tc := range invalidGroups {
		switch tc.ovs {
		case ovsRefuses:
			t.Run(tc.name, func(t *testing.T) {
				if _, err := o.Ofctl(ctx, "add-group", "br0", tc.g.String()); err == nil {
					t.Errorf("OVS accepted %q, so Validate is stricter than it says", tc.g.String())
				}
			})
		case ovsDrops:
			t.Run(tc.name, func(t *testing.T) {
				written, ran := traceBucket(t, ctx, o, tc.g)
				if slices.Equal(written, ran) {
					t.Errorf("OVS ran the bucket as written (%q), so the rule is unnecessary", written)
				} else {
					t.Logf("bucket %q runs as %q", written, ran)
				}
			})
		}
	}
	g := bucketOnlyGroup()
	if _, err := o.Ofctl(ctx, "add-group", "br0", g.String()); err != nil {
		t.Errorf("OVS refused a group Validate accepts: %v", err)
	}
	for _, g := range []GroupDesc{affinityGroup(), {ID: 22, Buckets: bucketOnlyGroup().Buckets[:1]}} {
		if written, ran := traceBucket(t, ctx, o, g); !slices.Equal(written, ran) {
			t.Errorf("OVS ran bucket %q as %q", written, ran)
		}
	}
}

// traceBucket installs g's first bucket as a group of type all (which
// runs its buckets as a select group does, without a hash to follow),
// sends a TCP packet to it with ofproto/trace, and returns the bucket's
// actions as written and as the trace shows them run.
func traceBucket(t *testing.T, ctx context.Context, o *testbed.OVS, g GroupDesc) (written, ran []string) {
	t.Helper()
	first := GroupDesc{ID: g.ID, Buckets: []Bucket{{Weight: 1, Actions: g.Buckets[0].Actions}}} // type all has no weights
	text := strings.Replace(first.String(), ",type=select", ",type=all", 1)
	flow := fmt.Sprintf("table=0,priority=65535,ip actions=group:%d", g.ID)
	for _, args := range [][]string{{"add-group", "br0", text}, {"add-flow", "br0", flow}} {
		if _, err := o.Ofctl(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		o.Ofctl(ctx, "del-flows", "br0", "table=0,priority=65535,ip", "--strict")
		o.Ofctl(ctx, "del-groups", "br0", fmt.Sprintf("group_id=%d", g.ID))
	}()
	out, err := o.Appctl(ctx, "ofproto/trace", "br0", "in_port=LOCAL,tcp,nw_src=10.1.2.3,nw_dst=10.0.0.1,tp_dst=80,nw_ttl=64")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range g.Buckets[0].Actions {
		written = append(written, formatAction(a))
	}
	// The trace lists bucket 0's actions one per line, with what they
	// lead to in between ("3. No match.", "-> ..."); keep the actions.
	_, bucket, _ := strings.Cut(out, "bucket 0\n")
	bucket, _, _ = strings.Cut(bucket, "bucket 1\n")
	for _, line := range strings.Split(bucket, "\n") {
		if line = strings.TrimSpace(line); slices.Contains(written, line) {
			ran = append(ran, line)
		}
	}
	return written, ran
}
