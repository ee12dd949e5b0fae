package testbed

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	echoTCPPort = 8080
	echoUDPPort = 5353
)

// startTopology starts a testbed from a topology file and an echo server
// for each protocol on every host.
func startTopology(t *testing.T, path string) *Testbed {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := ParseTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	tb := New(t, Options{Datapath: topo.Datapath})
	ctx := context.Background()
	start := time.Now()
	if err := tb.Build(ctx, topo); err != nil {
		t.Fatalf("build %s: %v", path, err)
	}
	t.Logf("built %s (%d switches, %d hosts) in %v", path, len(topo.Switches), len(topo.Hosts), time.Since(start))
	for _, h := range tb.Hosts() {
		if _, err := h.ServeTCP(echoTCPPort); err != nil {
			t.Fatal(err)
		}
		if _, err := h.ServeUDP(echoUDPPort); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

// expectMatrix runs the probe across hosts and compares with want.
func expectMatrix(t *testing.T, hosts []*Host, p Probe, want *Table) {
	t.Helper()
	start := time.Now()
	got, err := Matrix(context.Background(), hosts, p)
	if err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	t.Logf("%s matrix in %v:\n%s", p.Name, time.Since(start), got)
	if diffs := got.Diff(want); diffs != nil {
		t.Errorf("%s matrix differs:\n%s\ngot:\n%swant:\n%s", p.Name, strings.Join(diffs, "\n"), got, want)
	}
}

// Two NORMAL switches joined by a patch link, two hosts on each: every
// host reaches every other over ICMP, TCP and UDP, IPv4 and IPv6.
func TestExampleTopologyFullReachabilityOnOVS(t *testing.T) {
	t.Parallel()
	tb := startTopology(t, "../examples/topology.yaml")
	hosts := tb.Hosts()
	if len(hosts) != 4 {
		t.Fatalf("example topology has %d hosts, want 4", len(hosts))
	}
	for _, f := range []Family{IPv4, IPv6} {
		for _, p := range []Probe{PingProbe(f), TCPProbe(f, echoTCPPort), UDPProbe(f, echoUDPPort)} {
			expectMatrix(t, hosts, p, UniformTable(hosts, OK))
		}
	}
}

// The switch port of a host is what a controller binds a port to: the
// iface-id, the attached MAC and the ofport must be there and agree.
func TestHostSwitchPortIsBoundOnOVS(t *testing.T) {
	t.Parallel()
	tb := startTopology(t, "../examples/topology.yaml")
	ctx := context.Background()
	for _, h := range tb.Hosts() {
		out, err := tb.OVS().Vsctl(ctx, "get", "Interface", h.Name(), "ofport", "external_ids:iface-id", "external_ids:attached-mac")
		if err != nil {
			t.Fatal(err)
		}
		want := strconv.Itoa(int(h.OFPort())) + "\n" + h.Name() + "\n\"" + h.MAC().String() + "\""
		if out != want {
			t.Errorf("host %s: Interface ofport, iface-id, attached-mac = %q, want %q", h.Name(), out, want)
		}
		mac, err := h.Exec(ctx, "cat", "/sys/class/net/eth0/address")
		if err != nil {
			t.Fatal(err)
		}
		if mac != h.MAC().String() {
			t.Errorf("host %s: eth0 has MAC %s, want %s", h.Name(), mac, h.MAC())
		}
	}
}

// Two testbeds with the same switch names, host names and addresses run at
// once without noticing each other: each has its own OVS, its own
// ovs-vswitchd namespace and prefixed host namespaces.
func TestTwoTestbedsInParallelOnOVS(t *testing.T) {
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := startTopology(t, "../examples/topology.yaml")
			t.Logf("testbed %s: ovs-vswitchd pid %d in %s", tb.Prefix(), tb.OVS().VswitchdPID(), tb.OVS().Netns)
			hosts := tb.Hosts()
			expectMatrix(t, hosts, PingProbe(IPv4), UniformTable(hosts, OK))
			expectMatrix(t, hosts, TCPProbe(IPv6, echoTCPPort), UniformTable(hosts, OK))
		})
	}
}
