package controller

import (
	"context"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/reject"
)

// answerRejects answers the packets an admin policy's reject rule sends
// to the controller (the first packet of each new connection it
// refuses): a TCP RST or an ICMP port unreachable, output to the port the
// packet came from, as if the destination had refused it. Packets that
// came through the router get no answer: their sender is behind the
// uplink or in another network, which output to in_port cannot reach.
func (c *Controller) answerRejects(ctx context.Context) {
	for {
		var p openflow.PacketIn
		select {
		case <-ctx.Done():
			return
		case p = <-c.session.PacketIns():
		}
		if p.Reason != flows.PacketInAction || pipeline.KindOf(p.Cookie) != pipeline.KindPolicyRule {
			continue
		}
		answer, ok := reject.Answer(p.Data)
		if !ok || p.HasReg0 && p.Reg0 == pipeline.RouterPort {
			c.metrics.rejects.WithLabelValues("unanswered").Inc()
			continue
		}
		if err := c.session.PacketOut(ctx, p.InPort, answer); err != nil {
			c.metrics.rejects.WithLabelValues("failed").Inc()
			c.log.Debug("reject: packet-out failed", "port", p.InPort, "error", err)
			continue
		}
		c.metrics.rejects.WithLabelValues("answered").Inc()
	}
}
