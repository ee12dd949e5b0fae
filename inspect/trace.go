package inspect

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
)

// TraceRequest describes the packet to trace: from an intent port (or a
// router's uplink) to an address, as the first packet of a connection or
// as one of an established connection.
type TraceRequest struct {
	Intent   *intent.Intent
	Bindings pipeline.Bindings // iface-id -> ofport, as OVSDB has them
	// Overlay, on a host of an overlay, says where the ports bound on
	// other hosts are: a packet the tunnel takes is named with the port
	// and the host it goes to.
	Overlay pipeline.Overlay
	Bridge  string
	Rundir  string // OVS_RUNDIR of the ovs-vswitchd to ask
	From    string // intent port, or the uplink port of a router
	// Src is the source address: required from an uplink (the outside
	// machine's address); from a port it defaults to the port's first
	// address of To's family (another one tests anti-spoofing).
	Src   netip.Addr
	To    netip.Addr
	Proto string // tcp, udp, icmp, icmp6
	SPort uint16 // default 40000
	DPort uint16
	// State is "new" (the default: the connection's first packet), "est"
	// (a packet of an established connection: of the connection it opens
	// itself if its first packet would be allowed, else the reply of the
	// connection the reverse packet opens) or "reply" (the reply of that
	// reverse connection, even if the packet could open one itself).
	State string
}

// TraceResult is a trace's outcome in intent terms.
type TraceResult struct {
	Packet  string      `json:"packet"` // the flow given to ofproto/trace
	Allowed bool        `json:"allowed"`
	Verdict string      `json:"verdict"` // "allowed by ..." or "dropped: ..."
	Steps   []Step      `json:"steps"`
	Passes  []TracePass `json:"passes"`
	Notes   []string    `json:"notes,omitempty"` // what ofproto/trace could not show faithfully
	Raw     string      `json:"raw"`             // ofproto/trace's own output
}

// ctPasses is how many ct() recirculations a trace follows. A routed
// packet meets at most five (source network zone, the router's SNAT and
// DNAT zones, its DNAT commit, the destination network's zone); unused
// --ct-next values are ignored.
const ctPasses = 6

// Trace builds the packet, runs ofproto/trace on it, following every
// conntrack recirculation, and names the rule that decided its fate.
func Trace(ctx context.Context, req TraceRequest) (*TraceResult, error) {
	p, err := newPacket(req)
	if err != nil {
		return nil, err
	}
	switch req.State {
	case "", "new":
		return traceNew(ctx, req, p)
	case "est":
		return traceEstablished(ctx, req, p, false)
	case "reply":
		return traceEstablished(ctx, req, p, true)
	}
	return nil, fmt.Errorf("trace: state %q: want new, est or reply", req.State)
}

// traceNew traces p as the first packet of its connection.
func traceNew(ctx context.Context, req TraceRequest, p packet) (*TraceResult, error) {
	return run(ctx, req, p, nil, "trk,new")
}

// traceEstablished traces p as a packet of an established connection:
// its own connection when its first packet would be allowed (unless
// asReply), else as the reply of the connection the reverse packet opens.
// ofproto/trace has no connection table: the connection is made up from
// the trace of its first packet, whose commit shows the ct_label (the
// rules that allowed it) conntrack would hand every later packet.
func traceEstablished(ctx context.Context, req TraceRequest, p packet, asReply bool) (*TraceResult, error) {
	first, err := traceNew(ctx, req, p)
	if err != nil {
		return nil, err
	}
	var rfirst *TraceResult
	r, hasReverse := reverse(req.Intent, req.Bindings, req.Overlay, p)
	if hasReverse {
		if rfirst, err = traceNew(ctx, req, r); err != nil {
			return nil, err
		}
	}
	reply := func() (*TraceResult, error) {
		return runEstablished(ctx, req, p, r, rfirst, "est|rpl|trk", "trk,est,rpl", "a reply of the connection "+r.tuple())
	}
	switch {
	case asReply && rfirst == nil:
		return nil, fmt.Errorf("trace: no connection for %s to be a reply of: %s is neither a bound port's address nor outside the router of its network", p.tuple(), p.dst)
	case asReply && rfirst.Allowed:
		return reply()
	case asReply:
		rfirst.Verdict = "dropped: no connection it could be a reply of is allowed (the connection " + r.tuple() + " is " + rfirst.Verdict + ")"
		return rfirst, nil
	case first.Allowed:
		res, err := runEstablished(ctx, req, p, p, first, "est|trk", "trk,est", "a packet of an established connection")
		if err == nil && rfirst != nil && rfirst.Allowed {
			res.Notes = append(res.Notes, "traced as a packet of the connection it opens itself; --state reply traces it as the reply of the connection "+r.tuple())
		}
		return res, err
	case rfirst != nil && rfirst.Allowed:
		return reply()
	}
	first.Verdict = "dropped: no connection it could belong to is allowed (as a first packet it is " + first.Verdict + ")"
	return first, nil
}

