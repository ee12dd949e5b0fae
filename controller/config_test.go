package controller

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/store"
)

func TestConfigCheck(t *testing.T) {
	ok := Config{OVSDB: "unix:/run/openvswitch/db.sock", IntentPath: "/etc/flowgate/intent.yaml", Listen: "tcp:127.0.0.1:6653"}
	if err := ok.check(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no ovsdb", func(c *Config) { c.OVSDB = "" }, "ovsdb"},
		{"no intent", func(c *Config) { c.IntentPath = "" }, "intent"},
		{"listen and connect", func(c *Config) { c.Connect = "unix:/x.mgmt" }, "exactly one"},
		{"neither", func(c *Config) { c.Listen = "" }, "exactly one"},
		{"listen on all addresses", func(c *Config) { c.Listen = "tcp:0.0.0.0:6653" }, "loopback"},
		{"listen not tcp", func(c *Config) { c.Listen = "ssl:127.0.0.1:6653" }, "tcp:HOST:PORT"},
		{"api on a public address", func(c *Config) { c.API = "192.0.2.1:8080" }, "loopback"},
		{"metrics without port", func(c *Config) { c.Metrics = "127.0.0.1" }, "metrics"},
		{"empty unix socket", func(c *Config) { c.API = "unix:" }, "empty socket path"},
		{"tunnel_ip link-local", func(c *Config) { overlay(c, "fe80::11") }, "not an address a tunnel endpoint can have"},
		{"tunnel_ip unspecified", func(c *Config) { overlay(c, "0.0.0.0") }, "not an address a tunnel endpoint can have"},
		{"tunnel_ip without host", func(c *Config) { overlay(c, "192.168.100.11"); c.Host = "" }, "go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	for _, ip := range []string{"192.168.100.11", "fd00:100::11"} {
		c := ok
		overlay(&c, ip)
		if err := c.check(); err != nil {
			t.Errorf("tunnel_ip %s refused: %v", ip, err)
		}
	}
	for _, api := range []string{"unix:/run/flowgate/api.sock", "127.0.0.1:9465", "[::1]:9465", "localhost:9465"} {
		c := ok
		c.API = api
		if err := c.check(); err != nil {
			t.Errorf("api %s refused: %v", api, err)
		}
	}
}

// overlay puts c in an overlay with tunnel endpoint ip (a store, not a
// file).
func overlay(c *Config, ip string) {
	c.Store, c.IntentPath, c.Host, c.TunnelIP = new(store.Store), "", "hv1", netip.MustParseAddr(ip)
}
