package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// defaultConfigPath is read when --config is not given; a missing file at
// the default path is not an error, a missing file named explicitly is.
const defaultConfigPath = "/etc/flowgate/flowgate.yaml"

// setting is one configuration key: its flag, its default and what it
// means. The same table documents the keys in `flowgate controller --help`
// and the README.
type setting struct {
	key   string // config file key; FLOWGATE_<KEY> in the environment
	def   string
	usage string
}

var settingsTable = []setting{
	{"ovsdb", "unix:/var/run/openvswitch/db.sock", "OVSDB endpoint (unix:PATH or tcp:HOST:PORT)"},
	{"bridge", "br-int", "integration bridge to program"},
	{"intent", "/etc/flowgate/intent.yaml", "intent file (YAML or JSON), watched for changes; not read when store is set"},
	{"store", "", "etcd://HOST:PORT[,HOST:PORT...]: the intent lives in etcd instead of the intent file (the controller watches it there, PUT /v1/intent writes there)"},
	{"store_prefix", "/flowgate/intent/", "etcd key prefix of the intent (one key per object below it)"},
	{"store_ca", "", "CA certificate (PEM) that etcd's server certificates are checked against; with store_ca or store_cert etcd is reached over TLS"},
	{"store_cert", "", "client certificate (PEM) for etcd; its common name is the etcd user when etcd runs with --client-cert-auth"},
	{"store_key", "", "private key (PEM) of store_cert"},
	{"host", "", "this host's name among the controllers sharing the store (its ports' locations are published under it; with TLS, its certificate's common name)"},
	{"tunnel_ip", "", "this host's tunnel endpoint (IPv4 or IPv6 on the underlay, owned by the operator's br-phy): with store and host, networks span hosts over Geneve"},
	{"location_lease", "10s", "how long the other hosts keep this host's ports once its controller stops renewing them (a dead host, or a controller down that long; a restart within it loses nothing): whole seconds, 2s to 1h"},
	{"listen", "", "OpenFlow listener tcp:127.0.0.1:PORT instead of connect; the bridge's controller target points here and only ovs-vswitchd is accepted"},
	{"connect", "", "OpenFlow address to dial; default unix:OVS_RUNDIR/BRIDGE.mgmt, the bridge's root-only management socket (no controller target)"},
	{"api", "unix:/run/flowgate/api.sock", "local HTTP API: unix:PATH or a loopback HOST:PORT; empty disables it"},
	{"metrics", "127.0.0.1:9464", "Prometheus /metrics on a loopback HOST:PORT; empty serves /metrics on the API only"},
	{"ovs_rundir", "", "Open vSwitch run directory (sockets, pid files); default: the directory of a unix: ovsdb endpoint, else /var/run/openvswitch"},
	{"log_level", "info", "log level: debug, info, warn, error"},
	{"log_format", "text", "log format: text or json"},
	{"packet_in_rate", "100", "packet-ins per second the bridge may send (admin policies' reject answers and log lines), enforced by an OpenFlow controller meter"},
}

// settings is the resolved configuration: flag > FLOWGATE_* environment >
// config file > default.
type settings struct {
	OVSDB, Bridge, Intent, Listen, Connect, API, Metrics, OVSRundir string
	Store, StorePrefix, StoreCA, StoreCert, StoreKey                string
	Host, TunnelIP                                                  string
	LogLevel, LogFormat                                             string
	PacketInRate                                                    uint32
	LocationLease                                                   time.Duration
}

// addSettingsFlags registers --config and the flags of the given keys.
func addSettingsFlags(cmd *cobra.Command, keys ...string) {
	cmd.Flags().String("config", defaultConfigPath, "configuration file (YAML)")
	for _, k := range keys {
		s := lookupSetting(k)
		cmd.Flags().String(flagName(k), s.def, s.usage)
	}
}

