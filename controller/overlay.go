package controller

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/store"
)

// Overlay mode (Config.Host and TunnelIP, with a store): every host's
// controller publishes which intent ports are bound on its bridge, under
// an etcd lease (a dead host's ports expire), and reads everyone's; the
// ports bound elsewhere are compiled as remote (pipeline.Overlay) and
// reached through a flow-based Geneve port on the bridge. The operator
// provides the underlay: the tunnel endpoint address on a bridge OVS
// tunnels from (br-phy, as in OVS's userspace tunnelling guide).

// The bridge's Geneve port, which the controller adds in overlay mode.
const (
	TunnelPortName = "flowgate-tun"
	TunnelOFPort   = 65000
)

// publishTimeout bounds one publication; a failed one is retried by the
// publisher at its next lease renewal.
const publishTimeout = 3 * time.Second

// startOverlay adds the tunnel port, starts publishing this host's ports
// and returns the store's locations.
func (c *Controller) startOverlay(ctx context.Context, db *ovsdb.Client, bridge string, st *state) (<-chan store.LocationsEvent, error) {
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.EnsureTunnelPort(ectx, bridge, TunnelPortName, TunnelOFPort); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	// Not ctx: a stopping controller detaches (its ports stay until the
	// lease expires), it does not revoke.
	pub, err := c.cfg.Store.NewPublisher(context.WithoutCancel(ctx), c.cfg.Host, c.cfg.LocationLease)
	if err != nil {
		return nil, fmt.Errorf("overlay: publish the locations of %s: %w", c.cfg.Host, err)
	}
	st.publisher = pub
	st.overlay = OverlayOf(store.Locations{}, c.cfg.Host)
	c.log.Info("overlay: tunnel port ready, publishing this host's ports", "host", c.cfg.Host, "tunnel_ip", c.cfg.TunnelIP,
		"port", TunnelPortName, "ofport", TunnelOFPort)
	locs := c.cfg.Store.WatchLocations(ctx)
	// The first locations before the first compile, so that a restart
	// does not drop every remote port for a moment; without etcd the
	// overlay starts empty and fills in when it answers.
	select {
	case ev := <-locs:
		st.locationsEvent(ev)
	case <-time.After(5 * time.Second):
		c.log.Warn("overlay: no locations from the store yet; remote ports follow when it answers")
	case <-ctx.Done():
	}
	return locs, nil
}

// publishLocations publishes the intent ports bound here.
func (st *state) publishLocations(ctx context.Context) {
	if st.publisher == nil {
		return
	}
	names := slices.Sorted(maps.Keys(st.bound))
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	err := st.publisher.Publish(pctx, st.c.cfg.TunnelIP, names)
	st.published, st.publishErr = err == nil, ""
	if err != nil {
		st.publishErr = err.Error()
		st.c.log.Warn("overlay: port locations not published; retried with the lease", "error", err)
	}
	st.overlayStatus()
}

// locationsEvent takes the store's locations: ports bound on other hosts
// become remote; it reports whether that changed.
func (st *state) locationsEvent(ev store.LocationsEvent) bool {
	if ev.Locations == nil {
		if !ev.Connected {
			st.c.log.Warn("overlay: locations unavailable; the last ones stay in force", "error", ev.Err)
		}
		return false
	}
	st.locations = *ev.Locations
	ov := OverlayOf(*ev.Locations, st.c.cfg.Host)
	if maps.Equal(ov.Remote, st.overlay.Remote) && maps.Equal(ov.Hosts, st.overlay.Hosts) {
		st.overlayStatus() // the revision moved; no apply follows to show it
		return false
	}
	st.overlay = ov
	return true
}

// OverlayOf is what host compiles from the store's locations: the ports
// bound on other hosts and those hosts' tunnel endpoints, reached through
// the bridge's Geneve port (TunnelOFPort). `flowgate diff` compiles the
// same on a host of an overlay.
func OverlayOf(locs store.Locations, host string) pipeline.Overlay {
	ov := pipeline.Overlay{TunnelPort: TunnelOFPort, Host: host, Remote: map[string]netip.Addr{}, Hosts: map[string]netip.Addr{}}
	for port, loc := range locs.Ports {
		if loc.Host != host {
			ov.Remote[port] = loc.TunnelIP
			ov.Hosts[loc.Host] = loc.TunnelIP
		}
	}
	return ov
}

