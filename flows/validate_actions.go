package flows

import "fmt"

// actionAt names an action in a complaint; it is formatted only when
// there is something to complain about.
type actionAt struct {
	i int
	a Action
}

func (w actionAt) String() string { return fmt.Sprintf("action %d (%s)", w.i, formatAction(w.a)) }

// scope is what validation knows about the packets an action list runs
// on. A flow's actions run on packets its match admits; a group bucket's
// run on whatever a flow sends to the group, so in a bucket nothing is
// known and checks that depend on the match are left out (OVS leaves them
// out too).
type scope struct {
	m      Match
	table  uint8  // the flow's table, for goto_table
	bucket bool   // a group bucket: no match, no instructions
	group  uint32 // the bucket's group
}

// missing names the match a field needs, or "" when the scope has it (or
// cannot know).
func (sc scope) missing(p fieldPrereq) string {
	if sc.bucket {
		return ""
	}
	return prereqMissing(p, sc.m)
}

// validateActions checks instruction placement and each action against
// the flow's match, the way OVS does when it decodes a flow-mod.
func validateActions(f Flow, bad complaint) {
	validateActionList(f.Actions, scope{m: f.Match, table: f.Table}, bad)
}

func validateActionList(acts []Action, sc scope, bad complaint) {
	m := sc.m
	for i, a := range acts {
		where := actionAt{i, a}
		switch a := a.(type) {
		case Drop:
			if len(acts) != 1 {
				bad("%s: drop must be the only action", where)
			}
		case Goto:
			if sc.bucket {
				bad("%s: goto_table is an instruction, not allowed in a group bucket", where)
				continue
			}
			if i != len(acts)-1 {
				bad("%s: goto_table must be the last action", where)
			}
			if a.Table <= sc.table || a.Table > MaxTable {
				bad("%s: goto_table must go forward, to a table in %d..%d", where, sc.table+1, MaxTable)
			}
		case Meter:
			if sc.bucket {
				bad("%s: meter is an instruction, not allowed in a group bucket", where)
				continue
			}
			if i != 0 {
				bad("%s: meter must be the first action", where)
			}
			if a.ID == 0 || a.ID > 0xffff0000 {
				bad("%s: meter id must be 1..0xffff0000", where)
			}
		case Conjunction:
			if sc.bucket {
				bad("%s: conjunction belongs in a flow, not a group bucket", where)
				continue
			}
			if !allConjunctions(acts) {
				bad("%s: conjunction cannot be mixed with other actions", where)
			}
			if a.NClauses < 2 || a.NClauses > 64 || a.Clause < 1 || a.Clause > a.NClauses {
				bad("%s: want clause k of n with 1 <= k <= n and 2 <= n <= 64", where)
			}
		case Output:
			if a.Port == PortController {
				bad("%s: use Controller{Reason: PacketInAction} to send to the controller", where)
			} else if _, named := portNames[a.Port]; !named && (a.Port == 0 || a.Port > 0xfeff) {
				bad("%s: not a port number (1-65279 or a reserved port)", where)
			}
		case OutputReg:
			checkRead(a.Field, sc, where, bad)
			if bitsOf(a.Field) > 32 {
				bad("%s: output port field is wider than 32 bits", where)
			}
		case Resubmit:
			if a.Table > MaxTable {
				bad("%s: table above %d", where, MaxTable)
			}
		case DecTTL:
			if !sc.bucket && !isIP(m.EthType) {
				bad("%s: dec_ttl needs ip or ipv6", where)
			}
		case Load:
			checkLoad(a, sc, false, where, bad)
		case SetTunnel:
			checkSetTunnel(a, where, bad)
		case Move:
			checkMove(a, sc, false, where, bad)
		case Group:
			if a.ID > MaxGroupID {
				bad("%s: group id above %#x", where, MaxGroupID)
			}
			if sc.bucket && a.ID == sc.group {
				bad("%s: a bucket cannot send to its own group", where)
			}
		case Controller:
			if int(a.Reason) >= len(packetInReasonNames) {
				bad("%s: unknown packet-in reason %d", where, a.Reason)
			}
		case CT:
			checkCT(a, sc, where, bad)
		case Learn:
			if !sc.bucket { // in a bucket, checkBucket refuses it
				checkLearn(a, sc, where, bad)
			}
		case SetEthSrc, SetEthDst:
			// Ethernet addresses are always present.
		default:
			bad("%s: unknown action type %T", where, a)
		}
	}
	if sc.bucket {
		checkBucket(acts, bad)
	}
}

