package inspect

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
)

// TraceRequest describes the packet to trace: from an intent port to an
// address, as the first packet of a connection or one of an established
// connection.
type TraceRequest struct {
	Intent   *intent.Intent
	Bindings pipeline.Bindings // port -> ofport, as OVSDB has them
	Bridge   string
	Rundir   string // OVS_RUNDIR of the ovs-vswitchd to ask
	From     string // intent port
	To       netip.Addr
	Proto    string // tcp, udp, icmp, icmp6
	SPort    uint16 // default 40000
	DPort    uint16
	State    string // "new" (default) or "est"
}

// TraceResult is a trace's outcome in intent terms.
type TraceResult struct {
	Packet  string // the flow given to ofproto/trace
	Allowed bool
	Verdict string // "allowed by ..." or "dropped: ..."
	Steps   []Step
	Raw     string // ofproto/trace's own output
}

// ctPasses is how many ct() recirculations a trace follows: the network
// zone, and the router's zones on a routed path.
const ctPasses = 6

// Trace builds the packet, runs ofproto/trace on it, following every
// conntrack recirculation with the connection state asked for, and names
// the rule that decided its fate.
func Trace(ctx context.Context, req TraceRequest) (*TraceResult, error) {
	packet, err := buildPacket(req)
	if err != nil {
		return nil, err
	}
	state := map[string]string{"": "trk,new", "new": "trk,new", "est": "trk,est"}[req.State]
	if state == "" {
		return nil, fmt.Errorf("trace: state %q: want new or est", req.State)
	}
	args := []string{"ofproto/trace", req.Bridge, packet}
	for range ctPasses {
		args = append(args, "--ct-next", state)
	}
	cmd := exec.CommandContext(ctx, "ovs-appctl", args...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+req.Rundir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ovs-appctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	res := explain(req, parseTrace(string(out)))
	res.Packet, res.Raw = packet, string(out)
	return res, nil
}

// buildPacket writes the ofproto/trace flow for req.
func buildPacket(req TraceRequest) (string, error) {
	in := req.Intent
	from := in.Port(req.From)
	if from == nil {
		return "", fmt.Errorf("trace: no port %q in the intent", req.From)
	}
	ofport, ok := req.Bindings[req.From]
	if !ok {
		return "", fmt.Errorf("trace: port %s is not bound (no OVS Interface with iface-id=%s)", req.From, req.From)
	}
	var src netip.Addr
	for _, ip := range from.IPs {
		if ip.Is4() == req.To.Is4() {
			src = ip
			break
		}
	}
	if !src.IsValid() {
		return "", fmt.Errorf("trace: port %s has no address of the family of %s", req.From, req.To)
	}
	dstMAC, err := nextHopMAC(in, from, req.To)
	if err != nil {
		return "", err
	}
	sport := req.SPort
	if sport == 0 {
		sport = 40000
	}
	v6 := req.To.Is6()
	var b strings.Builder
	fmt.Fprintf(&b, "in_port=%d,dl_src=%s,dl_dst=%s,", ofport, macString(from.MAC), macString(dstMAC))
	switch req.Proto {
	case "tcp", "udp":
		if v6 {
			b.WriteString(req.Proto + "6")
		} else {
			b.WriteString(req.Proto)
		}
	case "icmp", "icmp6", "icmpv6":
		if v6 {
			b.WriteString("icmp6,icmp_type=128,icmp_code=0")
		} else {
			b.WriteString("icmp,icmp_type=8,icmp_code=0")
		}
	default:
		return "", fmt.Errorf("trace: protocol %q: want tcp, udp, icmp or icmp6", req.Proto)
	}
	if v6 {
		fmt.Fprintf(&b, ",ipv6_src=%s,ipv6_dst=%s,nw_ttl=64", src, req.To)
	} else {
		fmt.Fprintf(&b, ",nw_src=%s,nw_dst=%s,nw_ttl=64", src, req.To)
	}
	if req.Proto == "tcp" || req.Proto == "udp" {
		if req.DPort == 0 {
			return "", fmt.Errorf("trace: %s needs --dport", req.Proto)
		}
		fmt.Fprintf(&b, ",tp_src=%d,tp_dst=%d", sport, req.DPort)
	}
	return b.String(), nil
}

// nextHopMAC is the destination MAC the sender would use: the port that
// owns the address on its own network, else its network's router.
func nextHopMAC(in *intent.Intent, from *intent.Port, to netip.Addr) ([6]byte, error) {
	if p := portWithAddr(in, to); p != nil && p.Network == from.Network {
		return p.MAC, nil
	}
	n := in.Network(from.Network)
	if n != nil && (n.Gateway.IsValid() || n.Gateway6.IsValid()) {
		return pipeline.GatewayMAC(n), nil
	}
	return [6]byte{}, fmt.Errorf("trace: %s is not on network %s and the network has no gateway", to, from.Network)
}

// portWithAddr is the port that owns addr (its IPs or address pairs).
func portWithAddr(in *intent.Intent, addr netip.Addr) *intent.Port {
	for i := range in.Ports {
		p := &in.Ports[i]
		for _, ip := range p.IPs {
			if ip == addr {
				return p
			}
		}
		for _, pair := range p.AllowedAddressPairs {
			if pair.Prefix.Contains(addr) {
				return p
			}
		}
	}
	return nil
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// explain turns the matched flows into a verdict in intent terms.
func explain(req TraceRequest, tr traceOutput) *TraceResult {
	res := &TraceResult{Steps: tr.Steps, Allowed: delivered(tr.Datapath)}
	for i := range res.Steps {
		res.Steps[i].Object = pipeline.DescribeCookie(req.Intent, res.Steps[i].Cookie)
	}
	what := describePacket(req)
	if res.Allowed {
		var by []string
		for _, s := range res.Steps {
			if isRuleStep(req.Intent, s) {
				by = append(by, s.Object)
			}
		}
		switch {
		case len(by) > 0:
			res.Verdict = "allowed by " + strings.Join(by, " and ")
		case req.State == "est":
			res.Verdict = "allowed as part of an established connection"
		default:
			res.Verdict = "allowed (no security-group rule was needed: unfiltered port or infrastructure traffic)"
		}
		return res
	}
	if len(res.Steps) == 0 {
		res.Verdict = "dropped: no flow matched"
		return res
	}
	last := res.Steps[len(res.Steps)-1]
	switch pipeline.Table(last.Table) {
	case pipeline.TableIngressACL:
		res.Verdict = fmt.Sprintf("dropped: no rule of %s allows %s", groupsOf(req.Intent, portWithAddr(req.Intent, req.To)), what)
	case pipeline.TableEgressACL:
		res.Verdict = fmt.Sprintf("dropped: no egress rule of %s allows %s", groupsOf(req.Intent, req.Intent.Port(req.From)), what)
	case pipeline.TablePortSecurity:
		res.Verdict = fmt.Sprintf("dropped by port security: %s may not send this (its MAC and addresses are %s's own)", req.From, req.From)
	default:
		res.Verdict = fmt.Sprintf("dropped in table %d (%s) by %s", last.Table, pipeline.Table(last.Table).Name(), last.Object)
	}
	if req.State == "est" && last.Priority == 600 {
		res.Verdict += "; note: ofproto/trace cannot give the simulated connection the ct_label the rule that allowed it would have set, so established traffic of stateful ports always looks stale here — trace the connection's first packet (--state new) instead"
	}
	return res
}

func isRuleStep(in *intent.Intent, s Step) bool {
	refs := pipeline.RuleCookies(in)
	_, ok := refs[s.Cookie&pipeline.CookieObjectMask]
	return ok && (pipeline.Table(s.Table) == pipeline.TableEgressACL || pipeline.Table(s.Table) == pipeline.TableIngressACL)
}

func groupsOf(in *intent.Intent, p *intent.Port) string {
	if p == nil {
		return "the receiver"
	}
	if len(p.SecurityGroups) == 0 {
		return p.Name + " (in no security group)"
	}
	return strings.Join(p.SecurityGroups, ", ")
}

func describePacket(req TraceRequest) string {
	from := req.From
	if p := req.Intent.Port(req.From); p != nil {
		for _, ip := range p.IPs {
			if ip.Is4() == req.To.Is4() {
				from = ip.String()
				break
			}
		}
	}
	switch req.Proto {
	case "tcp", "udp":
		return fmt.Sprintf("%s/%d from %s", req.Proto, req.DPort, from)
	}
	return fmt.Sprintf("%s from %s", req.Proto, from)
}

// String renders the report: the verdict, then the tables the packet went
// through with the object behind each flow.
func (r *TraceResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "packet: %s\n", r.Packet)
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "  table %-3d %-14s priority %-5d %s\n", s.Table, pipeline.Table(s.Table).Name(), s.Priority, s.Object)
	}
	fmt.Fprintf(&b, "verdict: %s\n", r.Verdict)
	return b.String()
}
