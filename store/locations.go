package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flowgate/flowgate/intent"
)

// The ports' locations live under their own prefix (default
// /flowgate/locations/), beside the intent, one key per bound port:
//
//	HOST/PORT    {"host": HOST, "tunnel_ip": ADDR}
//
// HOST is the host's name, which is also its etcd user (the common name
// of its client certificate), so that etcd's roles let a host write
// HOST/ and nothing else; PORT is the intent's name of the port bound on
// that host. Each host writes its keys under one lease of its own
// (Publisher): a host that stops cleanly revokes it and its keys go at
// once; a host that dies stops renewing it and its keys go when it
// expires. The value repeats the host so that a value read alone says
// where it is from; a value whose host is not its key's is ignored.
// There is no per-host record: a host with no bound port needs no
// traffic, and every port's value carries its host's tunnel endpoint.

// Location is where one port is bound.
type Location struct {
	// Host is the host that binds it; TunnelIP that host's tunnel
	// endpoint, where packets for the port are sent.
	Host     string
	TunnelIP netip.Addr
	// Revision is the etcd revision the host last wrote its claim at:
	// when two hosts claim a port (a VM moving), the newest claim wins.
	Revision int64
}

// Locations is every port's location as stored at one revision.
type Locations struct {
	// Revision is the etcd revision the view is as of.
	Revision int64
	// Ports is each port's location, by the intent's name of the port.
	Ports map[string]Location
	// Contested names, for a port claimed by more than one host, the
	// hosts whose older claims lost, newest first: for a moment while a
	// port moves, for longer if two hosts bind one port.
	Contested map[string][]string
	// Ignored says why keys under the prefix were left out (written by
	// hand, or by another version), in key order.
	Ignored []error
}

// locationValue is the value of a location key.
type locationValue struct {
	Host     string     `json:"host"`
	TunnelIP netip.Addr `json:"tunnel_ip"`
}

// MaxHostBytes bounds a host's name: a DNS name's length.
const MaxHostBytes = intent.MaxHostBytes

// checkName says what is wrong with a host's or a port's name as a key
// segment: the characters and limits of the intent's names (a host's
// name may be as long as a DNS name).
func checkName(what, name string, limit int) error {
	if name == "" || name == "." || name == ".." || len(name) > limit {
		return fmt.Errorf("%s %q: want 1 to %d bytes, not . or ..", what, name, limit)
	}
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_', b == '.', b == ':':
		default:
			return fmt.Errorf("%s %q: only letters, digits, '-', '_', '.' and ':' may name it (it is a key segment)", what, name)
		}
	}
	return nil
}

func checkHost(host string) error { return checkName("host", host, MaxHostBytes) }

func checkPort(port string) error { return checkName("port", port, intent.MaxNameBytes) }

// parseClaim reads one location key (relative to the prefix) and its
// value.
func parseClaim(rel string, value []byte, rev int64) (string, Location, error) {
	host, port, ok := strings.Cut(rel, "/")
	if !ok || strings.Contains(port, "/") {
		return "", Location{}, fmt.Errorf("location key %q: want HOST/PORT", rel)
	}
	if err := checkHost(host); err != nil {
		return "", Location{}, fmt.Errorf("location key %q: %w", rel, err)
	}
	if err := checkPort(port); err != nil {
		return "", Location{}, fmt.Errorf("location key %q: %w", rel, err)
	}
	var v locationValue
	if err := json.Unmarshal(value, &v); err != nil {
		return "", Location{}, fmt.Errorf("location key %q: value is not {\"host\", \"tunnel_ip\"}: %v", rel, err)
	}
	if v.Host != host {
		return "", Location{}, fmt.Errorf("location key %q: value names host %q, the key %q", rel, v.Host, host)
	}
	if !v.TunnelIP.IsValid() {
		return "", Location{}, fmt.Errorf("location key %q: no tunnel_ip", rel)
	}
	if v.TunnelIP.IsUnspecified() || v.TunnelIP.Zone() != "" {
		return "", Location{}, fmt.Errorf("location key %q: tunnel_ip %s is not a tunnel endpoint address", rel, v.TunnelIP)
	}
	return port, Location{Host: host, TunnelIP: v.TunnelIP, Revision: rev}, nil
}