// Stages of an OpenFlow action set, in the order OVS runs them.
const (
	stageDecTTL   = iota // dec_ttl, at most one
	stageSet             // set_field, load, move: all, in order
	stageTerminal        // one of group, output, resubmit, ct
	stageDropped         // anything else: not part of an action set
)

func bucketStage(a Action) int {
	switch a := a.(type) {
	case DecTTL:
		return stageDecTTL
	case Load, Move, SetEthSrc, SetEthDst, SetTunnel:
		return stageSet
	case Output, Group, Resubmit, CT:
		return stageTerminal
	case Controller:
		if a.Reason == PacketInAction {
			return stageTerminal // an output to CONTROLLER
		}
	}
	return stageDropped
}

// checkBucket checks a bucket's actions against the way OVS runs them: as
// an OpenFlow action set (ofpacts_execute_action_set in lib/ofp-actions.c,
// observed with ofproto/trace on OVS 3.1). It keeps one dec_ttl, then
// every set-field, load and move in their order, then only one of group,
// output, resubmit and ct (the last group, else the last output, ...);
// it drops everything else (learn, controller with a reason other than
// action, output to a register), and everything when none of those four
// is there. The dump still shows the bucket as written. So flowgate wants
// a bucket written in the order it runs, with nothing OVS would drop.
func checkBucket(acts []Action, bad complaint) {
	if len(acts) == 0 {
		return
	}
	if _, drop := acts[0].(Drop); drop {
		return
	}
	last, terminals, decTTLs := stageDecTTL, 0, 0
	for i, a := range acts {
		where := actionAt{i, a}
		st := bucketStage(a)
		switch a.(type) {
		case Goto, Meter, Conjunction, Drop:
			continue // refused above
		}
		switch {
		case st == stageDropped:
			bad("%s: OVS runs a bucket's actions as an OpenFlow action set, which drops this action", where)
			continue
		case st == stageTerminal:
			terminals++
			if terminals == 2 {
				bad("%s: OVS runs only one of a bucket's output, group, resubmit and ct actions", where)
			}
		case st == stageDecTTL:
			decTTLs++
			if decTTLs == 2 {
				bad("%s: OVS runs only one dec_ttl in a bucket", where)
			}
		}
		if st < last {
			bad("%s: OVS runs a bucket's dec_ttl first, then its loads and moves, then its output, group, resubmit or ct: write them in that order", where)
		}
		last = max(last, st)
	}
	if terminals == 0 {
		bad("no output, group, resubmit or ct: OVS would drop all the bucket's actions")
	}
}

func allConjunctions(acts []Action) bool {
	for _, a := range acts {
		if _, ok := a.(Conjunction); !ok {
			return false
		}
	}
	return true
}

// bitsOf is the number of bits a FieldRef covers.
func bitsOf(r FieldRef) uint16 {
	if r.Bits == 0 {
		return fieldTexts[r.Field].width
	}
	return r.Bits
}

// checkRead checks that r names a known field and bits inside it, and that
// the match provides what the field needs.
func checkRead(r FieldRef, sc scope, where fmt.Stringer, bad complaint) {
	t, ok := fieldTexts[r.Field]
	if !ok {
		bad("%s: unknown field %d", where, r.Field)
		return
	}
	if r.Bits == 0 && r.Ofs != 0 {
		bad("%s: %s: an offset needs a bit count", where, t.nxm)
	}
	if uint32(r.Ofs)+uint32(bitsOf(r)) > uint32(t.width) {
		bad("%s: %s is %d bits wide", where, t.nxm, t.width)
	}
	if need := sc.missing(t.prereq); need != "" {
		bad("%s: %s needs %s in the match", where, t.nxm, need)
	}
}

