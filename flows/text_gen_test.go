package flows

import (
	"math/rand"
	"net/netip"
)

// flowGen builds random flows that are valid by construction, using every
// match field and action of the IR, for the round-trip property test.
// Groups and meters 1..genObjects must exist on the switch.
type flowGen struct{ r *rand.Rand }

const genObjects = 4

func (g flowGen) chance(p float64) bool { return g.r.Float64() < p }
func (g flowGen) u8() uint8             { return uint8(g.r.Intn(256)) }
func (g flowGen) u16() uint16           { return uint16(g.r.Intn(1 << 16)) }
func (g flowGen) u32() uint32           { return g.r.Uint32() }
func (g flowGen) u64() uint64           { return g.r.Uint64() }

// nonZero32 and friends give masks that do not wildcard the whole field.
func (g flowGen) nonZero32() uint32 {
	for {
		if v := g.u32() >> uint(g.r.Intn(32)); v != 0 {
			return v
		}
	}
}

func (g flowGen) mac() MAC {
	var m MAC
	g.r.Read(m[:])
	return m
}

func (g flowGen) macMatch() *MACMatch {
	m := &MACMatch{Addr: g.mac()}
	if g.chance(0.4) {
		for m.Mask == (MAC{}) {
			m.Mask = g.mac()
		}
	}
	return m
}

func (g flowGen) port() uint32 {
	if g.chance(0.1) {
		return PortLocal
	}
	return uint32(1 + g.r.Intn(0xfeff))
}

// addr4/addr6 sometimes yield the shapes inet_ntop prints specially.
func (g flowGen) addr(v6 bool) netip.Addr {
	if !v6 {
		return netip.AddrFrom4([4]byte{g.u8(), g.u8(), g.u8(), g.u8()})
	}
	var b [16]byte
	g.r.Read(b[:])
	switch g.r.Intn(6) {
	case 0: // ::a.b.c.d
		clear(b[:12])
	case 1: // ::ffff:a.b.c.d
		clear(b[:10])
		b[10], b[11] = 0xff, 0xff
	case 2: // runs of zero words
		for i := 0; i < 16; i += 2 {
			if g.chance(0.5) {
				b[i], b[i+1] = 0, 0
			}
		}
	}
	return netip.AddrFrom16(b)
}

// tunnelAddr is an outer address: never IPv4-mapped (Validate refuses it).
func (g flowGen) tunnelAddr(v6 bool) netip.Addr {
	for {
		if a := g.addr(v6); !a.Is4In6() {
			return a
		}
	}
}

func (g flowGen) prefix(v6 bool) netip.Prefix {
	a := g.addr(v6)
	return netip.PrefixFrom(a, 1+g.r.Intn(a.BitLen()))
}

func (g flowGen) portMatch() *PortMatch {
	p := &PortMatch{Port: g.u16()}
	if g.chance(0.5) {
		for p.Mask == 0 {
			p.Mask = g.u16()
		}
	}
	return p
}

func (g flowGen) flow() Flow {
	f := Flow{Table: uint8(g.r.Intn(int(MaxTable) + 1)), Priority: g.u16()}
	if g.chance(0.1) {
		f.Priority = DefaultPriority
	}
	if g.chance(0.5) {
		f.Cookie = g.u64() >> uint(g.r.Intn(64))
	}
	f.Match = g.match()
	f.Actions = g.actions(f)
	return f
}

