package main

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/flowgate/flowgate/controller"
)

func init() { rootCmd.AddCommand(newControllerCmd()) }

func newControllerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Keep a bridge's flows in step with the intent (file or etcd) and the ports in OVSDB",
		Long: `Runs in the foreground beside ovs-vswitchd until SIGTERM or Ctrl-C.

It creates or configures the bridge (fail_mode=secure, OpenFlow 1.3,
no controller target: it dials the bridge's management socket unless
--listen asks for a listener), binds intent ports to OVS Interfaces by
external_ids:iface-id as they appear, and installs the compiled pipeline as
one OpenFlow bundle per change. The intent file is watched (SIGHUP reloads
it too); a bad document is refused with its errors logged and the running
flows stay. On exit the flows stay installed and the bridge fail-secure.

With --store etcd://HOST:2379[,HOST:2379...] the intent comes from etcd
instead (keys under --store-prefix, TLS with --store-ca/--store-cert/
--store-key): the file is not read, every committed change is applied as
it arrives, PUT /v1/intent writes to etcd, and while etcd does not answer
the flows in force stay (fail static) until it is back and the intent has
been read again.

Settings come from flags, FLOWGATE_<KEY> environment variables (e.g.
FLOWGATE_OVSDB, FLOWGATE_LOG_LEVEL) and the config file, in that order.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			log, err := newLogger(st, os.Stderr)
			if err != nil {
				return err
			}
			cfg := controller.Config{
				OVSDB: st.OVSDB, Bridge: st.Bridge, IntentPath: st.Intent,
				Listen: st.Listen, Connect: st.Connect, OVSRundir: st.OVSRundir,
				API: st.API, Metrics: st.Metrics, Logger: log, PacketInRate: st.PacketInRate,
			}
			source := st.Intent
			if st.Store != "" {
				s, err := openStore(st, writer("flowgate controller API"))
				if err != nil {
					return err
				}
				defer s.Close()
				cfg.Store, cfg.IntentPath, source = s, "", s.String()
			}
			if st.TunnelIP != "" {
				ip, err := netip.ParseAddr(st.TunnelIP)
				if err != nil {
					return fmt.Errorf("tunnel_ip %q: want the IPv4 or IPv6 address of this host's tunnel endpoint", st.TunnelIP)
				}
				cfg.Host, cfg.TunnelIP, cfg.LocationLease = st.Host, ip, st.LocationLease
			}
			log.Info("flowgate controller starting", "ovsdb", st.OVSDB, "bridge", st.Bridge, "intent", source,
				"listen", st.Listen, "connect", st.Connect, "api", st.API, "metrics", st.Metrics,
				"log_level", st.LogLevel, "log_format", st.LogFormat)
			c, err := controller.New(cfg)
			if err != nil {
				return err
			}
			return c.Run(cmd.Context())
		},
	}
	addSettingsFlags(cmd, append([]string{"ovsdb", "bridge", "intent", "listen", "connect", "api", "metrics", "ovs_rundir", "log_level", "log_format", "packet_in_rate", "host", "tunnel_ip", "location_lease"}, storeKeys...)...)
	return cmd
}
