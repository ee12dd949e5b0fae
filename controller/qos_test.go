package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// TestPortQoSOnOVS: qos.egress_kbps limits what a port sends and
// qos.ingress_kbps what it receives, on real TCP through the userspace
// datapath (OpenFlow meters), while an unlimited port on the same bridge
// is not held back; changing and removing a limit applies live.
func TestPortQoSOnOVS(t *testing.T) {
	l := newLab(t)
	base := readTestdata(t, "worked.yaml")
	// iperf3 listens on 5201, which both groups let in.
	open5201 := strings.NewReplacer(
		`      - {direction: ingress, protocol: tcp, ports: "8080", remote_cidr: 0.0.0.0/0}`,
		`      - {direction: ingress, protocol: tcp, ports: "8080", remote_cidr: 0.0.0.0/0}
      - {direction: ingress, protocol: tcp, ports: "5201"}`,
		`      - {direction: ingress, protocol: tcp, ports: "22", remote_cidr: 203.0.113.0/24}
      - {direction: egress, protocol: any, ethertype: ipv4}
      - {direction: egress, protocol: any, ethertype: ipv6}
  - name: client`,
		`      - {direction: ingress, protocol: tcp, ports: "22", remote_cidr: 203.0.113.0/24}
      - {direction: ingress, protocol: tcp, ports: "5201"}
      - {direction: egress, protocol: any, ethertype: ipv4}
      - {direction: egress, protocol: any, ethertype: ipv6}
  - name: client`)
	limited := strings.NewReplacer(
		`{name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11, "fd00:10::11"], security_groups: [web]}`,
		`{name: web1, network: tenant, mac: "02:00:0a:00:00:0b", ips: [10.0.0.11, "fd00:10::11"], security_groups: [web], qos: {egress_kbps: 20000}}`,
		`{name: db1, network: tenant, mac: "02:00:0a:00:00:15", ips: [10.0.0.21, "fd00:10::21"], security_groups: [db]}`,
		`{name: db1, network: tenant, mac: "02:00:0a:00:00:15", ips: [10.0.0.21, "fd00:10::21"], security_groups: [db], qos: {ingress_kbps: 20000}}`)
	open := open5201.Replace(base)
	if st, _ := l.changeIntent(limited.Replace(open)); st.LastApply == nil || st.LastApply.Result != "applied" {
		t.Fatalf("the limits were not applied: %+v", st.LastApply)
	}
	mbps := func(from, to string) float64 {
		t.Helper()
		return iperf(t, l.hosts[from], l.hosts[to])
	}
	egress := mbps("web1", "web2") // web1 sends: its egress limit
	ingress := mbps("web2", "db1") // db1 receives: its ingress limit
	free := mbps("web2", "web1")   // neither limited
	t.Logf("iperf3 TCP: web1 (egress 20,000 kbps) -> web2 %.1f Mbit/s; web2 -> db1 (ingress 20,000 kbps) %.1f Mbit/s; web2 -> web1 (no limit) %.1f Mbit/s",
		egress, ingress, free)
	for what, got := range map[string]float64{"egress": egress, "ingress": ingress} {
		if got < 15 || got > 25 {
			t.Errorf("%s limit of 20 Mbit/s measured %.1f Mbit/s, want 20 ±25 %%", what, got)
		}
	}
	if free < 2*25 {
		t.Errorf("the unlimited port measured %.1f Mbit/s, want far above the limited ones", free)
	}

	// Removing the limit removes it, live.
	if st, _ := l.changeIntent(open); st.LastApply == nil || st.LastApply.Result != "applied" {
		t.Fatalf("removing the limits was not applied: %+v", st.LastApply)
	}
	after := mbps("web1", "web2")
	t.Logf("after removing web1's limit: web1 -> web2 %.1f Mbit/s", after)
	if after < 2*25 {
		t.Errorf("web1 still limited after its limit went: %.1f Mbit/s", after)
	}
}

// iperf measures TCP from one host to another with iperf3 (4 s, the first left out: the meter's burst), in Mbit/s.
func iperf(t *testing.T, from, to *testbed.Host) float64 {
	t.Helper()
	ctx := context.Background()
	pidfile := filepath.Join(t.TempDir(), "iperf3.pid")
	if out, err := to.Exec(ctx, "iperf3", "-s", "-1", "-D", "-p", "5201", "-I", pidfile); err != nil {
		t.Fatalf("iperf3 server on %s: %v\n%s", to.Name(), err, out)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidfile); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 {
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
	})
	var out string
	var err error
	for range 20 { // until the daemon listens
		out, err = from.Exec(ctx, "iperf3", "-c", to.IP4().String(), "-p", "5201", "-t", "4", "-O", "1", "-J")
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("iperf3 %s -> %s: %v\n%s", from.Name(), to.Name(), err, out)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	return res.End.SumReceived.BitsPerSecond / 1e6
}
