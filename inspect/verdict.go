package inspect

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
)

// explain turns a parsed trace of p into a verdict in intent terms.
// established says p was traced as part of an established connection.
// ov, on a host of an overlay, names where a packet the tunnel takes goes.
func explain(in *intent.Intent, b pipeline.Bindings, ov pipeline.Overlay, p packet, tr traceOutput, established bool) *TraceResult {
	res := &TraceResult{Steps: tr.Steps, Passes: tr.Passes, Allowed: delivered(tr.Datapath())}
	namer := pipeline.NewCookieNamer(in)
	for i := range res.Steps {
		res.Steps[i].Object = describe(namer, res.Steps[i].Cookie)
	}
	res.Notes = natNotes(tr, established)
	switch {
	case res.Allowed && established:
		// The established checks name whichever rule or group matched the
		// label; the rules that decided are those of the first packet.
		res.Verdict = "allowed as part of an established connection"
	case res.Allowed:
		res.Verdict = allowedVerdict(namer, res.Steps) + balancedBy(in, res.Steps)
	default:
		res.Verdict = droppedVerdict(in, b, p, tr)
	}
	if res.Allowed {
		res.Verdict += throughTunnel(in, ov, tr)
	}
	return res
}

// throughTunnel says where a packet that leaves by the overlay's tunnel
// goes: the port (or router) its destination MAC names, the host and
// the tunnel endpoint, whose host judges the receiver's ingress rules.
// "" when the packet does not take the tunnel.
func throughTunnel(in *intent.Intent, ov pipeline.Overlay, tr traceOutput) string {
	if len(tr.Passes) == 0 {
		return ""
	}
	final := tr.Passes[len(tr.Passes)-1].Final
	dst, err := netip.ParseAddr(flowField(final, "tun_dst"))
	if err != nil || dst.IsUnspecified() || !sentToTunnel(final, ov) {
		return ""
	}
	where := dst.String()
	for host, ep := range ov.Hosts {
		if ep == dst {
			where = fmt.Sprintf("%s (%s)", host, dst)
		}
	}
	// The destination MAC: a port bound on that host, or the router
	// that runs there (the gateway's MAC).
	mac, err := net.ParseMAC(flowField(final, "dl_dst"))
	if err != nil {
		mac = nil
	}
	for i := range in.Ports {
		if p := &in.Ports[i]; bytes.Equal(p.MAC[:], mac) && ov.Remote[p.Name] == dst {
			return fmt.Sprintf(", then to %s on %s through the tunnel, whose host judges %s's ingress rules", p.Name, where, p.Name)
		}
	}
	for _, n := range in.Networks {
		g := pipeline.GatewayMAC(&n)
		if r := routerOfNetwork(in, n.Name); r != nil && bytes.Equal(g[:], mac) {
			return fmt.Sprintf(", then to router %s on %s through the tunnel, which routes it there", r.Name, where)
		}
	}
	return fmt.Sprintf(", then through the tunnel to %s, whose host judges the receiver's ingress rules", where)
}

// sentToTunnel reports whether the final flow's destination port (reg1)
// is the overlay's tunnel port; without an overlay (its tunnel port
// unknown) a tunnel destination set on the packet says so.
func sentToTunnel(final string, ov pipeline.Overlay) bool {
	if ov.TunnelPort == 0 {
		return true
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(flowField(final, regName(regDstPort)), "0x"), 16, 32)
	return err == nil && uint32(n) == ov.TunnelPort
}

// routerOfNetwork is the router that routes network n, if any.
func routerOfNetwork(in *intent.Intent, n string) *intent.Router {
	for i := range in.Routers {
		if slices.Contains(in.Routers[i].Networks, n) {
			return &in.Routers[i]
		}
	}
	return nil
}

