package flows

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseActions parses the text after "actions=" back into actions. "drop"
// alone gives an empty list, the IR's canonical drop.
func ParseActions(s string) ([]Action, error) {
	if s == "drop" {
		return nil, nil
	}
	toks, err := splitTopLevel(s)
	if err != nil {
		return nil, fmt.Errorf("actions %q: %w", s, err)
	}
	out := make([]Action, 0, len(toks))
	for _, tok := range toks {
		a, err := parseAction(tok)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", tok, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// splitTopLevel splits at commas outside parentheses.
func splitTopLevel(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced ')'")
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced '('")
	}
	return append(out, s[start:]), nil
}

// callArgs returns the inside of "name(...)" when tok has that form.
func callArgs(tok, name string) (string, bool) {
	inner, ok := strings.CutPrefix(tok, name+"(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return "", false
	}
	return inner[:len(inner)-1], true
}

func parseAction(tok string) (Action, error) {
	for p, n := range portNames {
		if tok == n && p != PortController {
			return Output{Port: p}, nil
		}
	}
	switch tok {
	case "drop":
		return Drop{}, nil
	case "dec_ttl":
		return DecTTL{}, nil
	}
	if v, ok := strings.CutPrefix(tok, "output:"); ok {
		if strings.Contains(v, "[") {
			r, err := parseFieldRef(v)
			return OutputReg{Field: r}, err
		}
		p, err := parsePort(v)
		return Output{Port: p}, err
	}
	if v, ok := strings.CutPrefix(tok, "goto_table:"); ok {
		t, err := strconv.ParseUint(v, 10, 8)
		return Goto{Table: uint8(t)}, err
	}
	if v, ok := callArgs(tok, "resubmit"); ok {
		t, err := strconv.ParseUint(strings.TrimPrefix(v, ","), 10, 8)
		if err != nil || !strings.HasPrefix(v, ",") {
			return nil, fmt.Errorf("want resubmit(,TABLE)")
		}
		return Resubmit{Table: uint8(t)}, nil
	}
	if v, ok := strings.CutPrefix(tok, "group:"); ok {
		id, err := strconv.ParseUint(v, 10, 32)
		return Group{ID: uint32(id)}, err
	}
	if v, ok := strings.CutPrefix(tok, "meter:"); ok {
		id, err := strconv.ParseUint(v, 10, 32)
		return Meter{ID: uint32(id)}, err
	}
	if v, ok := strings.CutPrefix(tok, "set_field:"); ok {
		return parseSetField(v)
	}
	if v, ok := strings.CutPrefix(tok, "load:"); ok {
		val, dst, ok := strings.Cut(v, "->")
		if !ok {
			return nil, fmt.Errorf("want load:VALUE->FIELD[bits]")
		}
		n, err := strconv.ParseUint(val, 0, 64)
		if err != nil {
			return nil, err
		}
		r, err := parseFieldRef(dst)
		if err != nil {
			return nil, err
		}
		if r.Bits == 0 {
			// "[]" in a load is all the bits, not the set_field form.
			r.Bits = fieldTexts[r.Field].width
		}
		return Load{Field: r, Value: n}, nil
	}
	if v, ok := strings.CutPrefix(tok, "move:"); ok {
		src, dst, ok := strings.Cut(v, "->")
		if !ok {
			return nil, fmt.Errorf("want move:SRC[bits]->DST[bits]")
		}
		s, err := parseFieldRef(src)
		if err != nil {
			return nil, err
		}
		d, err := parseFieldRef(dst)
		return Move{Src: s, Dst: d}, err
	}
	if v, ok := callArgs(tok, "conjunction"); ok {
		var c Conjunction
		if _, err := fmt.Sscanf(v, "%d,%d/%d", &c.ID, &c.Clause, &c.NClauses); err != nil {
			return nil, fmt.Errorf("want conjunction(ID,K/N): %w", err)
		}
		return c, nil
	}
	if v, ok := strings.CutPrefix(tok, "CONTROLLER:"); ok {
		n, err := strconv.ParseUint(v, 10, 16)
		return controllerOf(PacketInAction, uint16(n)), err
	}
	if v, ok := callArgs(tok, "controller"); ok {
		return parseController(v)
	}
	if v, ok := callArgs(tok, "ct"); ok {
		return parseCT(v)
	}
	if v, ok := callArgs(tok, "learn"); ok {
		return parseLearn(v)
	}
	return nil, fmt.Errorf("unknown action")
}

// controllerOf maps max_len 65535 (the whole packet) to the IR's 0.
func controllerOf(reason uint8, maxLen uint16) Controller {
	if maxLen == 0xffff {
		maxLen = 0
	}
	return Controller{MaxLen: maxLen, Reason: reason}
}

func parseController(args string) (Action, error) {
	reason, maxLen := PacketInAction, uint16(0xffff)
	for _, kv := range strings.Split(args, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "reason":
			found := false
			for i, n := range packetInReasonNames {
				if n == v {
					reason, found = uint8(i), true
				}
			}
			if !found {
				return nil, fmt.Errorf("unknown controller reason %q", v)
			}
		case "max_len":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, err
			}
			maxLen = uint16(n)
		default:
			return nil, fmt.Errorf("controller option %q not representable in the flow IR", k)
		}
	}
	return controllerOf(reason, maxLen), nil
}