func (g flowGen) match() Match {
	var m Match
	if g.chance(0.2) {
		m.InPort = g.port()
	}
	if g.chance(0.2) {
		m.Metadata = &Masked64{Value: g.u64()}
		if g.chance(0.5) {
			m.Metadata.Mask = g.u64() | 1
		}
	}
	for _, i := range g.r.Perm(16)[:g.r.Intn(3)] {
		r := Reg(uint8(i), g.u32(), 0)
		if g.chance(0.5) {
			r.Mask = g.nonZero32()
		}
		m.Regs = append(m.Regs, r)
	}
	if g.chance(0.15) {
		m.TunID = &Masked64{Value: g.u64() >> uint(g.r.Intn(64))}
		if g.chance(0.4) {
			m.TunID.Mask = g.u64() | 1
		}
	}
	if g.chance(0.15) {
		// Outer addresses of one family, as a tunnel has.
		v6 := g.chance(0.4)
		if g.chance(0.7) {
			m.TunSrc = g.tunnelAddr(v6)
		}
		if g.chance(0.7) {
			m.TunDst = g.tunnelAddr(v6)
		}
	}
	if g.chance(0.3) {
		for m.CTState == (CTStateMatch{}) {
			bits := g.u32() & 0xff
			if g.chance(0.1) {
				bits = ctStateAll // printed in the exact "a|b" form
			}
			m.CTState = CTStateMatch{Set: bits & g.u32(), Clear: bits &^ g.u32()}
			m.CTState.Clear &^= m.CTState.Set
		}
	}
	if g.chance(0.1) {
		// The original direction's protocol and port need a valid
		// conntrack state.
		m.CTState = CTStateMatch{Set: CTTrk | CTEst}
		if g.chance(0.5) {
			m.CTState = CTStateMatch{Set: CTTrk, Clear: CTInv}
		}
		m.CTNwProto = U8(1 + uint8(g.r.Intn(255)))
		if g.chance(0.6) {
			m.CTTpDst = U16(g.u16())
		}
	}
	if g.chance(0.2) {
		m.CTZone = U16(g.u16())
	}
	if g.chance(0.2) {
		m.CTMark = &Masked32{Value: g.u32()}
		if g.chance(0.5) {
			m.CTMark.Mask = g.nonZero32()
		}
	}
	if g.chance(0.2) {
		l := &Masked128{Lo: g.u64()}
		if g.chance(0.5) {
			l.Hi = g.u64()
		}
		if g.chance(0.5) {
			l.MaskLo = g.u64() | 1
			if g.chance(0.5) {
				l.MaskHi = g.u64()
			}
		}
		m.CTLabel = l
	}
	if g.chance(0.1) {
		m.ConjID = U32(g.u32())
	}
	if g.chance(0.2) {
		m.EthSrc = g.macMatch()
	}
	if g.chance(0.2) {
		m.EthDst = g.macMatch()
	}
	if g.chance(0.1) {
		m.VLANID = U16(uint16(g.r.Intn(4096)))
	}
	switch g.r.Intn(8) {
	case 0:
		// no EtherType
	case 1:
		m.EthType = 0x88cc // LLDP: printed as dl_type=
	case 2:
		g.arp(&m)
	case 3, 4, 5:
		g.ip(&m, false)
	default:
		g.ip(&m, true)
	}
	return m
}

func (g flowGen) arp(m *Match) {
	m.EthType = EthTypeARP
	if g.chance(0.5) {
		m.ARPOp = U16(uint16(g.u8()))
	}
	if g.chance(0.5) {
		m.ARPSpa = g.prefix(false)
	}
	if g.chance(0.5) {
		m.ARPTpa = g.prefix(false)
	}
	if g.chance(0.3) {
		m.ARPSha = g.macMatch()
	}
	if g.chance(0.3) {
		m.ARPTha = g.macMatch()
	}
}

func (g flowGen) ip(m *Match, v6 bool) {
	m.EthType = EthTypeIPv4
	icmp := ProtoICMP
	if v6 {
		m.EthType, icmp = EthTypeIPv6, ProtoICMPv6
	}
	if g.chance(0.5) {
		m.IPSrc = g.prefix(v6)
	}
	if g.chance(0.5) {
		m.IPDst = g.prefix(v6)
	}
	if g.chance(0.15) {
		m.IPTTL = U8(g.u8())
	}
	switch g.r.Intn(6) {
	case 0:
		// any protocol
	case 1:
		m.IPProto = U8(47)
	case 2:
		m.IPProto = U8(icmp)
		if g.chance(0.6) {
			m.ICMPType = U8(g.u8())
		}
		if g.chance(0.4) {
			m.ICMPCode = U8(g.u8())
		}
		if v6 && g.chance(0.5) {
			nd := uint8(135 + g.r.Intn(2))
			m.ICMPType = U8(nd)
			if m.ICMPCode != nil {
				m.ICMPCode = U8(0)
			}
			if g.chance(0.7) {
				m.NDTarget = g.addr(true)
			}
			mac := g.mac()
			if nd == 135 && g.chance(0.5) {
				m.NDSll = &mac
			}
			if nd == 136 && g.chance(0.5) {
				m.NDTll = &mac
			}
		}
	default:
		m.IPProto = U8([]uint8{ProtoTCP, ProtoUDP, ProtoSCTP}[g.r.Intn(3)])
		if g.chance(0.5) {
			m.TPSrc = g.portMatch()
		}
		if g.chance(0.5) {
			m.TPDst = g.portMatch()
		}
	}
}