// claims holds the location keys, parsed, by key relative to the prefix.
type claims struct {
	prefix string
	keys   map[string]claim
	rev    int64
}

type claim struct {
	port string
	loc  Location
	err  error
}

func (c *claims) load(resp *clientv3.GetResponse) {
	c.keys = map[string]claim{}
	for _, kv := range resp.Kvs {
		c.set(kv.Key, kv.Value, kv.ModRevision)
	}
	c.rev = resp.Header.Revision
}

func (c *claims) set(key, value []byte, rev int64) {
	rel := strings.TrimPrefix(string(key), c.prefix)
	port, loc, err := parseClaim(rel, value, rev)
	c.keys[rel] = claim{port: port, loc: loc, err: err}
}

func (c *claims) apply(ev *clientv3.Event) {
	if ev.Type == clientv3.EventTypeDelete {
		delete(c.keys, strings.TrimPrefix(string(ev.Kv.Key), c.prefix))
	} else {
		c.set(ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
	}
	c.rev = max(c.rev, ev.Kv.ModRevision)
}

// newestFirst orders the claims of one port: the higher revision first,
// then (two keys written in one transaction, by hand) the lower host
// name.
func newestFirst(a, b Location) int {
	return cmp.Or(cmp.Compare(b.Revision, a.Revision), strings.Compare(a.Host, b.Host))
}

// locations decides every port's location from the claims.
func (c *claims) locations() Locations {
	out := Locations{Revision: c.rev, Ports: map[string]Location{}}
	all := map[string][]Location{}
	for _, rel := range slices.Sorted(maps.Keys(c.keys)) {
		cl := c.keys[rel]
		if cl.err != nil {
			out.Ignored = append(out.Ignored, cl.err)
			continue
		}
		all[cl.port] = append(all[cl.port], cl.loc)
	}
	for port, locs := range all {
		slices.SortFunc(locs, newestFirst)
		out.Ports[port] = locs[0]
		if len(locs) > 1 {
			if out.Contested == nil {
				out.Contested = map[string][]string{}
			}
			for _, l := range locs[1:] {
				out.Contested[port] = append(out.Contested[port], l.Host)
			}
		}
	}
	return out
}

// ReadLocations returns every port's location as stored now.
func (s *Store) ReadLocations(ctx context.Context) (Locations, error) {
	resp, err := s.readPrefix(ctx, s.locations)
	if err != nil {
		return Locations{}, err
	}
	c := &claims{prefix: s.locations}
	c.load(resp)
	return c.locations(), nil
}

// LocationsEvent is what WatchLocations reports: every port's location,
// a change of the connection to etcd, or both.
type LocationsEvent struct {
	// Locations after the first read, after every committed change
	// under the location prefix (a host's Publish, a lease that ends),
	// and after every resync; nil when only the connection changed.
	Locations *Locations
	// Connected and Err as in Event.
	Connected bool
	Err       error
}

// WatchLocations follows the ports' locations until ctx ends, then
// closes the channel, as Watch follows the intent: a first read, then
// the whole map again after each committed revision, Connected false
// while etcd does not answer, a fresh read once it does. The caller must
// keep receiving.
func (s *Store) WatchLocations(ctx context.Context) <-chan LocationsEvent {
	ch := make(chan LocationsEvent)
	go watchPrefix(ctx, s, s.locations, &locationMirror{claims{prefix: s.locations}}, ch)
	return ch
}

type locationMirror struct{ claims }

func (m *locationMirror) current() LocationsEvent {
	l := m.locations()
	return LocationsEvent{Locations: &l, Connected: true}
}

func (m *locationMirror) lost(err error) LocationsEvent {
	return LocationsEvent{Connected: false, Err: err}
}

// locationKey and its value, as a host publishes them.
func (s *Store) locationKey(host, port string) string { return s.locations + host + "/" + port }

func locationJSON(host string, tunnelIP netip.Addr) []byte {
	b, _ := json.Marshal(locationValue{Host: host, TunnelIP: tunnelIP}) // cannot fail
	return b
}