// checkWrite adds to checkRead that the field can be written at all, and
// the conntrack rule: ct_mark and ct_label are written only inside
// ct(commit,exec(...)), and nothing else is.
func checkWrite(r FieldRef, sc scope, inExec bool, where fmt.Stringer, bad complaint) {
	checkRead(r, sc, where, bad)
	if fieldReadOnly(r.Field) {
		bad("%s: %s can be matched but not written", where, fieldName(r.Field))
	}
	isCT := fieldTexts[r.Field].prereq == prereqCTExec
	switch {
	case isCT && !inExec:
		bad("%s: %s can only be written inside ct(commit,exec(...))", where, fieldName(r.Field))
	case !isCT && inExec:
		bad("%s: ct exec may only write ct_mark or ct_label", where)
	}
}

func checkLoad(l Load, sc scope, inExec bool, where fmt.Stringer, bad complaint) {
	checkWrite(l.Field, sc, inExec, where, bad)
	n := bitsOf(l.Field)
	if l.Field.Bits > 64 {
		bad("%s: a load writes at most 64 bits", where)
	} else if n < 64 && l.Value>>n != 0 {
		bad("%s: value %#x does not fit in %d bits", where, l.Value, n)
	}
	if l.Field.Field == FieldARPOp && (l.Value<<l.Field.Ofs)&0xff00 != 0 {
		// Only the low byte of the ARP opcode exists in OVS's flow key.
		bad("%s: arp_op values are 0..255", where)
	}
	if l.Field == Whole(FieldInPort) && l.Value > 0xfeff {
		// OVS prints reserved port numbers by name, and no flow should
		// pretend a packet came from one.
		bad("%s: in_port must be set to a port number 0..65279", where)
	}
}

// checkSetTunnel checks the outer address: one OVS can parse (no zone),
// and for an IPv4 tunnel the IPv4 field, as matches have it, rather than
// an IPv4-mapped address in the IPv6 one. Any packet has the tunnel
// fields, so nothing is needed in the match.
func checkSetTunnel(t SetTunnel, where fmt.Stringer, bad complaint) {
	switch {
	case !t.Addr.IsValid():
		bad("%s: no address to set", where)
	case t.Addr.Zone() != "":
		bad("%s: an outer address has no zone", where)
	case t.Addr.Is4In6():
		bad("%s: an IPv4 tunnel's addresses are set as IPv4, never as IPv4-mapped IPv6", where)
	}
}

func checkMove(mv Move, sc scope, inExec bool, where fmt.Stringer, bad complaint) {
	checkRead(mv.Src, sc, where, bad)
	checkWrite(mv.Dst, sc, inExec, where, bad)
	if bitsOf(mv.Src) != bitsOf(mv.Dst) {
		bad("%s: source is %d bits, destination %d", where, bitsOf(mv.Src), bitsOf(mv.Dst))
	}
}

// prereqMissing names the match a field needs, or "" when m has it.
func prereqMissing(p fieldPrereq, m Match) string {
	proto := func(v uint8) bool { return m.IPProto != nil && *m.IPProto == v }
	// OVS treats a packet as ND only with icmp_code 0 (is_nd in
	// lib/flow.h); an unmatched code counts as 0.
	icmp6Type := func(types ...uint8) bool {
		if m.EthType != EthTypeIPv6 || !proto(ProtoICMPv6) || m.ICMPType == nil || (m.ICMPCode != nil && *m.ICMPCode != 0) {
			return false
		}
		for _, t := range types {
			if *m.ICMPType == t {
				return true
			}
		}
		return false
	}
	switch p {
	case prereqIP:
		if !isIP(m.EthType) {
			return "ip or ipv6"
		}
	case prereqIPv4:
		if m.EthType != EthTypeIPv4 {
			return "ip"
		}
	case prereqIPv6:
		if m.EthType != EthTypeIPv6 {
			return "ipv6"
		}
	case prereqARP:
		if m.EthType != EthTypeARP {
			return "arp"
		}
	case prereqTCP:
		if !isIP(m.EthType) || !proto(ProtoTCP) {
			return "tcp or tcp6"
		}
	case prereqUDP:
		if !isIP(m.EthType) || !proto(ProtoUDP) {
			return "udp or udp6"
		}
	case prereqICMPv4:
		if m.EthType != EthTypeIPv4 || !proto(ProtoICMP) {
			return "icmp"
		}
	case prereqICMPv6:
		if m.EthType != EthTypeIPv6 || !proto(ProtoICMPv6) {
			return "icmp6"
		}
	case prereqNDTarget:
		if !icmp6Type(135, 136) {
			return "icmp6 with icmp_type 135 or 136 and icmp_code 0"
		}
	case prereqNDTll:
		if !icmp6Type(136) {
			return "icmp6 with icmp_type 136 and icmp_code 0"
		}
	}
	return ""
}