// runEstablished traces p as part of the connection whose first packet
// orig was traced as first.
func runEstablished(ctx context.Context, req TraceRequest, p, orig packet, first *TraceResult, state, next, what string) (*TraceResult, error) {
	commits := labelledCommits(first.Passes)
	label := "0x0" // a connection of stateless ports: nothing committed
	if len(commits) > 0 {
		label = commits[0].Label
	}
	res, err := run(ctx, req, p, &conn{state: state, label: label, orig: orig}, next)
	if err != nil {
		return nil, err
	}
	for _, c := range commits[min(1, len(commits)):] {
		if c.Label != label {
			res.Notes = append(res.Notes, fmt.Sprintf("the connection is committed in zone %s with ct_label %s and in zone %s with %s; ofproto/trace can give the packet only one (%s)",
				commits[0].Zone, label, c.Zone, c.Label, label))
		}
	}
	if res.Allowed {
		res.Verdict = fmt.Sprintf("allowed as %s, whose first packet is %s", what, first.Verdict)
	}
	return res, nil
}

// run runs ofproto/trace on p (with its connection, for established
// traffic), resuming every ct() recirculation with ctNext, and explains
// the result.
func run(ctx context.Context, req TraceRequest, p packet, c *conn, ctNext string) (*TraceResult, error) {
	flow := p.flow(c)
	out, err := ofprotoTrace(ctx, req, flow, ctNext)
	if err != nil {
		return nil, err
	}
	// A select group (a service) leaves the bucket to the datapath's hash
	// of the packet: ofproto/trace stops at hash(),recirc(). Resume it
	// with a hash of the packet's addresses and ports standing in for the
	// datapath's, so the trace goes on through the bucket it picks.
	for range ctPasses {
		tr := parseTrace(out)
		last := tr.Passes[len(tr.Passes)-1]
		m := hashRecirc.FindStringSubmatch(last.Datapath)
		if m == nil {
			break
		}
		h := packetHash(p)
		resumed := "recirc_id=" + m[1] + ",dp_hash=" + h + "," + withoutField(withoutField(last.Final, "recirc_id"), "eth")
		more, err := ofprotoTrace(ctx, req, resumed, ctNext)
		if err != nil {
			return nil, err
		}
		out += "\nrecirc(" + m[1] + ") - resume select group with dp_hash=" + h + "\n" + more
	}
	res := explain(req.Intent, req.Bindings, req.Overlay, p, parseTrace(out), c != nil)
	res.Packet, res.Raw = flow, out
	return res, nil
}

// hashRecirc is the end of a pass that stopped at a select group.
var hashRecirc = regexp.MustCompile(`hash\([a-z_0-9]+\(\d+\)\),recirc\((0x[0-9a-f]+)\)$`)

// packetHash stands in for the datapath's hash of p (which the trace
// cannot compute): the same packet always picks the same bucket.
func packetHash(p packet) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s %s %s %d %d", p.proto, p.src, p.dst, p.sport, p.dport)
	return fmt.Sprintf("%#x", h.Sum32())
}

// withoutField drops key=... (or the bare key, like "eth") from a flow as
// ofproto/trace prints it.
func withoutField(flow, key string) string {
	var kept []string
	for _, kv := range strings.Split(flow, ",") {
		if kv != key && !strings.HasPrefix(kv, key+"=") {
			kept = append(kept, kv)
		}
	}
	return strings.Join(kept, ",")
}

func ofprotoTrace(ctx context.Context, req TraceRequest, flow, ctNext string) (string, error) {
	args := []string{"ofproto/trace", req.Bridge, flow}
	for range ctPasses {
		args = append(args, "--ct-next", ctNext)
	}
	cmd := exec.CommandContext(ctx, "ovs-appctl", args...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+req.Rundir)
	var stderr strings.Builder
	cmd.Stderr = &stderr // kept out of the output the parser reads
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("trace: ovs-appctl %s: %v: %s", strings.Join(args, " "),
			err, strings.TrimSpace(string(out)+" "+stderr.String()))
	}
	return string(out), nil
}