func parseSetField(v string) (Action, error) {
	val, name, ok := strings.Cut(v, "->")
	if !ok {
		return nil, fmt.Errorf("want set_field:VALUE->FIELD")
	}
	f, ok := fieldsByOXM[name]
	if !ok {
		return nil, fmt.Errorf("unknown field %q", name)
	}
	if src, isTunnel := tunnelAddrFields[f]; isTunnel {
		a, err := netip.ParseAddr(val)
		if err != nil || a.Zone() != "" || a.Is4() != (f == FieldTunSrc || f == FieldTunDst) {
			return nil, fmt.Errorf("%q is not an address of the family %s names", val, name)
		}
		return SetTunnel{Src: src, Addr: a}, nil
	}
	t := fieldTexts[f]
	if t.format == valueMAC {
		m, err := ParseMAC(val)
		if err != nil {
			return nil, err
		}
		switch f {
		case FieldEthSrc:
			return SetEthSrc{MAC: m}, nil
		case FieldEthDst:
			return SetEthDst{MAC: m}, nil
		}
		var n uint64
		for _, b := range m {
			n = n<<8 | uint64(b)
		}
		return Load{Field: Whole(f), Value: n}, nil
	}
	n, err := parseFieldValue(t.format, val)
	return Load{Field: Whole(f), Value: n}, err
}

// tunnelAddrFields are the fields a SetTunnel writes, each with whether it
// is a source.
var tunnelAddrFields = map[Field]bool{FieldTunSrc: true, FieldTunIPv6Src: true, FieldTunDst: false, FieldTunIPv6Dst: false}

// parseFieldValue reads a non-MAC set_field value. IPv6 values must fit
// in 64 bits, as Load.Value does.
func parseFieldValue(f valueFormat, s string) (uint64, error) {
	switch f {
	case valueIPv4:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return 0, fmt.Errorf("%q is not an IPv4 address", s)
		}
		b := a.As4()
		return uint64(binary.BigEndian.Uint32(b[:])), nil
	case valueIPv6:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return 0, fmt.Errorf("%q is not an IPv6 address", s)
		}
		b := a.As16()
		if binary.BigEndian.Uint64(b[:8]) != 0 {
			return 0, fmt.Errorf("%s does not fit in 64 bits", s)
		}
		return binary.BigEndian.Uint64(b[8:]), nil
	case valueDecimal:
		return strconv.ParseUint(s, 10, 64)
	}
	if strings.HasPrefix(s, "0x") && len(s) > 18 {
		return 0, fmt.Errorf("%s does not fit in 64 bits", s)
	}
	return strconv.ParseUint(s, 0, 64)
}