func checkCT(c CT, sc scope, where fmt.Stringer, bad complaint) {
	m := sc.m
	if !sc.bucket && !isIP(m.EthType) {
		bad("%s: ct needs ip or ipv6", where)
	}
	needsCommit := c.Force || len(c.Exec) > 0 || (c.NAT != nil && c.NAT.Kind != NATNone)
	if needsCommit && !c.Commit {
		bad("%s: force, exec and nat(src/dst) need commit", where)
	}
	if c.Commit && m.CTState.Set&CTInv != 0 {
		bad("%s: an invalid (+inv) packet cannot be committed", where)
	}
	if c.Table != nil && *c.Table > MaxTable {
		bad("%s: table above %d", where, MaxTable)
	}
	if c.ZoneField != nil {
		if c.Zone != 0 {
			bad("%s: zone given both as a number and a field", where)
		}
		checkRead(*c.ZoneField, sc, where, bad)
		if bitsOf(*c.ZoneField) != 16 {
			bad("%s: a zone field must be 16 bits", where)
		}
	}
	if c.NAT != nil {
		checkNAT(*c.NAT, sc, where, bad)
	}
	for _, a := range c.Exec {
		switch a := a.(type) {
		case Load:
			checkLoad(a, sc, true, where, bad)
		case Move:
			checkMove(a, sc, true, where, bad)
		default:
			bad("%s: ct exec may only hold loads and moves into ct_mark or ct_label", where)
		}
	}
}

func checkNAT(n NAT, sc scope, where fmt.Stringer, bad complaint) {
	m := sc.m
	if n.Kind == NATNone {
		if n != (NAT{}) {
			bad("%s: plain nat takes no addresses, ports or flags", where)
		}
		return
	}
	if n.Kind != NATSrc && n.Kind != NATDst {
		bad("%s: unknown NAT kind %d", where, n.Kind)
	}
	if n.Hash && n.Random {
		bad("%s: nat hash and random exclude each other", where)
	}
	switch {
	case !n.AddrMin.IsValid():
		if n.AddrMax.IsValid() || n.PortMin != 0 || n.PortMax != 0 {
			bad("%s: a NAT address or port range needs a first address", where)
		}
		if n.Persistent || n.Hash || n.Random {
			// OVS accepts them but drops them from the installed flow.
			bad("%s: NAT flags persistent/hash/random need an address", where)
		}
	case n.AddrMin.Is4In6():
		bad("%s: NAT address %s is an IPv4-mapped IPv6 address", where, n.AddrMin)
	case n.AddrMin.IsUnspecified():
		// OVS takes an all-zero address for no address: it refuses one
		// that starts a range and drops one that stands alone.
		bad("%s: NAT address %s is unspecified", where, n.AddrMin)
	case !sc.bucket && n.AddrMin.Is4() != (m.EthType == EthTypeIPv4):
		bad("%s: NAT address %s is not of the flow's IP family", where, n.AddrMin)
	case n.AddrMax.IsValid() && (n.AddrMax.Is4() != n.AddrMin.Is4() || n.AddrMax.Less(n.AddrMin)):
		bad("%s: NAT address range %s-%s is reversed or mixes families", where, n.AddrMin, n.AddrMax)
	}
	if n.PortMax != 0 && (n.PortMin == 0 || n.PortMax < n.PortMin) {
		bad("%s: NAT port range %d-%d is reversed or has no start", where, n.PortMin, n.PortMax)
	}
}

