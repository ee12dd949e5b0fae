package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// TestPolicyRejectAnswersAtOnce: an admin policy's reject refuses a new
// connection with a TCP RST (ICMP port unreachable for UDP) that the
// controller sends back through a packet-out, so the client fails at once
// instead of waiting for a timeout; a connection the policy does not
// match is not touched.
func TestPolicyRejectAnswersAtOnce(t *testing.T) {
	l := newLab(t)
	doc := readTestdata(t, "worked.yaml") + `
policies:
  - name: db-reject
    priority: 1
    applies_to: {ports: [db1]}
    rules:
      - {action: reject, direction: ingress, protocol: tcp, ports: "3306", remote_cidr: 10.0.0.11}
      - {action: reject, direction: ingress, protocol: tcp, ports: "3306", remote_cidr: "fd00:10::11"}
      - {action: reject, direction: ingress, protocol: udp, ports: "53", remote_cidr: 10.0.0.11}
`
	l.changeIntent(doc)
	l.expectTCP("web2", "db1", false, 3306, testbed.OK) // the ARP caches are warm after this
	l.expectTCP("web1", "db1", true, 3306, testbed.Refused)
	for _, v6 := range []bool{false, true} {
		start := time.Now()
		res, err := testbed.TCPConnect(context.Background(), l.hosts["web1"], l.addr("db1", v6), 3306)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("web1 -> db1:3306 (v6 %v): %s (%s) in %v", v6, res.Outcome, res.Detail, took)
		if res.Outcome != testbed.Refused || took >= 100*time.Millisecond {
			t.Errorf("web1 -> db1:3306 (v6 %v): %s (%s) after %v; want refused in under 100 ms", v6, res.Outcome, res.Detail, took)
		}
	}
	// Group db does not allow udp/53: without the reject's answer the
	// probe would time out.
	start := time.Now()
	res, err := testbed.UDPExchange(context.Background(), l.hosts["web1"], l.addr("db1", false), 53)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("web1 -> db1 udp/53: %s (%s) in %v", res.Outcome, res.Detail, time.Since(start))
	if res.Outcome != testbed.Refused {
		t.Errorf("web1 -> db1 udp/53: %s (%s); want refused (ICMP port unreachable)", res.Outcome, res.Detail)
	}
}