// parseFieldRef reads "NXM_NX_REG0[]", "NXM_NX_REG0[5]" or
// "NXM_NX_REG0[0..15]"; "[]" gives Bits 0, the whole field.
func parseFieldRef(s string) (FieldRef, error) {
	name, rng, ok := strings.Cut(s, "[")
	if !ok || !strings.HasSuffix(rng, "]") {
		return FieldRef{}, fmt.Errorf("subfield %q: want NAME[bits]", s)
	}
	f, ok := fieldsByNXM[name]
	if !ok {
		return FieldRef{}, fmt.Errorf("subfield %q: unknown field", s)
	}
	rng = strings.TrimSuffix(rng, "]")
	if rng == "" {
		return Whole(f), nil
	}
	lo, hi, isRange := strings.Cut(rng, "..")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || b < a {
		return FieldRef{}, fmt.Errorf("subfield %q: bad bit range", s)
	}
	return Bits(f, uint16(a), uint16(b-a+1)), nil
}

func parseCT(args string) (Action, error) {
	var c CT
	toks, err := splitTopLevel(args)
	if err != nil {
		return nil, err
	}
	for _, tok := range toks {
		switch {
		case tok == "":
			// "ct()"
		case tok == "commit":
			c.Commit = true
		case tok == "force":
			c.Force = true
		case strings.HasPrefix(tok, "table="):
			t, err := strconv.ParseUint(tok[len("table="):], 10, 8)
			if err != nil {
				return nil, err
			}
			c.Table = U8(uint8(t))
		case strings.HasPrefix(tok, "zone="):
			v := tok[len("zone="):]
			if strings.Contains(v, "[") {
				r, err := parseFieldRef(v)
				if err != nil {
					return nil, err
				}
				c.ZoneField = &r
				continue
			}
			z, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, err
			}
			c.Zone = uint16(z)
		case tok == "nat" || strings.HasPrefix(tok, "nat("):
			n, err := parseNAT(tok)
			if err != nil {
				return nil, err
			}
			c.NAT = &n
		case strings.HasPrefix(tok, "exec("):
			inner, _ := callArgs(tok, "exec")
			ex, err := ParseActions(inner)
			if err != nil {
				return nil, err
			}
			c.Exec = ex
		default:
			return nil, fmt.Errorf("ct option %q not representable in the flow IR", tok)
		}
	}
	return c, nil
}

// parseNAT reads "nat", "nat(src)", "nat(dst=A[-B][:P[-Q]],flags...)",
// with IPv6 addresses bracketed when ports follow.
func parseNAT(tok string) (NAT, error) {
	var n NAT
	if tok == "nat" {
		return n, nil
	}
	args, ok := callArgs(tok, "nat")
	if !ok {
		return n, fmt.Errorf("bad nat %q", tok)
	}
	parts := strings.Split(args, ",")
	kind, rng, hasRange := strings.Cut(parts[0], "=")
	switch kind {
	case "src":
		n.Kind = NATSrc
	case "dst":
		n.Kind = NATDst
	default:
		return n, fmt.Errorf("nat %q: want src or dst", tok)
	}
	if hasRange {
		if err := parseNATRange(rng, &n); err != nil {
			return n, fmt.Errorf("nat %q: %w", tok, err)
		}
	}
	for _, flag := range parts[1:] {
		switch flag {
		case "persistent":
			n.Persistent = true
		case "hash":
			n.Hash = true
		case "random":
			n.Random = true
		default:
			return n, fmt.Errorf("nat %q: unknown flag %q", tok, flag)
		}
	}
	return n, nil
}

func parseNATRange(s string, n *NAT) error {
	var addrs, ports string
	if strings.HasPrefix(s, "[") {
		// [v6]-[v6]:ports or [v6]:ports
		end := strings.LastIndex(s, "]")
		addrs = strings.NewReplacer("[", "", "]", "").Replace(s[:end+1])
		ports = strings.TrimPrefix(s[end+1:], ":")
	} else if strings.Count(s, ":") <= 1 {
		addrs, ports, _ = strings.Cut(s, ":") // IPv4[:ports]
	} else {
		addrs = s // bare IPv6, no ports
	}
	lo, hi, isRange := strings.Cut(addrs, "-")
	var err error
	if n.AddrMin, err = netip.ParseAddr(lo); err != nil {
		return err
	}
	if isRange {
		if n.AddrMax, err = netip.ParseAddr(hi); err != nil {
			return err
		}
	}
	if ports == "" {
		return nil
	}
	plo, phi, isRange := strings.Cut(ports, "-")
	a, err := strconv.ParseUint(plo, 10, 16)
	if err != nil {
		return err
	}
	n.PortMin = uint16(a)
	if isRange {
		b, err := strconv.ParseUint(phi, 10, 16)
		if err != nil {
			return err
		}
		n.PortMax = uint16(b)
	}
	return nil
}

