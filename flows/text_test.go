package flows

import (
	"net/netip"
	"testing"
)

var (
	mac1 = MustMAC("02:00:00:00:00:01")
	mac2 = MustMAC("02:00:00:00:00:02")
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// briefFlows are the dump-flows lines observed on OVS 3.1 that the text form
// must reproduce byte for byte, with the IR that produces each.
var briefFlows = []struct {
	name string
	flow Flow
	want string
}{
	{
		"ct commit with exec and goto",
		Flow{Table: 1, Priority: 100, Match: Match{EthType: EthTypeIPv4, IPProto: U8(ProtoTCP), IPSrc: pfx("10.0.0.0/24"), TPDst: &PortMatch{Port: 0x1f40, Mask: 0xfff0}},
			Actions: []Action{CT{Commit: true, Zone: 5, Exec: []Action{Load{Field: Bits(FieldCTMark, 0, 4), Value: 1}}}, Goto{Table: 5}}},
		"table=1, priority=100,tcp,nw_src=10.0.0.0/24,tp_dst=0x1f40/0xfff0 actions=ct(commit,zone=5,exec(load:0x1->NXM_NX_CT_MARK[0..3])),goto_table:5",
	},
	{
		"cookie and empty match",
		Flow{Cookie: 0x1234, Table: 2, Priority: 0},
		"cookie=0x1234, table=2, priority=0 actions=drop",
	},
	{
		"table 0 and cookie 0 omitted",
		Flow{Priority: 10, Match: Match{EthType: EthTypeIPv4}, Actions: []Action{CT{Table: U8(2), Zone: 3, NAT: &NAT{}}}},
		"priority=10,ip actions=ct(table=2,zone=3,nat)",
	},
	{
		"arp responder",
		Flow{Table: 3, Priority: 5, Match: Match{EthType: EthTypeARP, ARPTpa: pfx("10.0.0.1/32")},
			Actions: []Action{Move{Src: Whole(FieldEthSrc), Dst: Whole(FieldEthDst)}, SetEthSrc{MAC: mac1}, Load{Field: Bits(FieldARPOp, 0, 16), Value: 2}, Load{Field: Whole(FieldARPSha), Value: 0x020000000001}, Output{Port: PortInPort}}},
		"table=3, priority=5,arp,arp_tpa=10.0.0.1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:02:00:00:00:00:01->eth_src,load:0x2->NXM_OF_ARP_OP[],set_field:02:00:00:00:00:01->arp_sha,IN_PORT",
	},
	{
		"conjunction clause",
		Flow{Table: 4, Priority: 7, Match: Match{CTState: CTStateMatch{Set: CTTrk | CTNew, Clear: CTEst}, EthType: EthTypeIPv6, IPProto: U8(ProtoTCP), IPSrc: pfx("fd00::/64")},
			Actions: []Action{Conjunction{ID: 5, Clause: 1, NClauses: 2}}},
		"table=4, priority=7,ct_state=+new-est+trk,tcp6,ipv6_src=fd00::/64 actions=conjunction(5,1/2)",
	},
	{
		"conj_id with snat",
		Flow{Table: 4, Priority: 7, Match: Match{ConjID: U32(5), EthType: EthTypeIPv4},
			Actions: []Action{CT{Commit: true, Zone: 1, NAT: &NAT{Kind: NATSrc, AddrMin: addr("192.0.2.10"), PortMin: 1024, PortMax: 65535}}, DecTTL{}, OutputReg{Field: Whole(RegField(1))}}},
		"table=4, priority=7,conj_id=5,ip actions=ct(commit,zone=1,nat(src=192.0.2.10:1024-65535)),dec_ttl,output:NXM_NX_REG1[]",
	},
	// Issue 15: networks span hosts over Geneve/VXLAN tunnels from br-int,
	// the network carried in the tunnel key. The sending host sets the
	// remote host and the key before output to the flow-based tunnel
	// port; the receiving host copies the key into a register.
	{
		"tunnel encapsulation",
		Flow{Table: 5, Priority: 100, Match: Match{Regs: []RegMatch{Reg(1, 3, 0)}, EthDst: ExactMAC(mac2)},
			Actions: []Action{Load{Field: Whole(FieldTunDst), Value: 0xc0a8640c}, Load{Field: Whole(FieldTunID), Value: 0x4031}, Output{Port: 10}}},
		"table=5, priority=100,reg1=0x3,dl_dst=02:00:00:00:00:02 actions=set_field:192.168.100.12->tun_dst,set_field:0x4031->tun_id,output:10",
	},
	{
		"tunnel decapsulation",
		Flow{Priority: 100, Match: Match{InPort: 10, TunID: &Masked64{Value: 0x4031}, TunSrc: addr("192.168.100.11"), TunDst: addr("192.168.100.12")},
			Actions: []Action{Move{Src: Bits(FieldTunID, 0, 16), Dst: Bits(RegField(2), 0, 16)}, Goto{Table: 1}}},
		"priority=100,tun_id=0x4031,tun_src=192.168.100.11,tun_dst=192.168.100.12,in_port=10 actions=move:NXM_NX_TUN_ID[0..15]->NXM_NX_REG2[0..15],goto_table:1",
	},
}

func TestFlowStringBriefExamples(t *testing.T) {
	for _, tc := range briefFlows {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.flow.String(); got != tc.want {
				t.Errorf("String()\n got %s\nwant %s", got, tc.want)
			}
			if err := tc.flow.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestMatchString covers every match field, its exact and masked forms and
// the order OVS prints them in.
func TestMatchString(t *testing.T) {
	ip4 := Match{EthType: EthTypeIPv4}
	with := func(m Match, f func(*Match)) Match { f(&m); return m }
	tests := []struct {
		name string
		m    Match
		want string
	}{
		{"any", Match{}, ""},
		{"in_port", Match{InPort: 3}, "in_port=3"},
		{"in_port LOCAL", Match{InPort: PortLocal}, "in_port=LOCAL"},
		{"metadata exact zero", Match{Metadata: &Masked64{}}, "metadata=0"},
		{"metadata masked", Match{Metadata: &Masked64{Value: 0x14, Mask: 0xf}}, "metadata=0x4/0xf"},
		{"metadata all-ones mask is exact", Match{Metadata: &Masked64{Value: 1, Mask: ^uint64(0)}}, "metadata=0x1"},
		{"regs sorted by index", Match{Regs: []RegMatch{Reg(3, 7, 0), Reg(0, 5, 0xff)}}, "reg0=0x5/0xff,reg3=0x7"},
		{"reg value masked down", Match{Regs: []RegMatch{Reg(15, 5, 1)}}, "reg15=0x1/0x1"},
		{"reg zero masked", Match{Regs: []RegMatch{Reg(2, 0, 0xf)}}, "reg2=0/0xf"},
		{"ct_state all flags", Match{CTState: CTStateMatch{Set: CTRel | CTRpl | CTInv | CTSNAT | CTDNAT, Clear: CTTrk}}, "ct_state=+rel+rpl+inv-trk+snat+dnat"},
		{"ct_state all eight flags is exact", Match{CTState: CTStateMatch{Set: CTRpl | CTDNAT, Clear: ctStateAll &^ (CTRpl | CTDNAT)}}, "ct_state=rpl|dnat"},
		{"ct_state all eight clear", Match{CTState: CTStateMatch{Clear: ctStateAll}}, "ct_state=0"},
		{"ct_zone decimal", Match{CTZone: U16(16)}, "ct_zone=16"},
		{"ct_mark", Match{CTMark: Mask32(3, 0xf)}, "ct_mark=0x3/0xf"},
		{"ct_mark zero", Match{CTMark: Exact32(0)}, "ct_mark=0"},
		{"ct_label low", Match{CTLabel: &Masked128{Lo: 1, MaskLo: 0xff}}, "ct_label=0x1/0xff"},
		{"ct_label high", Match{CTLabel: &Masked128{Hi: 1, Lo: 1}}, "ct_label=0x10000000000000001"},
		{"ct_label high mask", Match{CTLabel: &Masked128{Hi: 1, MaskHi: ^uint64(0)}}, "ct_label=0x10000000000000000/0xffffffffffffffff0000000000000000"},
		{"conj_id", Match{ConjID: U32(4294967295)}, "conj_id=4294967295"},
		{"ct_nw_proto and ct_tp_dst after the ct addresses", Match{CTState: CTStateMatch{Set: CTTrk | CTEst}, CTMark: Exact32(1), CTNwDst: pfx("10.0.0.1/32"), CTNwProto: U8(ProtoTCP), CTTpDst: U16(80), EthType: EthTypeIPv4, IPProto: U8(ProtoTCP), Regs: []RegMatch{Reg(0, 1, 0)}},
			"ct_state=+est+trk,ct_mark=0x1,ct_nw_dst=10.0.0.1,ct_nw_proto=6,ct_tp_dst=80,tcp,reg0=0x1"},
		{"ct_nw_proto after ct_ipv6_dst", Match{CTState: CTStateMatch{Set: CTTrk | CTNew}, CTZone: U16(3), CTNwDst: pfx("fd00::1/128"), CTNwProto: U8(ProtoUDP), EthType: EthTypeIPv6},
			"ct_state=+new+trk,ct_zone=3,ct_ipv6_dst=fd00::1,ct_nw_proto=17,ipv6"},
		{"tun_id exact", Match{TunID: &Masked64{Value: 0x4031}}, "tun_id=0x4031"},
		{"tun_id zero", Match{TunID: &Masked64{}}, "tun_id=0"},
		{"tun_id masked down", Match{TunID: &Masked64{Value: 0x14031, Mask: 0xffff}}, "tun_id=0x4031/0xffff"},
		{"tun_id zero masked", Match{TunID: &Masked64{Mask: 0xffff}}, "tun_id=0/0xffff"},
		{"tun_id all-ones mask is exact", Match{TunID: &Masked64{Value: 5, Mask: ^uint64(0)}}, "tun_id=0x5"},
		{"tunnel after registers, before metadata", Match{InPort: 3, Metadata: &Masked64{Value: 1}, Regs: []RegMatch{Reg(0, 1, 0)}, TunID: &Masked64{Value: 5}, TunSrc: addr("1.2.3.4"), TunDst: addr("5.6.7.8"), EthType: EthTypeIPv4},
			"ip,reg0=0x1,tun_id=0x5,tun_src=1.2.3.4,tun_dst=5.6.7.8,metadata=0x1,in_port=3"},
		{"tun_dst alone", Match{TunDst: addr("192.168.100.12")}, "tun_dst=192.168.100.12"},
		{"tunnel over IPv6", Match{TunID: &Masked64{Value: 0x31, Mask: 0xffff}, TunSrc: addr("fd00::11"), TunDst: addr("::1.2.3.4")}, "tun_id=0x31/0xffff,tun_ipv6_src=fd00::11,tun_ipv6_dst=::1.2.3.4"},
		{"tun_ipv6_src alone", Match{TunSrc: addr("fd00::11")}, "tun_ipv6_src=fd00::11"},
		{"dl_vlan", Match{VLANID: U16(5)}, "dl_vlan=5"},
		{"dl_src exact", Match{EthSrc: ExactMAC(mac1)}, "dl_src=02:00:00:00:00:01"},
		{"dl_dst group bit", Match{EthDst: MaskedMAC(MACMulticastBit, MACMulticastBit)}, "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"},
		{"dl_src masked down", Match{EthSrc: MaskedMAC(mac2, MustMAC("ff:ff:ff:00:00:00"))}, "dl_src=02:00:00:00:00:00/ff:ff:ff:00:00:00"},
		{"other ethertype", Match{EthType: 0x88cc, EthSrc: ExactMAC(mac1)}, "dl_src=02:00:00:00:00:01,dl_type=0x88cc"},
		{"rarp", Match{EthType: 0x8035}, "rarp"},
		{"ip", ip4, "ip"},
		{"nw_src prefix masked", with(ip4, func(m *Match) { m.IPSrc = pfx("10.0.0.5/24") }), "ip,nw_src=10.0.0.0/24"},
		{"nw_dst host", with(ip4, func(m *Match) { m.IPDst = pfx("10.0.0.1/32") }), "ip,nw_dst=10.0.0.1"},
		{"nw_src /0 is any", with(ip4, func(m *Match) { m.IPSrc = pfx("0.0.0.0/0") }), "ip"},
		{"igmp has no keyword", with(ip4, func(m *Match) { m.IPProto = U8(2) }), "ip,nw_proto=2"},
		{"tcp", with(ip4, func(m *Match) { m.IPProto = U8(ProtoTCP); m.TPSrc = ExactPort(5); m.TPDst = ExactPort(80) }), "tcp,tp_src=5,tp_dst=80"},
		{"udp masked zero port", with(ip4, func(m *Match) { m.IPProto = U8(ProtoUDP); m.TPSrc = &PortMatch{Port: 0, Mask: 0xfff0} }), "udp,tp_src=0x0/0xfff0"},
		{"sctp port all-ones mask", with(ip4, func(m *Match) { m.IPProto = U8(ProtoSCTP); m.TPDst = &PortMatch{Port: 65535, Mask: 0xffff} }), "sctp,tp_dst=65535"},
		{"icmp", with(ip4, func(m *Match) { m.IPProto = U8(ProtoICMP); m.ICMPType = U8(8); m.ICMPCode = U8(0) }), "icmp,icmp_type=8,icmp_code=0"},
		{"ipv6 addresses", Match{EthType: EthTypeIPv6, IPSrc: pfx("fd00::5/64"), IPDst: pfx("fd00::1/128")}, "ipv6,ipv6_src=fd00::/64,ipv6_dst=fd00::1"},
		{"ipv6 glibc dotted tail", Match{EthType: EthTypeIPv6, IPSrc: pfx("::1.2.3.4/128"), IPDst: pfx("::1:0/128")}, "ipv6,ipv6_src=::1.2.3.4,ipv6_dst=::0.1.0.0"},
		{"ipv6 mapped", Match{EthType: EthTypeIPv6, IPSrc: pfx("::ffff:1.2.3.4/128")}, "ipv6,ipv6_src=::ffff:1.2.3.4"},
		{"ipv6 proto", Match{EthType: EthTypeIPv6, IPProto: U8(47)}, "ipv6,nw_proto=47"},
		{"ttl before icmp", with(ip4, func(m *Match) { m.IPProto = U8(ProtoICMP); m.IPTTL = U8(1); m.ICMPType = U8(8) }), "icmp,nw_ttl=1,icmp_type=8"},
		{"hop limit", Match{EthType: EthTypeIPv6, IPDst: pfx("fd00::1/128"), IPTTL: U8(1)}, "ipv6,ipv6_dst=fd00::1,nw_ttl=1"},
		{"udp6 sctp6", Match{EthType: EthTypeIPv6, IPProto: U8(ProtoUDP), TPDst: ExactPort(53)}, "udp6,tp_dst=53"},
		{"nd_sll", Match{EthType: EthTypeIPv6, IPProto: U8(ProtoICMPv6), ICMPType: U8(135), NDTarget: addr("fd00::1"), NDSll: &mac1}, "icmp6,icmp_type=135,nd_target=fd00::1,nd_sll=02:00:00:00:00:01"},
		{"nd_tll", Match{EthType: EthTypeIPv6, IPProto: U8(ProtoICMPv6), ICMPType: U8(136), ICMPCode: U8(0), NDTll: &mac1}, "icmp6,icmp_type=136,icmp_code=0,nd_tll=02:00:00:00:00:01"},
		{"arp fields in OVS order", Match{EthType: EthTypeARP, ARPOp: U16(1), ARPSpa: pfx("10.0.0.0/24"), ARPTpa: pfx("10.0.0.1/32"), ARPSha: ExactMAC(mac1), ARPTha: MaskedMAC(mac2, MACBroadcast)},
			"arp,arp_spa=10.0.0.0/24,arp_tpa=10.0.0.1,arp_op=1,arp_sha=02:00:00:00:00:01,arp_tha=02:00:00:00:00:02"},
		{"everything before the protocol",
			Match{Regs: []RegMatch{Reg(0, 5, 0xff)}, Metadata: &Masked64{Value: 4, Mask: 0xff}, InPort: 3, CTState: CTStateMatch{Set: CTTrk | CTNew, Clear: CTEst}, CTZone: U16(5), CTMark: Mask32(3, 0xf), CTLabel: &Masked128{Lo: 1, MaskLo: 0xff}, VLANID: U16(5), EthSrc: ExactMAC(mac1), EthDst: MaskedMAC(MACMulticastBit, MACMulticastBit), EthType: EthTypeIPv4},
			"ct_state=+new-est+trk,ct_zone=5,ct_mark=0x3/0xf,ct_label=0x1/0xff,ip,reg0=0x5/0xff,metadata=0x4/0xff,in_port=3,dl_vlan=5,dl_src=02:00:00:00:00:01,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.String(); got != tc.want {
				t.Errorf("Match.String()\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestFlowHeader(t *testing.T) {
	tests := []struct {
		f    Flow
		want string
	}{
		{Flow{Priority: DefaultPriority}, "actions=drop"},
		{Flow{Table: 5, Priority: DefaultPriority, Actions: []Action{Goto{Table: 253}}}, "table=5, actions=goto_table:253"},
		{Flow{Cookie: 0xffffffffffffff, Priority: 65535, Match: Match{EthType: EthTypeARP}}, "cookie=0xffffffffffffff, priority=65535,arp actions=drop"},
		{Flow{Priority: 0, Actions: []Action{Drop{}}}, "priority=0 actions=drop"},
	}
	for _, tc := range tests {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("String()\n got %s\nwant %s", got, tc.want)
		}
	}
}

// TestActionsString covers every action and each of its printed forms.
func TestActionsString(t *testing.T) {
	tests := []struct {
		name string
		a    []Action
		want string
	}{
		{"empty is drop", nil, "drop"},
		{"outputs", []Action{Output{Port: 3}, Output{Port: PortInPort}, Output{Port: PortNormal}, Output{Port: PortFlood}, Output{Port: PortAll}, Output{Port: PortLocal}, Output{Port: PortTable}},
			"output:3,IN_PORT,NORMAL,FLOOD,ALL,LOCAL,TABLE"},
		{"output reg", []Action{OutputReg{Field: Whole(RegField(1))}, OutputReg{Field: Bits(RegField(2), 0, 16)}}, "output:NXM_NX_REG1[],output:NXM_NX_REG2[0..15]"},
		{"resubmit group goto", []Action{Resubmit{Table: 5}, Group{ID: 5}, Goto{Table: 3}}, "resubmit(,5),group:5,goto_table:3"},
		{"meter first", []Action{Meter{ID: 5}, Output{Port: 2}}, "meter:5,output:2"},
		{"dec_ttl and eth rewrite", []Action{DecTTL{}, SetEthSrc{MAC: mac1}, SetEthDst{MAC: mac2}}, "dec_ttl,set_field:02:00:00:00:00:01->eth_src,set_field:02:00:00:00:00:02->eth_dst"},
		{"set_field hex", []Action{Load{Field: Whole(RegField(0)), Value: 5}, Load{Field: Whole(RegField(1))}, Load{Field: Whole(FieldMetadata), Value: ^uint64(0)}},
			"set_field:0x5->reg0,set_field:0->reg1,set_field:0xffffffffffffffff->metadata"},
		{"set_field typed values", []Action{Load{Field: Whole(FieldIPv4Src), Value: 0x0a000001}, Load{Field: Whole(FieldIPv6Dst), Value: 5}, Load{Field: Whole(FieldARPOp), Value: 2}, Load{Field: Whole(FieldTPDst), Value: 80}, Load{Field: Whole(FieldInPort), Value: 5}, Load{Field: Whole(FieldNDTll), Value: 0x020000000001}},
			"set_field:10.0.0.1->ip_src,set_field:::5->ipv6_dst,set_field:2->arp_op,set_field:80->tcp_dst,set_field:5->in_port,set_field:02:00:00:00:00:01->nd_tll"},
		{"load bits", []Action{Load{Field: Bits(RegField(2), 0, 32)}, Load{Field: Bits(RegField(2), 0, 4), Value: 3}, Load{Field: Bits(RegField(2), 5, 1), Value: 1}, Load{Field: Bits(FieldCTLabel, 64, 64), Value: 5}},
			"load:0->NXM_NX_REG2[],load:0x3->NXM_NX_REG2[0..3],load:0x1->NXM_NX_REG2[5],load:0x5->NXM_NX_CT_LABEL[64..127]"},
		{"move", []Action{Move{Src: Bits(RegField(0), 0, 16), Dst: Bits(RegField(1), 16, 16)}, Move{Src: Whole(FieldMetadata), Dst: Bits(FieldIPv6Src, 0, 64)}},
			"move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31],move:OXM_OF_METADATA[]->NXM_NX_IPV6_SRC[0..63]"},
		{"set_field tunnel", []Action{Load{Field: Whole(FieldTunDst), Value: 0xc0a8640c}, Load{Field: Whole(FieldTunID), Value: 0x4031}, Load{Field: Whole(FieldTunSrc), Value: 0xc0a8640b}, Load{Field: Whole(FieldTunID)}, Load{Field: Whole(FieldTunIPv6Dst), Value: 5}, Load{Field: Whole(FieldTunIPv6Src), Value: 0x01020304}},
			"set_field:192.168.100.12->tun_dst,set_field:0x4031->tun_id,set_field:192.168.100.11->tun_src,set_field:0->tun_id,set_field:::5->tun_ipv6_dst,set_field:::1.2.3.4->tun_ipv6_src"},
		{"icmpv6 echo reply", []Action{Load{Field: Whole(FieldICMPv6Type), Value: 129}, Load{Field: Bits(FieldIPv6Src, 64, 64), Value: 0xfd00001000000000}, Load{Field: Bits(FieldIPv6Src, 0, 64), Value: 1}},
			"set_field:129->icmpv6_type,load:0xfd00001000000000->NXM_NX_IPV6_SRC[64..127],load:0x1->NXM_NX_IPV6_SRC[0..63]"},
		{"set tunnel addresses of both families", []Action{SetTunnel{Addr: addr("192.168.100.12")}, SetTunnel{Src: true, Addr: addr("0.0.0.0")}, SetTunnel{Addr: addr("fd00:100::12")}, SetTunnel{Src: true, Addr: addr("::")}, SetTunnel{Src: true, Addr: addr("::1.2.3.4")}, SetTunnel{Addr: addr("fd00::0:0:1")}},
			"set_field:192.168.100.12->tun_dst,set_field:0.0.0.0->tun_src,set_field:fd00:100::12->tun_ipv6_dst,set_field:::->tun_ipv6_src,set_field:::1.2.3.4->tun_ipv6_src,set_field:fd00::1->tun_ipv6_dst"},
		{"load and move tunnel", []Action{Load{Field: Bits(FieldTunID, 0, 16), Value: 0x31}, Load{Field: Bits(FieldTunID, 0, 64), Value: 0x4031}, Load{Field: Bits(FieldTunIPv6Dst, 127, 1), Value: 1}, Move{Src: Bits(FieldTunID, 0, 16), Dst: Bits(RegField(2), 0, 16)}, Move{Src: Whole(RegField(1)), Dst: Whole(FieldTunDst)}, Move{Src: Bits(FieldTunIPv6Src, 64, 64), Dst: Whole(FieldMetadata)}},
			"load:0x31->NXM_NX_TUN_ID[0..15],load:0x4031->NXM_NX_TUN_ID[],load:0x1->NXM_NX_TUN_IPV6_DST[127],move:NXM_NX_TUN_ID[0..15]->NXM_NX_REG2[0..15],move:NXM_NX_REG1[]->NXM_NX_TUN_IPV4_DST[],move:NXM_NX_TUN_IPV6_SRC[64..127]->OXM_OF_METADATA[]"},
		{"learn the tunnel a packet came in on", []Action{learnTunnel},
			"learn(table=43,idle_timeout=60,NXM_NX_TUN_ID[],tun_id=0x5,tun_src=1.2.3.4,NXM_NX_REG0[]=NXM_NX_TUN_IPV4_SRC[],load:NXM_NX_TUN_IPV4_SRC[]->NXM_NX_TUN_IPV4_DST[],load:0x5->NXM_NX_TUN_ID[0..23],tun_ipv6_dst=::5)"},
		{"conjunctions", []Action{Conjunction{ID: 4294967295, Clause: 2, NClauses: 2}, Conjunction{ID: 1, Clause: 1, NClauses: 64}}, "conjunction(4294967295,2/2),conjunction(1,1/64)"},
		{"controller action", []Action{Controller{Reason: PacketInAction}, Controller{Reason: PacketInAction, MaxLen: 128}}, "CONTROLLER:65535,CONTROLLER:128"},
		{"controller other reasons", []Action{Controller{Reason: PacketInNoMatch}, Controller{Reason: PacketInInvalidTTL, MaxLen: 64}, Controller{Reason: PacketInPacketOut}},
			"controller(reason=no_match),controller(reason=invalid_ttl,max_len=64),controller(reason=packet_out)"},
		{"ct bare", []Action{CT{}}, "ct()"},
		{"ct zone 0 omitted", []Action{CT{Zone: 0, Table: U8(0)}}, "ct(table=0)"},
		{"ct everything", []Action{CT{Commit: true, Force: true, Table: U8(3), ZoneField: &FieldRef{Field: RegField(0), Bits: 16}, NAT: &NAT{Kind: NATSrc, AddrMin: addr("10.0.0.1"), AddrMax: addr("10.0.0.5"), PortMin: 1000, PortMax: 2000, Random: true}, Exec: []Action{Load{Field: Whole(FieldCTMark), Value: 1}, Move{Src: Whole(RegField(3)), Dst: Bits(FieldCTLabel, 0, 32)}}}},
			"ct(commit,force,table=3,zone=NXM_NX_REG0[0..15],nat(src=10.0.0.1-10.0.0.5:1000-2000,random),exec(set_field:0x1->ct_mark,move:NXM_NX_REG3[]->NXM_NX_CT_LABEL[0..31]))"},
		{"nat flags order", []Action{CT{Commit: true, NAT: &NAT{Kind: NATDst, AddrMin: addr("10.0.0.1"), PortMin: 80, PortMax: 80, Hash: true, Persistent: true}}}, "ct(commit,nat(dst=10.0.0.1:80,persistent,hash))"},
		{"nat without address", []Action{CT{Commit: true, Zone: 65535, NAT: &NAT{Kind: NATSrc}}}, "ct(commit,zone=65535,nat(src))"},
		{"nat single address range collapses", []Action{CT{Commit: true, NAT: &NAT{Kind: NATSrc, AddrMin: addr("10.0.0.1"), AddrMax: addr("10.0.0.1")}}}, "ct(commit,nat(src=10.0.0.1))"},
		{"nat ipv6 bare", []Action{CT{Commit: true, NAT: &NAT{Kind: NATDst, AddrMin: addr("fd00::1"), AddrMax: addr("fd00::5")}}}, "ct(commit,nat(dst=fd00::1-fd00::5))"},
		{"learn of the brief, IPv4", []Action{briefLearn(false)},
			"learn(table=42,idle_timeout=30,priority=100,cookie=0x8000000000001,eth_type=0x800,NXM_NX_REG9[0..15],NXM_OF_IP_SRC[],load:0x3->NXM_NX_REG9[16..31])"},
		{"learn of the brief, IPv6", []Action{briefLearn(true)},
			"learn(table=42,idle_timeout=30,priority=100,cookie=0x8000000000001,eth_type=0x86dd,NXM_NX_REG9[0..15],NXM_NX_IPV6_SRC[],load:0x3->NXM_NX_REG9[16..31])"},
		{"learn defaults omitted", []Action{Learn{Table: 1, Priority: DefaultPriority}}, "learn(table=1)"},
		{"learn every spec form", []Action{learnEveryForm}, "learn(table=1,hard_timeout=5,priority=0,eth_type=0x800,nw_proto=17,udp_dst=53,ip_src=10.0.0.1,eth_src=02:00:00:00:00:01,in_port=65278,reg3=0,NXM_NX_REG1[0..7]=0x5,NXM_NX_REG2[]=NXM_NX_REG3[],NXM_NX_REG4[0..7]=NXM_NX_REG4[8..15],NXM_NX_REG5[8..15],load:NXM_NX_REG1[]->NXM_NX_REG2[],load:0->NXM_NX_REG2[3])"},
		{"nat ipv6 bracketed with ports", []Action{CT{Commit: true, NAT: &NAT{Kind: NATDst, AddrMin: addr("fd00::1"), AddrMax: addr("fd00::5"), PortMin: 80, PortMax: 90}}}, "ct(commit,nat(dst=[fd00::1]-[fd00::5]:80-90))"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ActionsString(tc.a); got != tc.want {
				t.Errorf("ActionsString()\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	a := Flow{Table: 2, Priority: 10, Cookie: 1, Match: Match{EthType: EthTypeIPv4}, Actions: []Action{Output{Port: 1}}}
	b := Flow{Table: 2, Priority: 10, Cookie: 2, Match: Match{EthType: EthTypeIPv4}}
	if a.Key() != b.Key() {
		t.Errorf("cookie/actions changed the key: %q vs %q", a.Key(), b.Key())
	}
	if got, want := a.Key(), "table=2,priority=10,ip"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	for _, other := range []Flow{{Table: 3, Priority: 10, Match: a.Match}, {Table: 2, Priority: 11, Match: a.Match}, {Table: 2, Priority: 10}} {
		if other.Key() == a.Key() {
			t.Errorf("%q and %q share a key", other.String(), a.String())
		}
	}
}

// briefLearn is the learn action of the brief that introduced it: remember
// the backend chosen for a client (reg9's low half names the service)
// in table 42 for 30 idle seconds.
func briefLearn(v6 bool) Learn {
	ethType, src := uint64(EthTypeIPv4), FieldIPv4Src
	if v6 {
		ethType, src = uint64(EthTypeIPv6), FieldIPv6Src
	}
	return Learn{Table: 42, IdleTimeout: 30, Priority: 100, Cookie: 0x8000000000001, Specs: []LearnSpec{
		{Value: ethType, Dst: Whole(FieldEthType)},
		{Src: &FieldRef{Field: RegField(9), Bits: 16}, Dst: Bits(RegField(9), 0, 16)},
		{Src: &FieldRef{Field: src}, Dst: Whole(src)},
		{Load: true, Value: 3, Dst: Bits(RegField(9), 16, 16)},
	}}
}

// briefGroup is the select group the brief that introduced groups
// describes: two backends behind a DNAT, the second remembered by a learn
// action in its bucket. Its text is what OVS prints, but Validate refuses
// it: OVS drops a learn action in a bucket (see affinityGroup).
func briefGroup() GroupDesc {
	zone := Bits(RegField(2), 0, 16)
	ct := func(backend string) CT {
		return CT{Commit: true, ZoneField: &zone, Table: U8(41), NAT: &NAT{Kind: NATDst, AddrMin: addr(backend), PortMin: 8080}}
	}
	return GroupDesc{ID: 5, Buckets: []Bucket{
		{Weight: 1, Actions: []Action{ct("10.0.0.21")}},
		{Weight: 2, Actions: []Action{briefLearn(false), ct("10.0.0.22")}},
	}}
}

// affinityGroup is briefGroup as OVS can run it: each bucket loads its
// backend's number into reg9's high half before the DNAT, and a flow in
// table 41, where ct goes on, learns from the register.
func affinityGroup() GroupDesc {
	zone := Bits(RegField(2), 0, 16)
	bucket := func(n uint64, backend string, weight uint16) Bucket {
		return Bucket{Weight: weight, Actions: []Action{
			Load{Field: Bits(RegField(9), 16, 16), Value: n},
			CT{Commit: true, ZoneField: &zone, Table: U8(41), NAT: &NAT{Kind: NATDst, AddrMin: addr(backend), PortMin: 8080}},
		}}
	}
	return GroupDesc{ID: 6, Buckets: []Bucket{bucket(1, "10.0.0.21", 1), bucket(2, "10.0.0.22", 2)}}
}

// TestGroupString: the dump-groups lines observed on OVS 3.1. The brief's
// group was added as "group_id=5,type=select,bucket=weight:1,actions=
// ct(commit,zone=...,nat(...),table=41),...": OVS prints no bucket ids in
// OpenFlow 1.3, no weight:1, and ct's table before its zone.
func TestGroupString(t *testing.T) {
	for _, tc := range []struct {
		name  string
		g     GroupDesc
		want  string
		valid bool
	}{
		{"brief", briefGroup(),
			"group_id=5,type=select,bucket=actions=ct(commit,table=41,zone=NXM_NX_REG2[0..15],nat(dst=10.0.0.21:8080)),bucket=weight:2,actions=learn(table=42,idle_timeout=30,priority=100,cookie=0x8000000000001,eth_type=0x800,NXM_NX_REG9[0..15],NXM_OF_IP_SRC[],load:0x3->NXM_NX_REG9[16..31]),ct(commit,table=41,zone=NXM_NX_REG2[0..15],nat(dst=10.0.0.22:8080))", false},
		{"affinity", affinityGroup(),
			"group_id=6,type=select,bucket=actions=load:0x1->NXM_NX_REG9[16..31],ct(commit,table=41,zone=NXM_NX_REG2[0..15],nat(dst=10.0.0.21:8080)),bucket=weight:2,actions=load:0x2->NXM_NX_REG9[16..31],ct(commit,table=41,zone=NXM_NX_REG2[0..15],nat(dst=10.0.0.22:8080))", true},
		{"no buckets", GroupDesc{ID: 6}, "group_id=6,type=select", true},
		{"empty bucket and weights", GroupDesc{ID: 4294967040, Buckets: []Bucket{{Weight: 100}, {Weight: 1, Actions: []Action{Output{Port: 1}}}}},
			"group_id=4294967040,type=select,bucket=weight:100,actions=drop,bucket=actions=output:1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.g.String(); got != tc.want {
				t.Errorf("String()\n got %s\nwant %s", got, tc.want)
			}
			if err := tc.g.Validate(); (err == nil) != tc.valid {
				t.Errorf("Validate: %v, want valid %v", err, tc.valid)
			}
			p, err := ParseGroup(" " + tc.want)
			if err != nil {
				t.Fatalf("ParseGroup: %v", err)
			}
			if got := p.String(); got != tc.want {
				t.Errorf("ParseGroup then String\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// learnEveryForm uses each way ovs-ofctl prints a learn spec.
var learnEveryForm = Learn{Table: 1, HardTimeout: 5, Priority: 0, Specs: []LearnSpec{
	{Value: 0x800, Dst: Whole(FieldEthType)},
	{Value: uint64(ProtoUDP), Dst: Bits(FieldIPProto, 0, 8)},
	{Value: 53, Dst: Whole(FieldUDPDst)},
	{Value: 0x0a000001, Dst: Whole(FieldIPv4Src)},
	{Value: 0x020000000001, Dst: Whole(FieldEthSrc)},
	{Value: 65278, Dst: Whole(FieldInPort)},
	{Value: 0, Dst: Whole(RegField(3))},
	{Value: 5, Dst: Bits(RegField(1), 0, 8)},
	{Src: &FieldRef{Field: RegField(3)}, Dst: Whole(RegField(2))},
	{Src: &FieldRef{Field: RegField(4), Ofs: 8, Bits: 8}, Dst: Bits(RegField(4), 0, 8)},
	{Src: &FieldRef{Field: RegField(5), Ofs: 8, Bits: 8}, Dst: Bits(RegField(5), 8, 8)},
	{Load: true, Src: &FieldRef{Field: RegField(1)}, Dst: Whole(RegField(2))},
	{Load: true, Value: 0, Dst: Bits(RegField(2), 3, 1)},
}}

// learnTunnel uses the tunnel fields in each kind of learn spec.
var learnTunnel = Learn{Table: 43, IdleTimeout: 60, Priority: DefaultPriority, Specs: []LearnSpec{
	{Src: &FieldRef{Field: FieldTunID}, Dst: Whole(FieldTunID)},
	{Value: 5, Dst: Whole(FieldTunID)},
	{Value: 0x01020304, Dst: Whole(FieldTunSrc)},
	{Src: &FieldRef{Field: FieldTunSrc}, Dst: Whole(RegField(0))},
	{Load: true, Src: &FieldRef{Field: FieldTunSrc}, Dst: Whole(FieldTunDst)},
	{Load: true, Value: 5, Dst: Bits(FieldTunID, 0, 24)},
	{Value: 5, Dst: Whole(FieldTunIPv6Dst)},
}}
