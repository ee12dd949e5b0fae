package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func settingsCmd(t *testing.T, args ...string) *cobra.Command {
	t.Helper()
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	addSettingsFlags(cmd, "ovsdb", "bridge", "intent", "listen", "connect", "log_level")
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flowgate.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Precedence: flag > FLOWGATE_* environment > config file > default.
func TestSettingsPrecedence(t *testing.T) {
	cfg := writeConfig(t, "bridge: br-file\nintent: /file/intent.yaml\nlog_level: debug\novsdb: unix:/file/db.sock\n")
	t.Setenv("FLOWGATE_INTENT", "/env/intent.yaml")
	t.Setenv("FLOWGATE_LOG_LEVEL", "warn")
	st, err := loadSettings(settingsCmd(t, "--config", cfg, "--log-level", "error"))
	if err != nil {
		t.Fatal(err)
	}
	want := settings{OVSDB: "unix:/file/db.sock", Bridge: "br-file", Intent: "/env/intent.yaml",
		Connect: "unix:/file/br-file.mgmt", API: "unix:/run/flowgate/api.sock", Metrics: "127.0.0.1:9464",
		OVSRundir: "/file", StorePrefix: "/flowgate/intent/", LogLevel: "error", LogFormat: "text", PacketInRate: 100, LocationLease: 10 * time.Second}
	if st != want {
		t.Errorf("settings\n got %+v\nwant %+v", st, want)
	}
}

func TestSettingsConnectAloneDoesNotListen(t *testing.T) {
	st, err := loadSettings(settingsCmd(t, "--config", writeConfig(t, ""), "--connect", "unix:/run/openvswitch/br-int.mgmt"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Listen != "" || st.Connect == "" {
		t.Errorf("--connect alone: listen %q connect %q; want only connect", st.Listen, st.Connect)
	}
}

// The default is the bridge's management socket in the OVS run directory;
// a listener only when asked for, and then no dialling.
func TestSettingsDefaultDialsTheManagementSocket(t *testing.T) {
	st, err := loadSettings(settingsCmd(t, "--config", writeConfig(t, ""), "--ovsdb", "unix:/run/ovs/db.sock", "--bridge", "br-x"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Listen != "" || st.Connect != "unix:/run/ovs/br-x.mgmt" {
		t.Errorf("defaults: listen %q connect %q; want connect unix:/run/ovs/br-x.mgmt", st.Listen, st.Connect)
	}
	st, err = loadSettings(settingsCmd(t, "--config", writeConfig(t, ""), "--listen", "tcp:127.0.0.1:653"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Listen != "tcp:127.0.0.1:653" || st.Connect != "" {
		t.Errorf("--listen alone: listen %q connect %q; want only listen", st.Listen, st.Connect)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, config, want string
	}{
		{"unknown key", "bridge: br-int\nbrdige: br-x\n", `unknown key "brdige"`},
		{"not yaml", "bridge: [\n", "config"},
		{"lease too short", "location_lease: 1s\n", `location_lease "1s": want whole seconds from 2s to 1h`},
		{"lease not whole seconds", "location_lease: 2500ms\n", `location_lease "2500ms"`},
		{"lease not a duration", "location_lease: ten\n", `location_lease "ten"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadSettings(settingsCmd(t, "--config", writeConfig(t, tc.config)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := loadSettings(settingsCmd(t, "--config", missing)); err == nil {
		t.Errorf("an explicitly named config file that does not exist was accepted")
	}
}

func TestNewLoggerRefusesUnknownLevelAndFormat(t *testing.T) {
	if _, err := newLogger(settings{LogLevel: "loud", LogFormat: "text"}, os.Stderr); err == nil {
		t.Error("log_level loud accepted")
	}
	if _, err := newLogger(settings{LogLevel: "info", LogFormat: "xml"}, os.Stderr); err == nil {
		t.Error("log_format xml accepted")
	}
}

// The example config lists every key with its default: loading it gives
// exactly what no config at all gives, and every key is in it.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	example := "../../examples/flowgate.yaml"
	got, err := loadSettings(settingsCmd(t, "--config", example))
	if err != nil {
		t.Fatal(err)
	}
	want, err := loadSettings(settingsCmd(t, "--config", writeConfig(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("example config\n gives %+v\ndefault %+v", got, want)
	}
	text, _ := os.ReadFile(example)
	for _, k := range settingKeys() {
		if !strings.Contains(string(text), "\n"+k+":") {
			t.Errorf("examples/flowgate.yaml does not document key %s", k)
		}
	}
}