// parseLearn reads the inside of learn(...) in the form formatLearn
// writes. Options the IR cannot hold (fin timeouts, send_flow_rem,
// delete_learned, limit, result_dst, output specs) are an error.
func parseLearn(args string) (Action, error) {
	l := Learn{Priority: DefaultPriority}
	seenTable := false
	for _, tok := range strings.Split(args, ",") {
		key, val, hasVal := strings.Cut(tok, "=")
		var err error
		var v uint64
		switch {
		case key == "table" && hasVal:
			v, err = strconv.ParseUint(val, 10, 8)
			l.Table, seenTable = uint8(v), true
		case key == "idle_timeout" && hasVal:
			v, err = strconv.ParseUint(val, 10, 16)
			l.IdleTimeout = uint16(v)
		case key == "hard_timeout" && hasVal:
			v, err = strconv.ParseUint(val, 10, 16)
			l.HardTimeout = uint16(v)
		case key == "priority" && hasVal:
			v, err = strconv.ParseUint(val, 10, 16)
			l.Priority = uint16(v)
		case key == "cookie" && hasVal:
			l.Cookie, err = strconv.ParseUint(val, 0, 64)
		case key == "fin_idle_timeout", key == "fin_hard_timeout", key == "limit", key == "result_dst",
			tok == "send_flow_rem", tok == "delete_learned", strings.HasPrefix(tok, "output:"):
			err = fmt.Errorf("not representable in the flow IR")
		default:
			var sp LearnSpec
			sp, err = parseLearnSpec(tok)
			l.Specs = append(l.Specs, sp)
		}
		if err != nil {
			return nil, fmt.Errorf("learn %q: %w", tok, err)
		}
	}
	if !seenTable {
		return nil, fmt.Errorf("learn without table=")
	}
	return l, nil
}

// parseLearnSpec reads one spec (see formatLearnSpec).
func parseLearnSpec(tok string) (LearnSpec, error) {
	if v, ok := strings.CutPrefix(tok, "load:"); ok {
		src, dst, ok := strings.Cut(v, "->")
		if !ok {
			return LearnSpec{}, fmt.Errorf("want load:VALUE->FIELD[bits] or load:FIELD[bits]->FIELD[bits]")
		}
		d, err := parseFieldRef(dst)
		if err != nil {
			return LearnSpec{}, err
		}
		sp := LearnSpec{Load: true, Dst: d}
		if strings.Contains(src, "[") {
			r, err := parseFieldRef(src)
			sp.Src = &r
			return sp, err
		}
		sp.Value, err = strconv.ParseUint(src, 0, 64)
		return sp, err
	}
	dst, src, hasSrc := strings.Cut(tok, "=")
	if !strings.Contains(dst, "[") {
		// "eth_type=0x800": the whole field against a value.
		f, ok := fieldsByOXM[dst]
		if !ok || !hasSrc {
			return LearnSpec{}, fmt.Errorf("unknown field %q", dst)
		}
		v, err := parseWholeValue(f, src)
		return LearnSpec{Value: v, Dst: Whole(f)}, err
	}
	d, err := parseFieldRef(dst)
	if err != nil {
		return LearnSpec{}, err
	}
	sp := LearnSpec{Dst: d}
	switch {
	case !hasSrc:
		s := d
		sp.Src = &s
	case strings.Contains(src, "["):
		s, err := parseFieldRef(src)
		if err != nil {
			return LearnSpec{}, err
		}
		sp.Src = &s
	default:
		if sp.Value, err = strconv.ParseUint(src, 0, 64); err != nil {
			return LearnSpec{}, err
		}
	}
	return sp, nil
}

// parseWholeValue reads a value of field f as mf_format prints it.
func parseWholeValue(f Field, s string) (uint64, error) {
	t := fieldTexts[f]
	if t.format != valueMAC {
		return parseFieldValue(t.format, s)
	}
	m, err := ParseMAC(s)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, b := range m {
		n = n<<8 | uint64(b)
	}
	return n, nil
}