func (g flowGen) actions(f Flow) []Action {
	switch g.r.Intn(10) {
	case 0:
		return nil
	case 1:
		return []Action{Drop{}}
	case 2:
		var acts []Action
		for n := 1 + g.r.Intn(3); len(acts) < n; {
			k := uint8(2 + g.r.Intn(63))
			acts = append(acts, Conjunction{ID: g.u32(), Clause: uint8(1 + g.r.Intn(int(k))), NClauses: k})
		}
		return acts
	}
	var acts []Action
	if g.chance(0.15) {
		acts = append(acts, Meter{ID: uint32(1 + g.r.Intn(genObjects))})
	}
	for n := g.r.Intn(6); n > 0; n-- {
		acts = append(acts, g.action(f.Match))
	}
	if f.Table < MaxTable && g.chance(0.3) {
		acts = append(acts, Goto{Table: f.Table + 1 + uint8(g.r.Intn(int(MaxTable-f.Table)))})
	}
	return acts
}

func (g flowGen) action(m Match) Action {
	for {
		switch g.r.Intn(14) {
		case 0:
			names := []uint32{PortInPort, PortTable, PortNormal, PortFlood, PortAll, PortLocal}
			if g.chance(0.3) {
				return Output{Port: names[g.r.Intn(len(names))]}
			}
			return Output{Port: uint32(1 + g.r.Intn(0xfeff))}
		case 1:
			n := uint16(1 + g.r.Intn(32))
			if g.chance(0.3) {
				return OutputReg{Field: Whole(RegField(uint8(g.r.Intn(16))))}
			}
			return OutputReg{Field: Bits(RegField(uint8(g.r.Intn(16))), uint16(g.r.Intn(int(33-n))), n)}
		case 2:
			return Resubmit{Table: uint8(g.r.Intn(int(MaxTable) + 1))}
		case 3:
			if isIP(m.EthType) {
				return DecTTL{}
			}
		case 4:
			if g.chance(0.5) {
				return SetEthSrc{MAC: g.mac()}
			}
			return SetEthDst{MAC: g.mac()}
		case 5, 6:
			if l, ok := g.load(m, false); ok {
				return l
			}
		case 7:
			if mv, ok := g.move(m, false); ok {
				return mv
			}
		case 8:
			return Group{ID: uint32(1 + g.r.Intn(genObjects))}
		case 9:
			c := Controller{Reason: uint8(g.r.Intn(len(packetInReasonNames)))}
			if g.chance(0.5) {
				c.MaxLen = g.u16()
			}
			return c
		case 10:
			return g.learn(m)
		case 11:
			a := g.tunnelAddr(g.chance(0.5))
			if g.chance(0.2) {
				a = netip.IPv6Unspecified()
				if g.chance(0.5) {
					a = netip.IPv4Unspecified()
				}
			}
			return SetTunnel{Src: g.chance(0.5), Addr: a}
		default:
			if isIP(m.EthType) {
				return g.ct(m)
			}
		}
	}
}

// writable lists the fields a Load or Move may write under m: outside ct
// everything whose prerequisites m meets except the conntrack fields,
// inside ct exec only those.
func (g flowGen) writable(m Match, inExec bool) []Field {
	var out []Field
	for f, t := range fieldTexts {
		isCT := t.prereq == prereqCTExec
		if isCT == inExec && !fieldReadOnly(f) && (isCT || prereqMissing(t.prereq, m) == "") {
			out = append(out, f)
		}
	}
	sortFields(out)
	return out
}

