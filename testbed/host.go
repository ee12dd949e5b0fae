package testbed

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// Host is a network namespace with one interface, eth0, once it is linked
// to a switch.
type Host struct {
	tb    *Testbed
	state HostState
	mac   net.HardwareAddr
}

// HostOpts describe a host's interface. Every field is optional.
type HostOpts struct {
	// MAC of eth0; by default 02:fb:00:00:HH:LL from the host's number.
	MAC net.HardwareAddr
	// IPv4 and IPv6 are eth0's addresses with their prefix length.
	IPv4, IPv6 netip.Prefix
	// Gateway4 and Gateway6, when valid, become default routes.
	Gateway4, Gateway6 netip.Addr
	// OFPort is requested as the switch port's ofport (ofport_request);
	// 0 lets OVS choose.
	OFPort uint32
}

// Name is the host's name; it is also the iface-id of its switch port and
// the name of that port.
func (h *Host) Name() string { return h.state.Name }

// Netns is the name of the host's network namespace.
func (h *Host) Netns() string { return h.state.Netns }

// MAC is eth0's MAC address.
func (h *Host) MAC() net.HardwareAddr { return h.mac }

// IP4 is eth0's IPv4 address (invalid when it has none).
func (h *Host) IP4() netip.Addr { return h.state.IP4.Addr() }

// IP6 is eth0's IPv6 address (invalid when it has none).
func (h *Host) IP6() netip.Addr { return h.state.IP6.Addr() }

// OFPort is the OpenFlow port number of the host's switch port (0 before
// Link).
func (h *Host) OFPort() uint32 { return h.state.OFPort }

// SwitchName is the name of the switch the host is linked to ("" before
// Link).
func (h *Host) SwitchName() string { return h.state.Switch }

// NodeName is the name of the node whose integration bridge the host is
// linked to ("" for a switch of the testbed's own OVS, and before Link).
func (h *Host) NodeName() string { return h.state.Node }

// Exec runs argv inside the host's namespace and returns its trimmed
// stdout; the error carries stderr.
func (h *Host) Exec(ctx context.Context, argv ...string) (string, error) {
	out, err := runIn(ctx, h.state.Netns, argv...)
	if err != nil {
		return out, fmt.Errorf("host %s: %w", h.state.Name, err)
	}
	return out, nil
}

// AddHost creates the host's namespace with loopback up and IPv6 duplicate
// address detection off, so that addresses are usable the moment they are
// added rather than a second or two later. The interface comes with Link.
func (tb *Testbed) AddHost(ctx context.Context, name string, opts HostOpts) (*Host, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if err := tb.checkName("host", name); err != nil {
		return nil, err
	}
	if err := checkHostOpts(opts); err != nil {
		return nil, fmt.Errorf("host %s: %w", name, err)
	}
	mac := opts.MAC
	if mac == nil {
		n := len(tb.state.Hosts) + 1
		mac = net.HardwareAddr{0x02, 0xfb, 0, 0, byte(n >> 8), byte(n)}
	}
	hs := HostState{
		Name: name, Netns: tb.state.Prefix + "-" + name, OFPort: opts.OFPort, MAC: mac.String(),
		IP4: opts.IPv4, IP6: opts.IPv6, Gateway4: opts.Gateway4, Gateway6: opts.Gateway6,
	}
	if _, err := run(ctx, "ip", "netns", "add", hs.Netns); err != nil {
		return nil, fmt.Errorf("add host %s: %w", name, err)
	}
	if _, err := runIn(ctx, hs.Netns, "sysctl", "-qw",
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"); err != nil {
		return nil, fmt.Errorf("add host %s: %w", name, err)
	}
	if err := ipBatch(ctx, hs.Netns, []string{"link set lo up"}); err != nil {
		return nil, fmt.Errorf("add host %s: %w", name, err)
	}
	h := &Host{tb: tb, state: hs, mac: mac}
	tb.hosts[name] = h
	tb.state.Hosts = append(tb.state.Hosts, hs)
	return h, nil
}

func checkHostOpts(opts HostOpts) error {
	if opts.MAC != nil && (len(opts.MAC) != 6 || opts.MAC[0]&1 == 1) {
		return fmt.Errorf("mac %s: want a 6-byte unicast address", opts.MAC)
	}
	if opts.IPv4.IsValid() && !opts.IPv4.Addr().Is4() {
		return fmt.Errorf("ipv4 %s: not an IPv4 prefix", opts.IPv4)
	}
	if opts.IPv6.IsValid() && !opts.IPv6.Addr().Is6() {
		return fmt.Errorf("ipv6 %s: not an IPv6 prefix", opts.IPv6)
	}
	if opts.Gateway4.IsValid() && !opts.IPv4.Contains(opts.Gateway4) {
		return fmt.Errorf("gateway4 %s: not in %s", opts.Gateway4, opts.IPv4)
	}
	if opts.Gateway6.IsValid() && !opts.IPv6.Contains(opts.Gateway6) {
		return fmt.Errorf("gateway6 %s: not in %s", opts.Gateway6, opts.IPv6)
	}
	return nil
}

// in runs fn inside the host's namespace (see InNetns).
func (h *Host) in(fn func() error) error {
	if err := InNetns(h.state.Netns, fn); err != nil {
		return fmt.Errorf("host %s: %w", h.state.Name, err)
	}
	return nil
}
