package controller

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowgate/flowgate/store"
)

// Config is what a controller needs to run. The CLI fills it from flags,
// FLOWGATE_* environment variables and the config file.
type Config struct {
	OVSDB      string // OVSDB endpoint: unix:PATH or tcp:HOST:PORT
	Bridge     string // bridge to program; empty: the intent's bridge
	IntentPath string // intent document, watched for changes

	// Store, when set, is where the intent lives instead of IntentPath
	// (which must then be empty): the controller follows it with a
	// watch, and PUT writes to it. The caller opens and closes it.
	Store *store.Store
	// Host and TunnelIP put this controller in an overlay with the other
	// hosts sharing Store: it publishes where its ports are (under Host,
	// at TunnelIP) and sends traffic for ports on other hosts through a
	// Geneve port on the bridge (TunnelPortName). Both or neither; they
	// need Store.
	Host     string
	TunnelIP netip.Addr
	// LocationLease is how long the other hosts keep this host's ports
	// once it stops renewing them (0: store.DefaultLeaseTTL).
	LocationLease time.Duration

	// How the OpenFlow connection is made: exactly one of Listen (the
	// bridge's controller target points at it and ovs-vswitchd connects),
	// Listener (the same, on a socket the caller bound, e.g. inside
	// ovs-vswitchd's network namespace) and Connect (dial the bridge's
	// management socket unix:RUNDIR/BRIDGE.mgmt; no controller target).
	Listen   string
	Listener net.Listener
	Connect  string

	// OVSRundir is ovs-vswitchd's run directory (its pid file): with a
	// listener, only that ovs-vswitchd may be the switch. Default: the
	// directory of a unix: OVSDB endpoint, else /var/run/openvswitch.
	OVSRundir string

	API     string // local HTTP API: unix:PATH or loopback HOST:PORT; empty: none
	Metrics string // Prometheus /metrics on a loopback HOST:PORT; empty: on the API only
	HTTP    HTTPLimits

	Logger *slog.Logger // nil: discard

	// PacketInRate bounds the packet-ins the bridge sends per second (the
	// first packets of connections that admin policies reject or log),
	// with an OpenFlow controller meter; 0: openflow.DefaultPacketInRate.
	PacketInRate uint32
}

// HTTPLimits bound what a client of the API or the metrics listener can
// hold: zero values take the defaults in parentheses.
type HTTPLimits struct {
	HeaderTimeout time.Duration // request line and headers (5 s)
	BodyTimeout   time.Duration // a request body, from the handler's start (30 s)
	IdleTimeout   time.Duration // a kept-alive connection between requests (60 s)
	MaxConns      int           // open connections per listener; more are closed at once (64)
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = 5 * time.Second
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = 30 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 60 * time.Second
	}
	if l.MaxConns <= 0 {
		l.MaxConns = 64
	}
	return l
}

// rundir is cfg.OVSRundir or its default.
func (cfg Config) rundir() string {
	if cfg.OVSRundir != "" {
		return cfg.OVSRundir
	}
	if p, ok := strings.CutPrefix(cfg.OVSDB, "unix:"); ok {
		return filepath.Dir(p)
	}
	return "/var/run/openvswitch"
}

func (cfg Config) check() error {
	if cfg.OVSDB == "" {
		return fmt.Errorf("config: ovsdb endpoint is required")
	}
	switch {
	case cfg.Store != nil && cfg.IntentPath != "":
		return fmt.Errorf("config: the intent comes from a file or from a store, not both")
	case cfg.Store == nil && cfg.IntentPath == "":
		return fmt.Errorf("config: intent file is required")
	}
	switch {
	case cfg.TunnelIP.IsValid() != (cfg.Host != ""):
		return fmt.Errorf("config: host and tunnel_ip go together (the overlay needs both)")
	case cfg.TunnelIP.IsValid() && cfg.Store == nil:
		return fmt.Errorf("config: the overlay (host, tunnel_ip) needs the store, where the hosts publish their ports")
	case cfg.TunnelIP.IsValid() && (cfg.TunnelIP.Zone() != "" || cfg.TunnelIP.Is4In6() || cfg.TunnelIP.IsUnspecified() ||
		cfg.TunnelIP.IsLinkLocalUnicast() || cfg.TunnelIP.IsMulticast() || cfg.TunnelIP.IsLoopback()):
		return fmt.Errorf("config: tunnel_ip %s: not an address a tunnel endpoint can have (a global IPv4 or IPv6 address br-phy owns)", cfg.TunnelIP)
	}
	n := 0
	for _, set := range []bool{cfg.Listen != "", cfg.Listener != nil, cfg.Connect != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("config: set exactly one of listen and connect (OpenFlow)")
	}
	if cfg.Listen != "" {
		if err := checkLoopbackTarget("listen", cfg.Listen); err != nil {
			return err
		}
	}
	if cfg.API != "" {
		if _, _, err := httpEndpoint("api", cfg.API); err != nil {
			return err
		}
	}
	if cfg.Metrics != "" {
		if _, _, err := httpEndpoint("metrics", cfg.Metrics); err != nil {
			return err
		}
	}
	return nil
}

// checkLoopbackTarget accepts "tcp:HOST:PORT" with a loopback HOST: the
// OpenFlow listener hands whoever connects full control of the bridge.
func checkLoopbackTarget(key, target string) error {
	addr, ok := strings.CutPrefix(target, "tcp:")
	if !ok {
		return fmt.Errorf("config: %s %q: want tcp:HOST:PORT", key, target)
	}
	return checkLoopback(key, addr)
}

func checkLoopback(key, hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("config: %s %q: %v", key, hostport, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("config: %s %q: must be a loopback address (127.0.0.1 or ::1): it controls the switch", key, hostport)
	}
	return nil
}

// httpEndpoint splits "unix:PATH" or a loopback "HOST:PORT" into the
// network and address net.Listen takes.
func httpEndpoint(key, ep string) (network, addr string, err error) {
	if path, ok := strings.CutPrefix(ep, "unix:"); ok {
		if path == "" {
			return "", "", fmt.Errorf("config: %s %q: empty socket path", key, ep)
		}
		return "unix", path, nil
	}
	ep = strings.TrimPrefix(ep, "tcp:")
	if err := checkLoopback(key, ep); err != nil {
		return "", "", err
	}
	return "tcp", ep, nil
}