func (g flowGen) readable(m Match) []Field {
	var out []Field
	for f, t := range fieldTexts {
		if prereqMissing(t.prereq, m) == "" {
			out = append(out, f)
		}
	}
	sortFields(out)
	return out
}

// sortFields makes map iteration order irrelevant to the seed.
func sortFields(fs []Field) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j] < fs[j-1]; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// slice picks a random run of n bits of f, or the whole field.
func (g flowGen) slice(f Field, n uint16) FieldRef {
	w := fieldTexts[f].width
	ofs := uint16(g.r.Intn(int(w - n + 1)))
	return Bits(f, ofs, n)
}

func (g flowGen) load(m Match, inExec bool) (Load, bool) {
	fs := g.writable(m, inExec)
	f := fs[g.r.Intn(len(fs))]
	w := fieldTexts[f].width
	if g.chance(0.5) {
		v := g.u64()
		if w < 64 {
			v &= 1<<w - 1
		}
		if f == FieldInPort {
			v = uint64(g.port() & 0xffff)
			if v > 0xfeff {
				v = 1
			}
		}
		if f == FieldARPOp {
			v &= 0xff
		}
		if w == 128 && g.chance(0.3) {
			v &= 0xffffffff // IPv6 values with a dotted tail
		}
		return Load{Field: Whole(f), Value: v}, true
	}
	n := uint16(1 + g.r.Intn(int(min(w, 64))))
	v := g.u64()
	if n < 64 {
		v &= 1<<n - 1
	}
	r := g.slice(f, n)
	if f == FieldARPOp {
		v &= 0xff >> r.Ofs
	}
	return Load{Field: r, Value: v}, true
}

func (g flowGen) move(m Match, inExec bool) (Move, bool) {
	dsts := g.writable(m, inExec)
	srcs := g.readable(m)
	d, s := dsts[g.r.Intn(len(dsts))], srcs[g.r.Intn(len(srcs))]
	w := min(fieldTexts[d].width, fieldTexts[s].width)
	n := uint16(1 + g.r.Intn(int(w)))
	src, dst := g.slice(s, n), g.slice(d, n)
	if n == fieldTexts[s].width && g.chance(0.5) {
		src = Whole(s)
	}
	return Move{Src: src, Dst: dst}, true
}

func (g flowGen) ct(m Match) CT {
	c := CT{Commit: g.chance(0.6) && m.CTState.Set&CTInv == 0}
	if c.Commit {
		c.Force = g.chance(0.3)
	}
	if g.chance(0.5) {
		c.Table = U8(uint8(g.r.Intn(int(MaxTable) + 1)))
	}
	switch g.r.Intn(3) {
	case 0:
		c.Zone = g.u16()
	case 1:
		r := Bits(RegField(uint8(g.r.Intn(16))), uint16(g.r.Intn(17)), 16)
		c.ZoneField = &r
	}
	if g.chance(0.6) {
		c.NAT = g.nat(m, c.Commit)
	}
	if c.Commit && g.chance(0.5) {
		for n := 1 + g.r.Intn(3); len(c.Exec) < n; {
			if g.chance(0.7) {
				l, _ := g.load(m, true)
				c.Exec = append(c.Exec, l)
			} else {
				mv, _ := g.move(m, true)
				c.Exec = append(c.Exec, mv)
			}
		}
	}
	return c
}

func (g flowGen) nat(m Match, commit bool) *NAT {
	if !commit || g.chance(0.2) {
		return &NAT{}
	}
	n := &NAT{Kind: NATSrc}
	if g.chance(0.5) {
		n.Kind = NATDst
	}
	v6 := m.EthType == EthTypeIPv6
	if g.chance(0.8) {
		n.AddrMin = g.addr(v6)
		for n.AddrMin.Is4In6() || n.AddrMin.IsUnspecified() {
			n.AddrMin = g.addr(v6)
		}
		if g.chance(0.5) {
			if hi := g.addr(v6); !hi.Is4In6() && !hi.IsUnspecified() {
				n.AddrMin, n.AddrMax = minAddr(n.AddrMin, hi), maxAddr(n.AddrMin, hi)
			}
		}
		if g.chance(0.5) {
			n.PortMin = uint16(1 + g.r.Intn(0xffff))
			if g.chance(0.5) {
				n.PortMax = n.PortMin + uint16(g.r.Intn(int(0xffff-n.PortMin)+1))
			}
		}
	}
	if !n.AddrMin.IsValid() {
		return n
	}
	n.Persistent = g.chance(0.3)
	switch g.r.Intn(3) {
	case 0:
		n.Hash = true
	case 1:
		n.Random = true
	}
	return n
}

