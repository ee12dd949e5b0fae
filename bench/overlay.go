package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/intent/intentgen"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
	"github.com/flowgate/flowgate/testbed"
)

// OverlayParams size the many-hosts run (issue 15): Hosts testbed nodes,
// PortsPerHost dummy ports bound on each, the generated intent's Rules
// and Groups in one embedded etcd, and Changes membership changes.
type OverlayParams struct {
	Hosts, PortsPerHost, Rules, Groups, Changes int
}

// DefaultOverlay is the scenario: 20 hosts of 50 ports, 1,000
// ports and 2,000 rules.
func DefaultOverlay() OverlayParams {
	return OverlayParams{Hosts: 20, PortsPerHost: 50, Rules: 2000, Groups: 100, Changes: 10}
}

// OverlayResult is what Overlay measured.
type OverlayResult struct {
	Params OverlayParams
	Build  time.Duration // nodes and their dummy ports
	Start  time.Duration // every controller started and synced
	// Per membership change: the time from the etcd write until the
	// change was in force on each host; the median host and the last.
	Median, Max []time.Duration
	// What one change cost etcd: keys and bytes written in its
	// transaction, and the watchers that received it (one per host).
	Keys, Bytes, Watchers int
	// Locations: keys the hosts published under their leases.
	Locations int
}

// Overlay runs the scenario on a testbed: one node (private OVS with
// br-phy userspace tunnelling) per host, a controller per node in this
// process with the overlay on, and makes Changes membership changes
// through etcd.
func Overlay(ctx context.Context, p OverlayParams) (OverlayResult, error) {
	r := OverlayResult{Params: p}
	gen := intentgen.Params{Ports: p.Hosts * p.PortsPerHost, Rules: p.Rules, Groups: p.Groups, Seed: 1}
	doc := intentgen.Document(gen)
	dir, err := os.MkdirTemp("", "flowgate-bench-overlay")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	etcd, err := storetest.Run(dir)
	if err != nil {
		return r, err
	}
	defer etcd.Stop()
	operator, err := store.Open(store.Config{URL: etcd.URL(), Writer: "flowgate bench overlay"})
	if err != nil {
		return r, err
	}
	defer operator.Close()
	rev, err := operator.Put(ctx, doc, 0)
	if err != nil {
		return r, err
	}

	tb, err := testbed.Start(ctx, testbed.Options{})
	if err != nil {
		return r, err
	}
	defer tb.Close()
	start := time.Now()
	var nodes []*testbed.Node
	for h := range p.Hosts {
		if h > 240 {
			return r, fmt.Errorf("%d hosts: the underlay is one /24", p.Hosts)
		}
		n, err := tb.AddNode(ctx, fmt.Sprintf("hv%d", h+1), testbed.NodeOpts{
			Underlay: netip.MustParsePrefix(fmt.Sprintf("192.168.100.%d/24", 11+h))})
		if err != nil {
			return r, err
		}
		var names []string
		for i := range p.PortsPerHost {
			names = append(names, intentgen.PortName(h*p.PortsPerHost+i))
		}
		if _, err := n.IntegrationBridge().AddDummyPorts(ctx, names...); err != nil {
			return r, err
		}
		nodes = append(nodes, n)
	}
	r.Build = time.Since(start)

	cctx, cancel := context.WithCancel(ctx)
	var ctrls []*controller.Controller
	var dones []chan error
	var stores []*store.Store
	defer func() {
		// The controllers stop before their etcd connections close.
		cancel()
		for _, d := range dones {
			<-d
		}
		for _, s := range stores {
			s.Close()
		}
	}()
	start = time.Now()
	for _, n := range nodes {
		s, err := store.Open(store.Config{URL: etcd.URL()})
		if err != nil {
			return r, err
		}
		stores = append(stores, s)
		c, err := controller.New(controller.Config{
			OVSDB: n.OVS().DBEndpoint(), Bridge: testbed.IntegrationBridge, Store: s,
			Connect: "unix:" + n.OVS().MgmtSocket(testbed.IntegrationBridge), OVSRundir: n.OVS().Dir,
			Host: n.Name(), TunnelIP: n.Underlay(), Logger: benchLogger(),
		})
		if err != nil {
			return r, err
		}
		done := make(chan error, 1)
		go func() { done <- c.Run(cctx) }()
		ctrls, dones = append(ctrls, c), append(dones, done)
	}
	// Started: every controller synced and knowing every other host's
	// ports (else the first change would wait behind the last location
	// updates, and measure them).
	remote := (p.Hosts - 1) * p.PortsPerHost
	for i, c := range ctrls {
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
		err := c.WaitSynced(wctx)
		for err == nil && remotePorts(c.Status().Overlay) < remote {
			select {
			case <-wctx.Done():
				err = fmt.Errorf("knows %d of the other hosts' %d ports: %w", remotePorts(c.Status().Overlay), remote, wctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
		wcancel()
		if err != nil {
			return r, fmt.Errorf("controller on %s: %w", nodes[i].Name(), err)
		}
	}
	r.Start = time.Since(start)
	locs, err := operator.ReadLocations(ctx)
	if err != nil {
		return r, err
	}
	r.Locations = len(locs.Ports)

	raw, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.URL()[len("etcd://"):]}})
	if err != nil {
		return r, err
	}
	defer raw.Close()
	for ch := range p.Changes {
		// Port ch*7 joins (or leaves again) a group it is not in.
		port := &doc.Ports[(ch*7)%len(doc.Ports)]
		extra := intentgen.GroupName((ch*13 + 1) % p.Groups)
		if i := slices.Index(port.SecurityGroups, extra); i >= 0 {
			port.SecurityGroups = slices.Delete(slices.Clone(port.SecurityGroups), i, i+1)
		} else {
			port.SecurityGroups = append(slices.Clone(port.SecurityGroups), extra)
		}
		if _, err := doc.Validate(); err != nil {
			return r, err
		}
		written := time.Now()
		next, err := operator.Put(ctx, doc, rev)
		if err != nil {
			return r, err
		}
		rev = next
		times, err := untilInForce(ctx, ctrls, rev, written)
		if err != nil {
			return r, err
		}
		slices.Sort(times)
		r.Median, r.Max = append(r.Median, times[len(times)/2]), append(r.Max, times[len(times)-1])
		if ch == 0 {
			resp, err := raw.Get(ctx, "/flowgate/intent/", clientv3.WithPrefix())
			if err != nil {
				return r, err
			}
			for _, kv := range resp.Kvs {
				if kv.ModRevision == rev {
					r.Keys++
					r.Bytes += len(kv.Key) + len(kv.Value)
				}
			}
			r.Watchers = len(ctrls)
		}
	}
	return r, nil
}