func allowedVerdict(namer *pipeline.CookieNamer, steps []Step) string {
	var by []string
	for _, s := range steps {
		if _, isRule := namer.Rule(s.Cookie); isRule && isACL(s.Table) {
			by = append(by, s.Object)
		}
		if ref, isPolicy := namer.PolicyRule(s.Cookie); isPolicy && isPolicyTable(s.Table) && ref.Action == intent.ActionAllow {
			by = append(by, s.Object)
		}
	}
	if len(by) == 0 {
		return "allowed (no security-group rule was needed: unfiltered port or infrastructure traffic)"
	}
	return "allowed by " + strings.Join(by, " and ")
}

// balancedBy names the service and the backend its select group picked
// for the packet: from the backend's own flow in service_backend when the
// trace matched it, else from the nat(dst=...) of the bucket the trace
// took (ofproto/trace cannot fill in ct_nw_dst, which that flow matches).
func balancedBy(in *intent.Intent, steps []Step) string {
	for _, s := range steps {
		if pipeline.Table(s.Table) == pipeline.TableServiceBackend && pipeline.KindOf(s.Cookie) == pipeline.KindService {
			return ", load balanced to " + s.Object
		}
	}
	for _, s := range steps {
		if pipeline.KindOf(s.Cookie) != pipeline.KindService {
			continue
		}
		for _, a := range s.Actions {
			m := natDst.FindStringSubmatch(a)
			if m == nil {
				continue
			}
			backend := m[1]
			if addr, err := netip.ParseAddr(m[1]); err == nil {
				if p := portWithAddr(in, addr); p != nil {
					backend = p.Name
				}
			}
			service, _, _ := strings.Cut(s.Object, " ")
			return fmt.Sprintf(", load balanced by %s to backend %s:%s", service, backend, m[2])
		}
	}
	return ""
}

var natDst = regexp.MustCompile(`nat\(dst=\[?([0-9a-fA-F.:]+?)\]?:(\d+)\)`)

func isPolicyTable(t uint8) bool {
	return pipeline.Table(t) == pipeline.TableEgressPolicy || pipeline.Table(t) == pipeline.TableIngressPolicy
}

func isACL(t uint8) bool {
	return pipeline.Table(t) == pipeline.TableEgressACL || pipeline.Table(t) == pipeline.TableIngressACL
}

// Priorities of the ACL tables' drops other than "no rule allows it"
// (docs/pipeline.md, "Priorities").
const (
	priorityInvalid = 800
	priorityStale   = 600
)

// droppedVerdict names the table, and the group, that dropped the packet,
// judging the packet as the last pass saw it (after any NAT).
func droppedVerdict(in *intent.Intent, b pipeline.Bindings, p packet, tr traceOutput) string {
	if len(tr.Steps) == 0 {
		return "dropped: no flow matched"
	}
	last := tr.Steps[len(tr.Steps)-1]
	if isPolicyTable(last.Table) {
		if ref, ok := pipeline.NewCookieNamer(in).PolicyRule(last.Cookie); ok {
			verb := "denied"
			if ref.Action == intent.ActionReject {
				verb = "rejected (dropped: reject does not answer yet)"
			}
			return fmt.Sprintf("%s by %s", verb, last.Object)
		}
	}
	final := tr.Passes[len(tr.Passes)-1].Final
	seen := asSeen(p, final)
	table := pipeline.Table(last.Table)
	where := fmt.Sprintf("table %d (%s)", last.Table, table.Name())
	switch {
	case isACL(last.Table) && last.Priority == priorityInvalid:
		return fmt.Sprintf("dropped in %s: conntrack marks the packet invalid (+inv)", where)
	case isACL(last.Table) && last.Priority == priorityStale:
		return fmt.Sprintf("dropped in %s: its connection was allowed by a rule that no longer applies (ct_label names no live rule)", where)
	case table == pipeline.TableIngressACL:
		receiver := portByOFPort(in, b, flowField(final, regName(regDstPort)))
		if receiver == nil {
			receiver = portWithAddr(in, seen.dst)
		}
		return fmt.Sprintf("dropped: no rule of %s allows %s", groupsOf(receiver), seen.describe())
	case table == pipeline.TableEgressACL:
		sender := portByOFPort(in, b, flowField(final, regName(regSrcPort)))
		return fmt.Sprintf("dropped: no egress rule of %s allows %s to %s", groupsOf(sender), seen.proto+portSuffix(seen), seen.dst)
	case table == pipeline.TablePortSecurity:
		return fmt.Sprintf("dropped in %s: %s may send only from its own MAC and addresses", where, p.from)
	}
	return fmt.Sprintf("dropped in %s by %s", where, last.Object)
}

