package testbed

import (
	"context"
	"net/netip"
	"testing"
)

// A probe from an alias address leaves from that address: the server sees
// it, not the host's eth0 address.
func TestTCPConnectFromAliasOnOVS(t *testing.T) {
	t.Parallel()
	_, a, b := twoHosts(t, SwitchOpts{})
	ctx := context.Background()
	alias := netip.MustParseAddr("192.168.8.1")
	if _, err := a.Exec(ctx, "ip", "addr", "add", alias.String()+"/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, "ip", "route", "add", alias.String()+"/32", "via", a.IP4().String()); err != nil {
		t.Fatal(err)
	}
	res, err := TCPConnectFrom(ctx, a, alias, b.IP4(), echoTCPPort)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OK || res.Seen.Addr() != alias {
		t.Errorf("from %s: %s, server saw %s; want ok from the alias", alias, res.Outcome, res.Seen)
	}
	// Not one of a's addresses: the probe itself cannot be made.
	if _, err := TCPConnectFrom(ctx, a, netip.MustParseAddr("192.168.9.9"), b.IP4(), echoTCPPort); err == nil {
		t.Error("probe from an address the host does not have: no error")
	}
}

// The UDP echo server answers from the address a datagram was sent to,
// here a loopback alias, not from its eth0 address: the client's connected
// socket takes only that reply. From an alias, the server sees the alias.
func TestUDPEchoAnswersFromAliasOnOVS(t *testing.T) {
	t.Parallel()
	_, a, b := twoHosts(t, SwitchOpts{})
	ctx := context.Background()
	aAlias, bAlias := netip.MustParseAddr("192.168.8.1"), netip.MustParseAddr("192.168.8.2")
	for _, c := range []struct {
		h          *Host
		alias, via netip.Addr
		peer       *Host
	}{{a, aAlias, a.IP4(), b}, {b, bAlias, b.IP4(), a}} {
		if _, err := c.h.Exec(ctx, "ip", "addr", "add", c.alias.String()+"/32", "dev", "lo"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.peer.Exec(ctx, "ip", "route", "add", c.alias.String()+"/32", "via", c.via.String()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := UDPExchangeFrom(ctx, a, aAlias, bAlias, echoUDPPort)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OK || res.Seen.Addr() != aAlias || res.Local.Addr() != aAlias {
		t.Errorf("udp %s -> %s: %s (%s), server saw %s from local %s; want ok, seen as the alias", aAlias, bAlias, res.Outcome, res.Detail, res.Seen, res.Local)
	}
}