// learnSpecAt names one spec of a learn action in a complaint.
type learnSpecAt struct {
	action fmt.Stringer
	i      int
	sp     LearnSpec
}

func (w learnSpecAt) String() string {
	return fmt.Sprintf("%s: spec %d (%s)", w.action, w.i, formatLearnSpec(w.sp))
}

// checkLearn checks a learn action as OVS's learn_check does for a flow:
// a spec's source field needs its prerequisites in the match of the flow
// that learns (in a bucket nobody knows), and each field of the learned
// flow needs its prerequisites matched by an earlier spec against a value
// ("eth_type=0x800" before "NXM_OF_IP_SRC[]"). OVS skips the second check
// for learn actions in group buckets, and would then fail to add the
// learned flow at each packet; flowgate checks it everywhere.
func checkLearn(l Learn, sc scope, where fmt.Stringer, bad complaint) {
	if l.Table > MaxTable {
		bad("%s: learn table %d: above %d, reserved by OVS", where, l.Table, MaxTable)
	}
	if l.Cookie == ^uint64(0) {
		bad("%s: learn cookie 0xffffffffffffffff is reserved by OpenFlow", where)
	}
	// learned is the learned flow's match as the specs so far build it:
	// the fields matched against a value, which later specs' fields may
	// depend on.
	var learned Match
	for i, sp := range l.Specs {
		at := learnSpecAt{where, i, sp}
		t, ok := fieldTexts[sp.Dst.Field]
		if !ok {
			bad("%s: unknown field %d", at, sp.Dst.Field)
			continue
		}
		if sp.Dst.Bits == 0 && sp.Dst.Ofs != 0 {
			bad("%s: %s: an offset needs a bit count", at, t.nxm)
		}
		if uint32(sp.Dst.Ofs)+uint32(bitsOf(sp.Dst)) > uint32(t.width) {
			bad("%s: %s is %d bits wide", at, t.nxm, t.width)
		}
		n := bitsOf(sp.Dst)
		if sp.Src != nil {
			checkRead(*sp.Src, sc, at, bad)
			if bitsOf(*sp.Src) != n {
				bad("%s: source is %d bits, destination %d", at, bitsOf(*sp.Src), n)
			}
			if sp.Value != 0 {
				bad("%s: a value and a source field exclude each other", at)
			}
		} else if n < 64 && sp.Value>>n != 0 {
			bad("%s: value %#x does not fit in %d bits", at, sp.Value, n)
		} else if sp.Dst.Field == FieldInPort && n == t.width && sp.Value > 0xfeff {
			// OVS prints reserved port numbers by name.
			bad("%s: in_port values are port numbers 0..65279", at)
		}
		if !sp.Load {
			if need := prereqMissing(t.prereq, learned); need != "" {
				bad("%s: the learned flow matches %s, which needs %s matched against a value in an earlier spec", at, t.nxm, need)
			}
			if sp.Src == nil && sp.Dst.Ofs == 0 && n == t.width {
				switch sp.Dst.Field {
				case FieldEthType:
					learned.EthType = uint16(sp.Value)
				case FieldIPProto:
					learned.IPProto = U8(uint8(sp.Value))
				case FieldICMPType:
					learned.ICMPType = U8(uint8(sp.Value))
				}
			}
			continue
		}
		switch {
		case fieldReadOnly(sp.Dst.Field):
			bad("%s: %s can be matched but not written", at, t.nxm)
		case t.prereq == prereqCTExec:
			bad("%s: %s can only be written inside ct(commit,exec(...))", at, t.nxm)
		default:
			if need := prereqMissing(t.prereq, learned); need != "" {
				bad("%s: the learned flow writes %s, which needs %s matched against a value in an earlier spec", at, t.nxm, need)
			}
		}
	}
}