// asSeen is p with the addresses and ports of a flow ofproto/trace
// printed, which differ from p's after a simulated NAT.
func asSeen(p packet, flow string) packet {
	for _, f := range []struct {
		key string
		to  *netip.Addr
	}{{"nw_src", &p.src}, {"nw_dst", &p.dst}, {"ipv6_src", &p.src}, {"ipv6_dst", &p.dst}} {
		if a, err := netip.ParseAddr(flowField(flow, f.key)); err == nil {
			*f.to = a
		}
	}
	if n, err := strconv.ParseUint(flowField(flow, "tp_dst"), 10, 16); err == nil {
		p.dport = uint16(n)
	}
	return p
}

func portSuffix(p packet) string {
	if p.proto == "tcp" || p.proto == "udp" {
		return "/" + strconv.Itoa(int(p.dport))
	}
	return ""
}

// portByOFPort is the port bound to the OpenFlow port a register holds
// ("0x3"), or nil.
func portByOFPort(in *intent.Intent, b pipeline.Bindings, reg string) *intent.Port {
	n, err := strconv.ParseUint(strings.TrimPrefix(reg, "0x"), 16, 32)
	if err != nil {
		return nil
	}
	for name, ofport := range b {
		if uint64(ofport) == n {
			return in.Port(name)
		}
	}
	return nil
}

func groupsOf(p *intent.Port) string {
	switch {
	case p == nil:
		return "the receiver"
	case len(p.SecurityGroups) == 0:
		return p.Name + " (in no security group)"
	}
	return strings.Join(p.SecurityGroups, ", ")
}

// natNotes says what ofproto/trace translated on its own and what it
// cannot: it applies the explicit nat(src=...)/nat(dst=...) of a commit,
// but has no connection to take the translation of an established one
// from, so a bare ct(nat) leaves the packet as it was.
func natNotes(tr traceOutput, established bool) []string {
	var notes []string
	for i, p := range tr.Passes {
		if p.NAT != "" {
			notes = append(notes, fmt.Sprintf("ofproto/trace applied the translation of a ct(commit,nat(...)) before pass %d: %s", i, p.NAT))
		}
	}
	if !established {
		return notes
	}
	for _, s := range tr.Steps {
		if pipeline.Table(s.Table).IsRouter() {
			return append(notes, "the packet crosses the router: ofproto/trace cannot replay the translation conntrack applies to an established connection (ct(nat) without arguments), so addresses after the router's tables are shown as sent, not as they would leave")
		}
	}
	return notes
}

// String renders the report: the packet, the tables it went through with
// the object behind each flow, the verdict and what the trace could not
// show.
func (r *TraceResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "packet: %s\n", r.Packet)
	pass := 0
	for _, s := range r.Steps {
		for ; pass < s.Pass; pass++ {
			fmt.Fprintf(&b, "  -- recirculation, resumed with %s\n", r.Passes[pass+1].Resume)
		}
		fmt.Fprintf(&b, "  table %-3d %-14s priority %-5d %s\n", s.Table, pipeline.Table(s.Table).Name(), s.Priority, s.Object)
	}
	fmt.Fprintf(&b, "verdict: %s\n", r.Verdict)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// regName is register i as ovs-ofctl names it in a match ("reg1").
func regName(i uint8) string { return "reg" + strconv.Itoa(int(i)) }
