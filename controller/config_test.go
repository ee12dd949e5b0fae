package controller

import (
	"strings"
	"testing"
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
	for _, api := range []string{"unix:/run/flowgate/api.sock", "127.0.0.1:9465", "[::1]:9465", "localhost:9465"} {
		c := ok
		c.API = api
		if err := c.check(); err != nil {
			t.Errorf("api %s refused: %v", api, err)
		}
	}
}
