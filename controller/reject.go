package controller

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/packets"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/reject"
)

// handlePacketIns is the one reader of the session's packet-ins. It
// serves the packets admin policy rules send to the controller (the first
// packet of each new connection that a reject rule refuses, or that a rule
// with log: true decides) and services without a reachable backend send
// (answered as a reject), and hands the others — the routers' ARP
// answers, unresolved next hops and expired TTLs — to the router helper
// (nexthop.go). The bridge's controller meter bounds how many arrive
// (Config.PacketInRate).
func (c *Controller) handlePacketIns(ctx context.Context, routers *resolver) {
	for {
		var p openflow.PacketIn
		select {
		case <-ctx.Done():
			return
		case p = <-c.session.PacketIns():
		}
		if p.Reason == flows.PacketInAction && pipeline.KindOf(p.Cookie) == pipeline.KindService {
			// A solicitation for a service address (the flow matched its
			// target), or a new connection to a service with no backend
			// this client can reach: refused, as a closed port would.
			if src, srcMAC, target, ok := packets.NeighbourSolicitation(p.Data); ok {
				c.answerServiceSolicitation(ctx, p.InPort, src, srcMAC, target)
				continue
			}
			c.answerReject(ctx, p)
			continue
		}
		if p.Reason != flows.PacketInAction || pipeline.KindOf(p.Cookie) != pipeline.KindPolicyRule {
			select {
			case routers.in <- p:
			default: // the router helper is behind: ARP is asked again soon
			}
			continue
		}
		cur := c.current.Load()
		if cur == nil {
			continue
		}
		ref, ok := cur.namer().PolicyRule(p.Cookie)
		if !ok {
			continue // a rule of an intent no longer in force
		}
		rule := policyRule(cur.in, ref)
		if rule.Log {
			c.logDecision(p, ref)
		}
		if ref.Action == intent.ActionReject {
			c.answerReject(ctx, p)
		}
	}
}

func policyRule(in *intent.Intent, ref pipeline.PolicyRuleRef) intent.PolicyRule {
	for _, p := range in.Policies {
		if p.Name == ref.Policy && ref.Index < len(p.Rules) {
			return p.Rules[ref.Index]
		}
	}
	return intent.PolicyRule{}
}

// answerReject answers a rejected packet with a TCP RST or an ICMP port
// unreachable, output to the port it came from, as if the destination
// had refused it; a packet from a port on another host goes back through
// the tunnel to that host. Packets that came through the router get no
// answer: their sender is behind the uplink or in another network, which
// output to in_port cannot reach.
func (c *Controller) answerReject(ctx context.Context, p openflow.PacketIn) {
	answer, ok := reject.Answer(p.Data)
	if !ok || p.HasReg0 && p.Reg0 == pipeline.RouterPort {
		c.metrics.rejects.WithLabelValues("unanswered").Inc()
		return
	}
	back := []flows.Action{flows.Output{Port: p.InPort}}
	if p.InPort == TunnelOFPort {
		// The tunnel's in_port would send the answer to this host
		// itself: address it to the sender's host.
		cur := c.current.Load()
		if cur == nil {
			ok = false
		} else {
			back, ok = pipeline.TunnelBack(cur.in, cur.overlay, flows.MAC(p.Data[6:12]))
		}
		if !ok {
			c.metrics.rejects.WithLabelValues("unanswered").Inc()
			return
		}
	}
	if err := c.session.PacketOutActions(ctx, answer, back); err != nil {
		c.metrics.rejects.WithLabelValues("failed").Inc()
		c.log.Debug("reject: packet-out failed", "port", p.InPort, "error", err)
		return
	}
	c.metrics.rejects.WithLabelValues("answered").Inc()
}

// logDecision writes one structured line for a new connection a logged
// policy rule decided, and counts it.
func (c *Controller) logDecision(p openflow.PacketIn, ref pipeline.PolicyRuleRef) {
	rule := strconv.Itoa(ref.Index)
	c.metrics.policyLog.WithLabelValues(ref.Policy, rule, string(ref.Action)).Inc()
	t := fiveTuple(p.Data)
	c.log.Info("policy", "policy", ref.Policy, "rule", ref.Index, "action", string(ref.Action),
		"stage", pipeline.Table(p.Table).Name(), "in_port", p.InPort,
		"proto", t.proto, "src", t.src.String(), "dst", t.dst.String())
}

type tuple struct {
	proto    string
	src, dst netip.AddrPort
}

// fiveTuple reads protocol, addresses and ports of an Ethernet frame
// (ports are 0 for protocols without them).
func fiveTuple(f []byte) tuple {
	var t tuple
	if len(f) < 14 {
		return t
	}
	var proto uint8
	var src, dst netip.Addr
	var l4 []byte
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800:
		ip := f[14:]
		if len(ip) < 20 {
			return t
		}
		ihl := int(ip[0]&0x0f) * 4
		proto, src, dst = ip[9], netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		if ihl <= len(ip) {
			l4 = ip[ihl:]
		}
	case 0x86dd:
		ip := f[14:]
		if len(ip) < 40 {
			return t
		}
		proto, src, dst, l4 = ip[6], netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), ip[40:]
	default:
		return t
	}
	var sport, dport uint16
	switch proto {
	case 6, 17, 132:
		if len(l4) >= 4 {
			sport, dport = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
		}
	}
	names := map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}
	t.proto = names[proto]
	if t.proto == "" {
		t.proto = strconv.Itoa(int(proto))
	}
	t.src, t.dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	return t
}

// answerServiceSolicitation says "the service address target is at its
// ServiceMAC" to the port that asked.
func (c *Controller) answerServiceSolicitation(ctx context.Context, port uint32, src netip.Addr, srcMAC flows.MAC, target netip.Addr) {
	na := packets.NeighbourAdvert(pipeline.ServiceMAC(target), target, src, srcMAC)
	if err := c.session.PacketOut(ctx, port, na); err != nil && ctx.Err() == nil {
		c.log.Debug("service neighbour advertisement failed", "port", port, "target", target, "error", err)
	}
}
