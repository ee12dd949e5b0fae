package controller

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/pipeline"
)

// The resolver learns only the on-link neighbours it asked for, inside
// the uplink's prefix; beyond pipeline.MaxOnLinkNeighbours the least
// recently confirmed one is forgotten; a neighbour silent for
// onLinkForget is forgotten at the next refresh, and so is a question
// nobody answered. Each forgetting reaches the state goroutine.
func TestOnLinkNeighbourBookkeeping(t *testing.T) {
	r := newResolver(nil, func(string, ...any) {})
	r.learned = make(chan learnedHop, pipeline.MaxOnLinkNeighbours+8)
	q := pipeline.NextHopQuery{Router: "edge", Uplink: 10, Gateway: netip.MustParseAddr("10.8.255.1"),
		OnLink: netip.MustParsePrefix("10.8.0.0/16")}
	ctx := context.Background()
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 8, byte(i / 250), byte(2 + i%250)}) }
	key := func(a netip.Addr) pipeline.NextHopKey { return pipeline.NextHopKey{Router: "edge", Neighbour: a} }

	if _, ok := r.onLinkAnswer(ctx, q, addr(0)); ok {
		t.Error("an answer nobody asked for was taken")
	}
	r.asked[key(netip.MustParseAddr("198.51.100.7"))] = time.Now()
	if _, ok := r.onLinkAnswer(ctx, q, netip.MustParseAddr("198.51.100.7")); ok {
		t.Error("an answer from outside the uplink's prefix was taken")
	}

	// Fill the table; the first one is the least recently confirmed.
	base := time.Now().Add(-time.Minute)
	for i := range pipeline.MaxOnLinkNeighbours {
		k := key(addr(i))
		r.asked[k] = base
		if _, ok := r.onLinkAnswer(ctx, q, addr(i)); !ok {
			t.Fatalf("asked-for answer %v not taken", addr(i))
		}
		r.known[k], r.seen[k] = flows.MAC{2, 0, 0, 0, 0, 1}, base.Add(time.Duration(i)*time.Millisecond)
	}
	newest := addr(pipeline.MaxOnLinkNeighbours)
	r.asked[key(newest)] = time.Now()
	if _, ok := r.onLinkAnswer(ctx, q, newest); !ok {
		t.Fatal("a new neighbour beyond the bound was refused; want the oldest evicted")
	}
	if l := <-r.learned; !l.forget || l.key != key(addr(0)) {
		t.Errorf("evicted %+v, want %v forgotten", l, addr(0))
	}
	if _, still := r.known[key(addr(0))]; still {
		t.Error("the evicted neighbour is still known")
	}

	// Silence: everything seen before onLinkForget goes at the refresh
	// (no queries, so nothing is asked again), and so do the questions.
	r2 := newResolver(nil, func(string, ...any) {})
	old := time.Now().Add(-onLinkForget - time.Second)
	r2.known[key(addr(1))], r2.seen[key(addr(1))], r2.asked[key(addr(1))] = flows.MAC{2}, old, old
	r2.asked[key(addr(2))] = old // asked, never answered
	r2.refreshOnLink(ctx)
	if l := <-r2.learned; !l.forget || l.key != key(addr(1)) {
		t.Errorf("after silence %+v, want %v forgotten", l, addr(1))
	}
	if len(r2.known)+len(r2.seen)+len(r2.asked) != 0 {
		t.Errorf("left after the refresh: known %v seen %v asked %v", r2.known, r2.seen, r2.asked)
	}
}
