package controller_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// TestServicesThroughTheControllerOnOVS: the controller installs the
// services' select groups with their flows, answers neighbour
// solicitations for an IPv6 service address, and refuses connections to
// a service without backends at once (TCP RST, ICMP port unreachable).
func TestServicesThroughTheControllerOnOVS(t *testing.T) {
	l := newLab(t)
	l.changeIntent(readTestdata(t, "worked.yaml") + `
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    backends:
      - {port: web1, target_port: 8080}
      - {port: web2, target_port: 8080, weight: 2}
  - name: web6
    vip: "fd00:10::100"
    port: 80
    backends:
      - {port: web1, target_port: 8080}
  - name: empty
    vip: 10.0.0.104
    port: 80
  - name: empty-udp
    vip: 10.0.0.104
    protocol: udp
    port: 53
`)
	ctx := context.Background()
	for _, vip := range []string{"10.0.0.100", "fd00:10::100"} {
		res, err := testbed.TCPConnect(ctx, l.hosts["db1"], netip.MustParseAddr(vip), 80)
		if err != nil || res.Outcome != testbed.OK {
			t.Errorf("db1 -> %s:80: %v %s (%s)", vip, err, res.Outcome, res.Detail)
		}
	}
	// The metrics count the service's traffic, per backend too (flow
	// counters reach OpenFlow when the revalidators next run).
	var code int
	var web, backends float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var metrics string
		code, metrics = l.api("GET", "/metrics", "")
		web, backends = 0, 0
		for _, line := range strings.Split(metrics, "\n") {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
				continue
			}
			switch {
			case strings.HasPrefix(line, `flowgate_service_packets_total{backend="",service="web"}`):
				web = v
			case strings.HasPrefix(line, `flowgate_service_packets_total{backend="web`) && strings.Contains(line, `service="web"`):
				backends += v
			}
		}
		if code == 200 && backends >= 3 && web > backends {
			break
		}
	}
	t.Logf("metrics: service web %v packets, of which its backends received %v", web, backends)
	if code != 200 || web == 0 || backends == 0 || backends >= web {
		t.Errorf("metrics: service web %v packets, its backends %v (status %d); want both counted, replies in the service's", web, backends, code)
	}
	out, err := l.tb.OVS().Ofctl(ctx, "-O", "OpenFlow13", "dump-groups", labBridge)
	if err != nil || strings.Count(out, "type=select") < 2 {
		t.Errorf("dump-groups: want the services' select groups: %v\n%s", err, out)
	}

	l.expectTCP("web1", "db1", false, 3306, testbed.OK) // warm the ARP caches
	expectRefusedAtOnce(t, "web1 -> the empty service", l.hosts["web1"], netip.MustParseAddr("10.0.0.104"), 80)
	ures, err := testbed.UDPExchange(ctx, l.hosts["web1"], netip.MustParseAddr("10.0.0.104"), 53)
	if err != nil || ures.Outcome != testbed.Refused {
		t.Errorf("web1 -> empty udp service: %v %s (%s); want refused (ICMP port unreachable)", err, ures.Outcome, ures.Detail)
	}

	// Removing the services removes their groups.
	l.changeIntent(readTestdata(t, "worked.yaml"))
	if out, _ := l.tb.OVS().Ofctl(ctx, "-O", "OpenFlow13", "dump-groups", labBridge); strings.Contains(out, "group_id") {
		t.Errorf("groups left after the services went:\n%s", out)
	}
}
