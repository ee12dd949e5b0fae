package controller

import (
	"context"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/packets"
	"github.com/flowgate/flowgate/pipeline"
)

// Next-hop resolution for routers without external.gateway_mac: the
// resolver asks for the gateway's MAC with ARP requests, and for
// gateway6's with neighbour solicitations, sent out of the uplink
// (packet-outs) — at once when a router needs one, every nextHopRefresh
// after, and when a packet finds it unknown — and reads the answers the
// pipeline sends up (router_nexthop.go). A new MAC goes to the state
// goroutine, which compiles it in like a new binding: a gateway that
// fails over to another MAC is followed within one refresh.

const (
	// nextHopRefresh is how often a learned next hop is asked again.
	nextHopRefresh = 2 * time.Second
	// nextHopMinGap bounds the requests per router that unresolved
	// packets can cause.
	nextHopMinGap = 200 * time.Millisecond
	// raEvery: unsolicited router advertisements go out every raEvery
	// refreshes (10 s), and at once after each change; solicitations
	// are answered at once.
	raEvery = 5
)

// learnedHop is a next hop's (or on-link neighbour's) MAC the resolver
// saw, or, with forget, a neighbour it no longer keeps.
type learnedHop struct {
	key    pipeline.NextHopKey
	mac    flows.MAC
	forget bool
}

type resolver struct {
	session *openflow.Session
	logf    func(string, ...any)
	queries atomic.Pointer[[]pipeline.NextHopQuery]
	sides   atomic.Pointer[map[uint32]pipeline.RouterSide] // for ICMP errors
	// lastICMP spaces the ICMP errors (icmp.go).
	lastICMP time.Time
	// advertised are the ports that got a router advertisement (ndp.go).
	advertised map[uint32]bool
	poke       chan struct{}
	in         chan openflow.PacketIn // from handlePacketIns
	learned    chan learnedHop
	asked      map[pipeline.NextHopKey]time.Time
	known      map[pipeline.NextHopKey]flows.MAC
	// seen is when each on-link neighbour last answered (onlink.go).
	seen map[pipeline.NextHopKey]time.Time
}

func newResolver(session *openflow.Session, logf func(string, ...any)) *resolver {
	return &resolver{session: session, logf: logf, poke: make(chan struct{}, 1), in: make(chan openflow.PacketIn, 64),
		learned: make(chan learnedHop, 16),
		asked:   map[pipeline.NextHopKey]time.Time{}, known: map[pipeline.NextHopKey]flows.MAC{},
		seen: map[pipeline.NextHopKey]time.Time{}}
}

// setQueries replaces the routers to resolve (new ones are asked at once)
// and the routers' sides.
func (r *resolver) setQueries(qs []pipeline.NextHopQuery, sides map[uint32]pipeline.RouterSide) {
	r.queries.Store(&qs)
	r.sides.Store(&sides)
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

func (r *resolver) current() []pipeline.NextHopQuery {
	if qs := r.queries.Load(); qs != nil {
		return *qs
	}
	return nil
}

// run asks and listens until ctx ends.
func (r *resolver) run(ctx context.Context) {
	tick := time.NewTicker(nextHopRefresh)
	defer tick.Stop()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, q := range r.current() {
				r.ask(ctx, q, true)
			}
			if ticks++; ticks%raEvery == 0 {
				r.advertiseAll(ctx)
			}
			if ticks%onLinkRefreshEvery == 0 {
				r.refreshOnLink(ctx)
			}
		case <-r.poke:
			r.advertiseNew(ctx)
			for key := range r.known {
				if !r.live(key) {
					// Learned anew if it comes back.
					delete(r.known, key)
					delete(r.seen, key)
				}
			}
			for _, q := range r.current() {
				if _, ok := r.known[q.Key()]; !ok {
					r.ask(ctx, q, false)
				}
			}
		case p := <-r.in:
			r.handle(ctx, p)
		}
	}
}

// live says whether key is still something to learn: a next hop of a
// current query, or an on-link neighbour inside its router's uplink
// prefix.
func (r *resolver) live(key pipeline.NextHopKey) bool {
	if _, ok := r.onLinkQuery(key); ok {
		return true
	}
	return slices.ContainsFunc(r.current(), func(q pipeline.NextHopQuery) bool { return q.Key() == key })
}

// ask sends an ARP request (a neighbour solicitation for IPv6) for q's
// gateway out of q's uplink, at most once per nextHopMinGap unless
// refreshing.
func (r *resolver) ask(ctx context.Context, q pipeline.NextHopQuery, refresh bool) {
	r.request(ctx, q, q.Key(), q.Gateway, refresh)
}

// request asks for target's MAC, learned under key, out of q's uplink,
// at most once per nextHopMinGap unless refreshing.
func (r *resolver) request(ctx context.Context, q pipeline.NextHopQuery, key pipeline.NextHopKey, target netip.Addr, refresh bool) {
	if last, ok := r.asked[key]; ok && !refresh && time.Since(last) < nextHopMinGap {
		return
	}
	r.asked[key] = time.Now()
	var frame []byte
	what := "ARP request"
	if q.IPv6 {
		frame, what = packets.NeighbourSolicit(q.MAC, q.IP, target), "neighbour solicitation"
	} else {
		frame = packets.ARPRequest(q.MAC, q.IP, target)
	}
	if err := r.session.PacketOut(ctx, q.Uplink, frame); err != nil && ctx.Err() == nil {
		r.logf("router %s: %s for %s: %v", q.Router, what, target, err)
	}
}

// handle reads a packet the pipeline sent up: an ARP answer from a
// router's gateway, or a neighbour advertisement for its gateway6, teaches
// its MAC, and an ARP answer from an on-link neighbour the router asked
// for teaches that one's; any other packet under a router's cookie found
// a MAC of its family unknown (the next hop's, or its on-link
// destination's) and asks for it.
func (r *resolver) handle(ctx context.Context, p openflow.PacketIn) {
	if p.Reason == flows.PacketInInvalidTTL {
		r.timeExceeded(ctx, p)
		return
	}
	if r.answerSolicitation(ctx, p) || r.answerRouterSolicitation(ctx, p) {
		return
	}
	sender, mac, isARP := packets.ARPSender(p.Data)
	target, mac6, isAdvert := packets.NeighbourAdvertisement(p.Data)
	for _, q := range r.current() {
		if p.Cookie != q.Cookie || p.InPort == 0 || q.IPv6 != packets.IsIPv6(p.Data) {
			continue
		}
		switch {
		case isAdvert:
			sender, mac = target, mac6
		case !isARP:
			if dst, ok := packets.IPv4Dst(p.Data); ok && q.OnLink.Contains(dst) && dst != q.Gateway {
				r.request(ctx, q, pipeline.NextHopKey{Router: q.Router, Neighbour: dst}, dst, false)
			} else {
				r.ask(ctx, q, false)
			}
			return
		}
		if p.InPort != q.Uplink {
			return
		}
		key, what := q.Key(), "next hop"
		if sender != q.Gateway {
			var ok bool
			if key, ok = r.onLinkAnswer(ctx, q, sender); !ok {
				return
			}
			what = "on-link neighbour"
		}
		if r.known[key] == mac {
			return
		}
		r.known[key] = mac
		r.logf("router %s: %s %s is at %s", q.Router, what, sender, mac)
		r.tell(ctx, learnedHop{key: key, mac: mac})
		return
	}
}

// tell hands l to the state goroutine.
func (r *resolver) tell(ctx context.Context, l learnedHop) {
	select {
	case r.learned <- l:
	case <-ctx.Done():
	}
}