// untilInForce waits until every controller has revision rev in force
// and returns, per controller, how long after written that was.
func untilInForce(ctx context.Context, ctrls []*controller.Controller, rev int64, written time.Time) ([]time.Duration, error) {
	out := make([]time.Duration, len(ctrls))
	var wg sync.WaitGroup
	errs := make([]error, len(ctrls))
	for i, c := range ctrls {
		wg.Go(func() {
			for c.Revision() < rev {
				if time.Since(written) > time.Minute || ctx.Err() != nil {
					errs[i] = fmt.Errorf("revision %d not in force on host %d after a minute", rev, i+1)
					return
				}
				time.Sleep(time.Millisecond)
			}
			out[i] = time.Since(written)
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Print writes the result as a table.
func (r OverlayResult) Print(w io.Writer) {
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		if len(s) == 0 {
			return 0
		}
		return s[len(s)/2]
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "overlay (issue 15)\t%d hosts × %d dummy ports = %d ports, %d rules in %d groups, one embedded etcd\n",
		r.Params.Hosts, r.Params.PortsPerHost, r.Params.Hosts*r.Params.PortsPerHost, r.Params.Rules, r.Params.Groups)
	fmt.Fprintf(tw, "nodes built\t%v (a private OVS with br-phy per host, the dummy ports bound)\n", r.Build.Round(time.Millisecond))
	fmt.Fprintf(tw, "controllers started, synced\t%v; %d port locations published under the hosts' leases\n", r.Start.Round(time.Millisecond), r.Locations)
	fmt.Fprintf(tw, "membership change in force\tmedian host %v, last host %v (medians of %d changes; worst last host %v)\n",
		med(r.Median).Round(time.Millisecond), med(r.Max).Round(time.Millisecond), len(r.Max), slices.Max(append([]time.Duration{0}, r.Max...)).Round(time.Millisecond))
	fmt.Fprintf(tw, "etcd per change\tone transaction: %d keys, %d bytes; delivered to %d watchers\n", r.Keys, r.Bytes, r.Watchers)
	tw.Flush()
}

// remotePorts is how many ports of other hosts a controller's status
// knows.
func remotePorts(ov *controller.OverlayStatus) int {
	if ov == nil {
		return 0
	}
	n := 0
	for _, h := range ov.Hosts {
		n += h.Ports
	}
	return n
}