// placement is where a router runs and where its uplink is bound, seen
// from one host, with the hosts' tunnel endpoints: "" where nothing is
// known (no host publishes the port or the named host).
type placement struct {
	runsOn, uplinkOn string
	runsAt, uplinkAt netip.Addr
}

// placeRouter places r from host: it runs on its gateway host
// (routers[].host), else where its uplink is bound — as the pipeline
// compiles it (pipeline.Overlay, routerAway).
func placeRouter(r intent.Router, host string, bound pipeline.Bindings, locs store.Locations) placement {
	var p placement
	if _, ok := bound[r.External.Port]; ok {
		p.uplinkOn = host
	} else if at, ok := locs.Ports[r.External.Port]; ok && at.Host != host {
		p.uplinkOn, p.uplinkAt = at.Host, at.TunnelIP
	}
	p.runsOn, p.runsAt = cmp.Or(r.Host, p.uplinkOn), p.uplinkAt
	if r.Host != "" && r.Host != p.uplinkOn {
		p.runsAt = netip.Addr{}
		for _, loc := range locs.Ports {
			if loc.Host == r.Host {
				p.runsAt = loc.TunnelIP
				break
			}
		}
	}
	return p
}

// placementWarnings say where a router named for a gateway host
// (routers[].host) cannot do all its work: its uplink bound on another
// host (the router has no way out, and the uplink feeds nothing), or a
// host no port of which is known (nothing reaches the router). Each host
// sees it from where it stands; without an overlay (no host) one host
// runs every router.
func placementWarnings(in *intent.Intent, host string, bound pipeline.Bindings, locs store.Locations) []string {
	if host == "" {
		return nil
	}
	var out []string
	for _, r := range in.Routers {
		if r.Host == "" {
			continue
		}
		p := placeRouter(r, host, bound, locs)
		switch {
		case p.runsOn != host && !p.runsAt.IsValid():
			out = append(out, fmt.Sprintf("routers[%s].host: %s has no ports in the store (no controller publishes it): nothing reaches the router", r.Name, r.Host))
		case p.uplinkOn == "" || p.uplinkOn == p.runsOn:
		case p.runsOn == host:
			out = append(out, fmt.Sprintf("routers[%s].host: the router runs here, but its uplink %s is bound on the host at %s: no way out until it is bound here", r.Name, r.External.Port, p.uplinkAt))
		case p.uplinkOn == host:
			out = append(out, fmt.Sprintf("routers[%s].host: the router runs on %s, but its uplink %s is bound here: the uplink is not used", r.Name, r.Host, r.External.Port))
		default:
			out = append(out, fmt.Sprintf("routers[%s].host: the router runs on %s (%s), but its uplink %s is bound on the host at %s: no way out", r.Name, r.Host, p.runsAt, r.External.Port, p.uplinkAt))
		}
	}
	return out
}

// overlayStatus shows this host's view of the overlay in /v1/status.
func (st *state) overlayStatus() {
	in := st.in
	if st.publisher == nil {
		return
	}
	host := st.c.cfg.Host
	out := &OverlayStatus{Host: host, TunnelIP: st.c.cfg.TunnelIP.String(), LocationsRevision: st.locations.Revision,
		Hosts: map[string]OverlayHost{}, Published: st.published, PublishError: st.publishErr,
		Contested: st.locations.Contested}
	for _, loc := range st.locations.Ports {
		if loc.Host != host {
			h := out.Hosts[loc.Host]
			h.TunnelIP, h.Ports = loc.TunnelIP.String(), h.Ports+1
			out.Hosts[loc.Host] = h
		}
	}
	if in != nil {
		for _, r := range in.Routers {
			if out.Routers == nil {
				out.Routers = map[string]string{}
			}
			switch p := placeRouter(r, host, st.bound, st.locations); p.runsOn {
			case host:
				out.Routers[r.Name] = "here"
			case "":
				out.Routers[r.Name] = "nowhere: its uplink " + r.External.Port + " is bound on no host"
			default:
				out.Routers[r.Name] = p.runsOn
			}
		}
	}
	st.c.setStatus(func(s *Status) { s.Overlay = out })
}