func lookupSetting(key string) setting {
	for _, s := range settingsTable {
		if s.key == key {
			return s
		}
	}
	panic("flowgate: no setting " + key)
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// loadSettings resolves every key for cmd. Keys without a flag on cmd
// still come from the environment, the file or the default.
func loadSettings(cmd *cobra.Command) (settings, error) {
	v := viper.New()
	v.SetEnvPrefix("FLOWGATE")
	v.AutomaticEnv()
	for _, s := range settingsTable {
		v.SetDefault(s.key, s.def)
		if f := cmd.Flags().Lookup(flagName(s.key)); f != nil {
			if err := v.BindPFlag(s.key, f); err != nil {
				return settings{}, err
			}
		}
	}
	path := defaultConfigPath
	explicit := false
	if f := cmd.Flags().Lookup("config"); f != nil {
		path, explicit = f.Value.String(), f.Changed
	}
	if env, ok := os.LookupEnv("FLOWGATE_CONFIG"); ok && !explicit {
		path, explicit = env, true
	}
	if err := readConfigFile(v, path, explicit); err != nil {
		return settings{}, err
	}
	st := settings{
		OVSDB: v.GetString("ovsdb"), Bridge: v.GetString("bridge"), Intent: v.GetString("intent"),
		Listen: v.GetString("listen"), Connect: v.GetString("connect"), API: v.GetString("api"),
		Metrics: v.GetString("metrics"), OVSRundir: v.GetString("ovs_rundir"),
		Store: v.GetString("store"), StorePrefix: v.GetString("store_prefix"),
		StoreCA: v.GetString("store_ca"), StoreCert: v.GetString("store_cert"), StoreKey: v.GetString("store_key"),
		Host: v.GetString("host"), TunnelIP: v.GetString("tunnel_ip"),
		LogLevel: v.GetString("log_level"), LogFormat: v.GetString("log_format"),
	}
	rate, err := strconv.ParseUint(v.GetString("packet_in_rate"), 10, 32)
	if err != nil || rate == 0 {
		return settings{}, fmt.Errorf("packet_in_rate %q: want a whole number of packets per second, at least 1", v.GetString("packet_in_rate"))
	}
	st.PacketInRate = uint32(rate)
	lease, err := time.ParseDuration(v.GetString("location_lease"))
	if err != nil || lease < 2*time.Second || lease > time.Hour || lease%time.Second != 0 {
		return settings{}, fmt.Errorf("location_lease %q: want whole seconds from 2s to 1h (etcd leases are whole seconds, and shorter ones expire under a busy etcd)", v.GetString("location_lease"))
	}
	st.LocationLease = lease
	if st.OVSRundir == "" {
		st.OVSRundir = "/var/run/openvswitch"
		if p, ok := strings.CutPrefix(st.OVSDB, "unix:"); ok {
			st.OVSRundir = filepath.Dir(p)
		}
	}
	if st.Listen == "" && st.Connect == "" {
		// The default: dial the bridge's management socket, which only
		// root (and ovs-vswitchd's user) can open, and leave the bridge
		// without a controller target that someone else could serve.
		st.Connect = "unix:" + filepath.Join(st.OVSRundir, st.Bridge+".mgmt")
	}
	return st, nil
}

// readConfigFile reads path into v. Unknown keys are refused, so that a
// typo does not silently leave a default in force.
func readConfigFile(v *viper.Viper, path string, explicit bool) error {
	if _, err := os.Stat(path); err != nil {
		if os.IsNotExist(err) && !explicit {
			return nil
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	for _, k := range v.AllKeys() {
		if !slices.Contains(settingKeys(), k) {
			return fmt.Errorf("config %s: unknown key %q (known: %s)", path, k, strings.Join(settingKeys(), ", "))
		}
	}
	return nil
}

func settingKeys() []string {
	keys := make([]string, len(settingsTable))
	for i, s := range settingsTable {
		keys[i] = s.key
	}
	return keys
}

// newLogger builds the slog logger the settings ask for.
func newLogger(st settings, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(st.LogLevel)); err != nil {
		return nil, fmt.Errorf("log_level %q: want debug, info, warn or error", st.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch st.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log_format %q: want text or json", st.LogFormat)
}