func minAddr(a, b netip.Addr) netip.Addr {
	if b.Less(a) {
		return b
	}
	return a
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

// learn builds a learn action whose sources are readable under m and
// whose learned flow is consistent: fields matched or written in it have
// their prerequisites matched against values in earlier specs.
func (g flowGen) learn(m Match) Learn {
	l := Learn{Table: uint8(g.r.Intn(int(MaxTable) + 1)), Priority: g.u16()}
	if g.chance(0.3) {
		l.Priority = DefaultPriority
	}
	if g.chance(0.5) {
		l.IdleTimeout = g.u16()
	}
	if g.chance(0.3) {
		l.HardTimeout = g.u16()
	}
	if g.chance(0.5) {
		l.Cookie = g.u64() >> uint(g.r.Intn(64))
	}
	var learned Match
	if g.chance(0.6) {
		learned.EthType = []uint16{EthTypeIPv4, EthTypeIPv6, EthTypeARP}[g.r.Intn(3)]
		l.Specs = append(l.Specs, LearnSpec{Value: uint64(learned.EthType), Dst: Whole(FieldEthType)})
		if isIP(learned.EthType) && g.chance(0.6) {
			learned.IPProto = U8([]uint8{ProtoTCP, ProtoUDP, ProtoICMP, 47}[g.r.Intn(4)])
			l.Specs = append(l.Specs, LearnSpec{Value: uint64(*learned.IPProto), Dst: Whole(FieldIPProto)})
		}
	}
	// Fields the learned flow may match or write so far.
	dsts := func(load bool) []Field {
		var out []Field
		for f, t := range fieldTexts {
			if prereqMissing(t.prereq, learned) != "" || (load && (fieldReadOnly(f) || t.prereq == prereqCTExec)) {
				continue
			}
			if f == FieldEthType || f == FieldIPProto {
				continue // set above, once: a second value would contradict it
			}
			out = append(out, f)
		}
		sortFields(out)
		return out
	}
	srcs := g.readable(m)
	for n := g.r.Intn(5); n > 0; n-- {
		load := g.chance(0.4)
		ds := dsts(load)
		d := ds[g.r.Intn(len(ds))]
		dw := fieldTexts[d].width
		if g.chance(0.5) {
			// From a field of the packet.
			s := srcs[g.r.Intn(len(srcs))]
			bits := uint16(1 + g.r.Intn(int(min(dw, fieldTexts[s].width))))
			src := g.slice(s, bits)
			dst := g.slice(d, bits)
			if !load && g.chance(0.4) && prereqMissing(fieldTexts[s].prereq, learned) == "" && s != FieldEthType && s != FieldIPProto {
				dst = src // "NXM_OF_IP_SRC[]": match the field against its own value
			}
			l.Specs = append(l.Specs, LearnSpec{Load: load, Src: &src, Dst: dst})
			continue
		}
		// An immediate value.
		bits := uint16(1 + g.r.Intn(int(dw)))
		if g.chance(0.4) {
			bits = dw
		}
		dst := g.slice(d, bits)
		v := g.u64()
		if bits < 64 {
			v &= 1<<bits - 1
		}
		switch {
		case d == FieldARPOp:
			v &= 0xff >> dst.Ofs
		case d == FieldInPort && bits == dw && v > 0xfeff:
			v = 1
		case dw == 128 && g.chance(0.3):
			v &= 0xffffffff // IPv6 values with a dotted tail
		}
		l.Specs = append(l.Specs, LearnSpec{Load: load, Value: v, Dst: dst})
	}
	return l
}
