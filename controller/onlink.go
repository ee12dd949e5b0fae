package controller

import (
	"context"
	"net/netip"
	"time"

	"github.com/flowgate/flowgate/pipeline"
)

// On-link neighbours: a router that learns its next hop also reaches the
// addresses of its uplink's own prefix directly (pipeline.onLinkRoute).
// A packet to one whose MAC is unknown comes up, and the resolver asks
// for that address by ARP; an answer to a question it asked teaches the
// MAC, which the state goroutine compiles in like the next hop's. Known
// neighbours are asked again every onLinkRefreshEvery refreshes and
// forgotten when silent for onLinkForget, or when a router keeps more
// than pipeline.MaxOnLinkNeighbours (the least recently confirmed goes).

const (
	// onLinkRefreshEvery: known neighbours are asked again every this
	// many next-hop refreshes (10 s).
	onLinkRefreshEvery = 5
	// onLinkForget is how long a neighbour may stay silent: three
	// refreshes unanswered.
	onLinkForget = 3 * onLinkRefreshEvery * nextHopRefresh
)

// onLinkAnswer takes an ARP answer from sender on q's uplink: the key to
// learn it under if it is an on-link neighbour the resolver asked for
// (an answer nobody asked for teaches nothing: the outside cannot fill
// the table). A new neighbour beyond the bound evicts the least recently
// confirmed one.
func (r *resolver) onLinkAnswer(ctx context.Context, q pipeline.NextHopQuery, sender netip.Addr) (pipeline.NextHopKey, bool) {
	key := pipeline.NextHopKey{Router: q.Router, Neighbour: sender}
	if _, asked := r.asked[key]; !asked || !q.OnLink.Contains(sender) {
		return key, false
	}
	r.seen[key] = time.Now()
	if _, known := r.known[key]; !known {
		var oldest pipeline.NextHopKey
		count := 0
		for k, at := range r.seen {
			if k.Router == q.Router && k != key {
				count++
				if !oldest.Neighbour.IsValid() || at.Before(r.seen[oldest]) {
					oldest = k
				}
			}
		}
		if count >= pipeline.MaxOnLinkNeighbours {
			r.forget(ctx, oldest)
		}
	}
	return key, true
}

// refreshOnLink asks every known neighbour again, forgets those silent
// for onLinkForget, and drops questions nobody answered for as long (so
// probes of many addresses leave nothing behind).
func (r *resolver) refreshOnLink(ctx context.Context) {
	for key, at := range r.asked {
		if key.Neighbour.IsValid() && time.Since(at) > onLinkForget {
			if _, known := r.known[key]; !known {
				delete(r.asked, key)
			}
		}
	}
	for key, at := range r.seen {
		if time.Since(at) > onLinkForget {
			r.forget(ctx, key)
		} else if q, ok := r.onLinkQuery(key); ok {
			r.request(ctx, q, key, key.Neighbour, true)
		}
	}
}

// onLinkQuery is the query of the router whose uplink prefix holds the
// on-link neighbour key names.
func (r *resolver) onLinkQuery(key pipeline.NextHopKey) (pipeline.NextHopQuery, bool) {
	for _, q := range r.current() {
		if key.Neighbour.IsValid() && q.Router == key.Router && q.OnLink.Contains(key.Neighbour) {
			return q, true
		}
	}
	return pipeline.NextHopQuery{}, false
}

// forget drops a neighbour here and from the flows.
func (r *resolver) forget(ctx context.Context, key pipeline.NextHopKey) {
	delete(r.known, key)
	delete(r.seen, key)
	delete(r.asked, key)
	r.logf("router %s: on-link neighbour %s forgotten", key.Router, key.Neighbour)
	r.tell(ctx, learnedHop{key: key, forget: true})
}
