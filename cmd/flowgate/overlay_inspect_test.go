package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/internal/overlaylab"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/store/storetest"
	"github.com/flowgate/flowgate/testbed"
)

// flowgate diff and trace on a host of an overlay: two testbed nodes
// (web1 on hv1, db1 on hv2), a controller per node in this process
// reading binIntent from an embedded etcd and publishing its ports'
// locations there. With --store and --host, as the controller runs, diff
// finds hv1 in sync (db1's flows into the tunnel included) and names a
// flow deleted by hand; without --host the same flows are differences;
// trace names the tunnel, the remote port and its host.
func TestInspectOverlayHostOnOVS(t *testing.T) {
	testbed.RequireRoot(t)
	bin := buildFlowgate(t)
	ctx := context.Background()
	tb := testbed.New(t, testbed.Options{})
	etcd := storetest.Start(t, storetest.Options{})
	nodes := map[string]*testbed.Node{}
	for i, name := range []string{"hv1", "hv2"} {
		n, err := tb.AddNode(ctx, name, testbed.NodeOpts{Underlay: netip.MustParsePrefix(fmt.Sprintf("192.168.100.%d/24", 11+i))})
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
	}
	hosts := map[string]*testbed.Host{}
	for _, h := range []struct{ name, node, mac, ip string }{
		{"web1", "hv1", "02:00:0a:00:00:0b", "10.0.0.11/24"},
		{"db1", "hv2", "02:00:0a:00:00:15", "10.0.0.21/24"},
	} {
		mac, _ := net.ParseMAC(h.mac)
		host, err := tb.AddHost(ctx, h.name, testbed.HostOpts{MAC: mac, IPv4: netip.MustParsePrefix(h.ip)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Link(ctx, host, nodes[h.node].IntegrationBridge()); err != nil {
			t.Fatal(err)
		}
		hosts[h.name] = host
	}
	if _, err := hosts["db1"].ServeTCP(3306); err != nil {
		t.Fatal(err)
	}
	doc, err := intent.Decode([]byte(binIntent))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openTestStore(t, etcd).Put(ctx, doc, 0); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		overlaylab.Start(t, n, openTestStore(t, etcd))
	}
	// Both controllers have the other's port once web1 reaches db1.
	for deadline := time.Now().Add(20 * time.Second); ; {
		res, err := testbed.TCPConnect(ctx, hosts["web1"], netip.MustParseAddr("10.0.0.21"), 3306)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome == testbed.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web1 (hv1) never reached db1 (hv2) across the overlay: %s", res.Outcome)
		}
	}

	hv1 := nodes["hv1"].OVS()
	run := func(args ...string) (string, string, int) {
		t.Helper()
		return runFlowgate(t, bin, nil, append(args, "--config", "/dev/null", "--ovsdb", hv1.DBEndpoint(), "--store", etcd.URL())...)
	}

	out, errOut, code := run("diff", "--host", "hv1")
	t.Logf("flowgate diff --host hv1 on hv1:\n%s", out)
	if code != 0 || !strings.HasPrefix(out, "in sync: ") ||
		!strings.Contains(out, "\noverlay: host hv1, 1 ports bound on other hosts (hv2), locations at etcd revision ") {
		t.Errorf("diff on an overlay host in sync: exit %d, stderr %q", code, errOut)
	}
	// Without the overlay, db1's flows into the tunnel are excess: the
	// difference this change removes.
	out, _, code = run("diff")
	if code != 1 || !strings.Contains(out, "set_field:192.168.100.12->tun_dst") || !strings.Contains(out, "    # ports[db1]\n") {
		t.Errorf("diff on an overlay host without --host: exit %d, want 1 and db1's tunnel flows as excess\n%s", code, out)
	}

	out, errOut, code = run("trace", "--host", "hv1", "--from", "web1", "--to", "10.0.0.21", "--proto", "tcp", "--dport", "3306")
	t.Logf("flowgate trace --host hv1 --from web1 --to 10.0.0.21 --dport 3306:\n%s", out)
	want := "verdict: allowed by security_groups[web].rules[0] (egress any to any), then to db1 on hv2 (192.168.100.12) through the tunnel, whose host judges db1's ingress rules\n"
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("trace to a port on another host: exit %d, stderr %q; output lacks %q", code, errOut, want)
	}

	// From db1, bound on hv2: on hv1 the packet comes in from the tunnel
	// as hv2 sends it, and web1's ingress rules (group web: none) judge
	// it here.
	out, errOut, code = run("trace", "--host", "hv1", "--from", "db1", "--to", "10.0.0.11", "--proto", "tcp", "--dport", "8080")
	t.Logf("flowgate trace --host hv1 --from db1 --to 10.0.0.11 --dport 8080:\n%s", out)
	want = "verdict: dropped: no rule of web allows"
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "tun_src=192.168.100.12") {
		t.Errorf("trace from a port on another host: exit %d, stderr %q; output lacks %q or the tunnel source", code, errOut, want)
	}

	// A flow deleted by hand on hv1: db1's MAC no longer leads into the
	// tunnel, and diff names the flow.
	if _, err := hv1.Ofctl(ctx, "-O", "OpenFlow13", "del-flows", testbed.IntegrationBridge, "table=50,dl_dst=02:00:0a:00:00:15"); err != nil {
		t.Fatal(err)
	}
	out, _, code = run("diff", "--host", "hv1")
	t.Logf("flowgate diff --host hv1 after a flow was deleted by hand:\n%s", out)
	if code != 1 || !strings.Contains(out, "set_field:192.168.100.12->tun_dst") || !strings.Contains(out, "    # ports[db1]\n") ||
		!strings.Contains(out, "1 to add, 0 to modify, 0 to delete") {
		t.Errorf("diff with db1's tunnel flow missing: exit %d, want 1 and the flow of ports[db1] to add", code)
	}

	// host without a store, and a store that does not answer: errors
	// that say so.
	_, errOut, code = runFlowgate(t, bin, nil, "diff", "--config", "/dev/null", "--ovsdb", hv1.DBEndpoint(), "--host", "hv1")
	if code != 1 || !strings.Contains(errOut, "host hv1: the overlay's port locations live in the store") {
		t.Errorf("diff --host without --store: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runFlowgate(t, bin, nil, "trace", "--config", "/dev/null", "--ovsdb", hv1.DBEndpoint(),
		"--store", "etcd://127.0.0.1:1", "--host", "hv1", "--from", "web1", "--to", "10.0.0.21", "--dport", "3306")
	if code != 1 || !strings.Contains(errOut, "etcd://127.0.0.1:1/flowgate/") {
		t.Errorf("trace with a store that does not answer: exit %d, stderr %q", code, errOut)
	}
}

func openTestStore(t *testing.T, srv *storetest.Server) *store.Store {
	t.Helper()
	s, err := store.Open(store.Config{URL: srv.URL(), Health: 200 * time.Millisecond, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
