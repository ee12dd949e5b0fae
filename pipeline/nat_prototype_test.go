package pipeline_test

// Phase-1 prototype of the router/NAT datapath: hand-written flows on a
// private userspace OVS, proven with real TCP/UDP between namespaces. The
// compiler's router stage (router*.go, nat*.go) reproduces this flow set;
// docs/router.md explains it. This test is kept until the compiled flows
// are covered by the same checks (nat_integration_test.go).

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flowgate/flowgate/testbed"
)

// Topology of the prototype (and of the integration tests):
//
//	tenant 10.0.0.0/24, gw 10.0.0.1 (router MAC 02:00:0a:00:00:01), zone 1
//	  web1 ofport 1 10.0.0.11   web2 ofport 2 10.0.0.12   db1 ofport 3 10.0.0.21
//	lab 10.0.1.0/24, gw 10.0.1.1 (router MAC 02:00:0a:00:01:01), zone 2
//	  lab1 ofport 4 10.0.1.5
//	uplink ofport 10 -> "outside" namespace: 192.0.2.1/24 (the external
//	  gateway, MAC 02:00:c0:00:02:01), loopback 198.51.100.10 (a server on
//	  the internet) and 203.0.113.5 (an admin workstation)
//	router edge: external 192.0.2.10/24 MAC 02:00:c0:00:02:0a,
//	  masquerade tenant+lab -> 192.0.2.10, floating IP web1 -> 192.0.2.11,
//	  forwards tcp 192.0.2.10:2222 -> db1:22, udp 192.0.2.10:5353 -> db1:53,
//	  tcp 192.0.2.10:8080 -> web2:8080
//	router conntrack zones: DNAT 100, SNAT 101 (separate from network zones)
//
// Registers: reg6 = network whose zone the packet is in (0xff = outside),
// reg4 = network the router routes to, reg7 = output port,
// reg5 bit 0 = the router DNATed this packet in the original direction.
const prototypeFlows = `
# 0 classifier: which network a port belongs to.
table=0,priority=100,in_port=1 actions=load:1->NXM_NX_REG6[],goto_table:5
table=0,priority=100,in_port=2 actions=load:1->NXM_NX_REG6[],goto_table:5
table=0,priority=100,in_port=3 actions=load:1->NXM_NX_REG6[],goto_table:5
table=0,priority=100,in_port=4 actions=load:2->NXM_NX_REG6[],goto_table:5
# The uplink only feeds the router: unicast to the external MAC, or ARP.
table=0,priority=100,in_port=10,dl_dst=02:00:c0:00:02:0a actions=load:0xff->NXM_NX_REG6[],goto_table:40
table=0,priority=100,in_port=10,arp actions=load:0xff->NXM_NX_REG6[],goto_table:40

# 5/6 egress ACL (stand-in for the security-group stages): track in the
# network's zone, pass est/rel, every port may send anything (egress any).
table=5,priority=100,ip actions=ct(table=6,zone=NXM_NX_REG6[0..15])
table=5,priority=0 actions=goto_table:20
table=6,priority=300,ct_state=+trk+inv,ip actions=drop
table=6,priority=200,ct_state=+trk+est,ip actions=goto_table:20
table=6,priority=200,ct_state=+trk+rel,ip actions=goto_table:20
table=6,priority=100,ct_state=+trk+new,ip actions=ct(commit,zone=NXM_NX_REG6[0..15]),goto_table:20

# 20 L2 lookup. The router answers ARP for its gateway addresses itself:
# the reply is the request turned around (swap MACs, op 2, sha/spa become
# the router's, tha/tpa the asker's) and sent back out of IN_PORT.
table=20,priority=300,arp,reg6=1,arp_op=1,arp_tpa=10.0.0.1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:02:00:0a:00:00:01,load:2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:02:00:0a:00:00:01->arp_sha,set_field:10.0.0.1->arp_spa,output:in_port
table=20,priority=300,arp,reg6=2,arp_op=1,arp_tpa=10.0.1.1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:02:00:0a:00:01:01,load:2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:02:00:0a:00:01:01->arp_sha,set_field:10.0.1.1->arp_spa,output:in_port
# A frame to the gateway MAC is for the router.
table=20,priority=200,reg6=1,dl_dst=02:00:0a:00:00:01 actions=goto_table:40
table=20,priority=200,reg6=2,dl_dst=02:00:0a:00:01:01 actions=goto_table:40
table=20,priority=100,reg6=1,dl_dst=02:00:0a:00:00:0b actions=load:1->NXM_NX_REG7[],goto_table:30
table=20,priority=100,reg6=1,dl_dst=02:00:0a:00:00:0c actions=load:2->NXM_NX_REG7[],goto_table:30
table=20,priority=100,reg6=1,dl_dst=02:00:0a:00:00:15 actions=load:3->NXM_NX_REG7[],goto_table:30
table=20,priority=100,reg6=2,dl_dst=02:00:0a:00:01:05 actions=load:4->NXM_NX_REG7[],goto_table:30
table=20,priority=50,reg6=1,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=output:1,output:2,output:3
table=20,priority=50,reg6=2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=output:4

# 29 re-entry from the router: the packet now belongs to the destination
# network and is tracked again in that network's zone, with its post-DNAT
# (internal) addresses, so the ingress ACL judges what the port receives.
table=29,priority=100,ip actions=ct(table=30,zone=NXM_NX_REG6[0..15])
# 30 ingress ACL (stand-in for the security groups of the worked example).
table=30,priority=300,ct_state=+trk+inv,ip actions=drop
table=30,priority=200,ct_state=+trk+est,ip actions=output:NXM_NX_REG7[]
table=30,priority=200,ct_state=+trk+rel,ip actions=output:NXM_NX_REG7[]
table=30,priority=100,ct_state=+trk+new,tcp,reg7=1,tp_dst=8080 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:NXM_NX_REG7[]
table=30,priority=100,ct_state=+trk+new,tcp,reg7=1,nw_src=203.0.113.0/24,tp_dst=22 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:NXM_NX_REG7[]
table=30,priority=100,ct_state=+trk+new,tcp,reg7=2,tp_dst=8080 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:NXM_NX_REG7[]
table=30,priority=100,ct_state=+trk+new,tcp,reg7=3,nw_src=10.0.0.11,tp_dst=3306 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:NXM_NX_REG7[]
table=30,priority=100,ct_state=+trk+new,tcp,reg7=3,nw_src=10.0.0.12,tp_dst=3306 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:NXM_NX_REG7[]
table=30,priority=100,ct_state=+trk+new,tcp,reg7=3,nw_src=203.0.113.0/24,tp_dst=22 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:NXM_NX_REG7[]
table=30,priority=100,ct_state=+trk+new,udp,reg7=3,tp_dst=53 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:NXM_NX_REG7[]
table=30,priority=100,ct_state=+trk+new,tcp,reg7=4,nw_src=10.0.0.0/24,tp_dst=9000 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:NXM_NX_REG7[]
table=30,priority=50,arp actions=output:NXM_NX_REG7[]

# 40 router input. ARP for the external and floating addresses is answered
# on the uplink, so the outside world can reach them.
table=40,priority=300,arp,in_port=10,arp_op=1,arp_tpa=192.0.2.10 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:02:00:c0:00:02:0a,load:2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:02:00:c0:00:02:0a->arp_sha,set_field:192.0.2.10->arp_spa,output:in_port
table=40,priority=300,arp,in_port=10,arp_op=1,arp_tpa=192.0.2.11 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:02:00:c0:00:02:0a,load:2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:02:00:c0:00:02:0a->arp_sha,set_field:192.0.2.11->arp_spa,output:in_port
# A packet from an internal port still carries the ct_state of its own
# network zone here. +rpl there means it answers a connection opened from
# the other side (e.g. routed in from the outside without NAT): remember it
# in reg5[1] so that SNAT never mistakes it for a new outbound connection
# (the SNAT zone has not seen that connection and would call it +new).
table=40,priority=100,ct_state=+trk+rpl,ip actions=load:1->NXM_NX_REG5[1],goto_table:41
table=40,priority=50,ip actions=goto_table:41
# 41 UNSNAT: only packets addressed to a router-owned external address can
# be replies of a SNATed connection; tracking every packet in the SNAT zone
# here would translate outbound packets before the DNAT zone sees them.
table=41,priority=100,ip,nw_dst=192.0.2.10 actions=ct(table=42,zone=101,nat)
table=41,priority=100,ip,nw_dst=192.0.2.11 actions=ct(table=42,zone=101,nat)
table=41,priority=0,ip actions=goto_table:42
# 42 DNAT zone: un-DNATs replies of DNATed connections and applies the
# mapping of established ones; new connections are decided in 43.
table=42,priority=100,ip actions=ct(table=43,zone=100,nat)
# 43 DNAT decision. reg5[0] remembers "DNATed in the original direction"
# for the hairpin SNAT in 46, because the SNAT zone's ct() will overwrite
# ct_state.
table=43,priority=300,ct_state=+trk+dnat-rpl,ip actions=load:1->NXM_NX_REG5[0],goto_table:44
table=43,priority=200,ct_state=+trk+new,ip,nw_dst=192.0.2.11 actions=load:1->NXM_NX_REG5[0],ct(commit,table=44,zone=100,nat(dst=10.0.0.11))
table=43,priority=200,ct_state=+trk+new,tcp,nw_dst=192.0.2.10,tp_dst=2222 actions=load:1->NXM_NX_REG5[0],ct(commit,table=44,zone=100,nat(dst=10.0.0.21:22))
table=43,priority=200,ct_state=+trk+new,udp,nw_dst=192.0.2.10,tp_dst=5353 actions=load:1->NXM_NX_REG5[0],ct(commit,table=44,zone=100,nat(dst=10.0.0.21:53))
table=43,priority=200,ct_state=+trk+new,tcp,nw_dst=192.0.2.10,tp_dst=8080 actions=load:1->NXM_NX_REG5[0],ct(commit,table=44,zone=100,nat(dst=10.0.0.12:8080))
table=43,priority=0 actions=goto_table:44
# 44 routing, longest prefix first by priority. A router address still
# untranslated here matched no DNAT rule: drop it rather than route it
# back out of the uplink.
table=44,priority=300,ip,nw_dst=192.0.2.10 actions=drop
table=44,priority=300,ip,nw_dst=192.0.2.11 actions=drop
table=44,priority=300,ip,nw_dst=10.0.0.1 actions=drop
table=44,priority=300,ip,nw_dst=10.0.1.1 actions=drop
table=44,priority=224,ip,nw_dst=10.0.0.0/24 actions=dec_ttl,mod_dl_src:02:00:0a:00:00:01,load:1->NXM_NX_REG4[],goto_table:45
table=44,priority=224,ip,nw_dst=10.0.1.0/24 actions=dec_ttl,mod_dl_src:02:00:0a:00:01:01,load:2->NXM_NX_REG4[],goto_table:45
table=44,priority=100,ip actions=dec_ttl,mod_dl_src:02:00:c0:00:02:0a,mod_dl_dst:02:00:c0:00:02:01,load:0xff->NXM_NX_REG4[],goto_table:46
# 45 neighbours: the compiler knows every port's IP and MAC, no ARP needed.
table=45,priority=100,ip,reg4=1,nw_dst=10.0.0.11 actions=mod_dl_dst:02:00:0a:00:00:0b,load:1->NXM_NX_REG7[],goto_table:46
table=45,priority=100,ip,reg4=1,nw_dst=10.0.0.12 actions=mod_dl_dst:02:00:0a:00:00:0c,load:2->NXM_NX_REG7[],goto_table:46
table=45,priority=100,ip,reg4=1,nw_dst=10.0.0.21 actions=mod_dl_dst:02:00:0a:00:00:15,load:3->NXM_NX_REG7[],goto_table:46
table=45,priority=100,ip,reg4=2,nw_dst=10.0.1.5 actions=mod_dl_dst:02:00:0a:00:01:05,load:4->NXM_NX_REG7[],goto_table:46
# 46 SNAT. Toward the outside: track in the SNAT zone (applies the mapping
# of established connections) and decide in 47. Hairpin: a packet DNATed
# by the router that goes back into the network it came from must also be
# SNATed to the external address, or the target would answer the client
# directly (same L2) with its internal address and the client would reset.
table=46,priority=200,ip,reg4=0xff actions=ct(table=47,zone=101,nat)
table=46,priority=150,ip,reg4=1,reg6=1,reg5=0x1/0x1 actions=ct(commit,table=48,zone=101,nat(src=192.0.2.10))
table=46,priority=150,ip,reg4=2,reg6=2,reg5=0x1/0x1 actions=ct(commit,table=48,zone=101,nat(src=192.0.2.10))
table=46,priority=0 actions=goto_table:48
# 47 SNAT decision for new outbound connections: a port's floating IP wins
# over its network's masquerade address.
table=47,priority=300,reg5=0x2/0x2 actions=goto_table:48
table=47,priority=200,ct_state=+trk+new,ip,nw_src=10.0.0.11 actions=ct(commit,zone=101,nat(src=192.0.2.11)),goto_table:48
table=47,priority=100,ct_state=+trk+new,ip,nw_src=10.0.0.0/24 actions=ct(commit,zone=101,nat(src=192.0.2.10:1024-65535)),goto_table:48
table=47,priority=100,ct_state=+trk+new,ip,nw_src=10.0.1.0/24 actions=ct(commit,zone=101,nat(src=192.0.2.10:1024-65535)),goto_table:48
table=47,priority=0 actions=goto_table:48
# 48 router output: the uplink, or back into a network at its ingress ACL
# (resubmit: OpenFlow goto_table only moves forward).
table=48,priority=100,reg4=0xff actions=output:10
table=48,priority=100,reg4=1 actions=move:NXM_NX_REG4[]->NXM_NX_REG6[],resubmit(,29)
table=48,priority=100,reg4=2 actions=move:NXM_NX_REG4[]->NXM_NX_REG6[],resubmit(,29)
`

// natLab is the prototype topology, started on a private OVS.
type natLab struct {
	ovs                         *testbed.OVS
	web1, web2, db1, lab1, outs *nsHost
}

const labBridge = "br-int"

func newNATLab(t *testing.T) *natLab {
	t.Helper()
	o, _ := testbed.NewOVSInNetns(t, fmt.Sprintf("fgr-sw%d", nsSerial.Add(1)))
	ctx := context.Background()
	if _, err := o.Vsctl(ctx, "add-br", labBridge, "--", "set", "Bridge", labBridge,
		"datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13"); err != nil {
		t.Fatalf("add bridge: %v", err)
	}
	l := &natLab{ovs: o}
	l.web1 = addHost(t, o, labBridge, "web1", 1, "02:00:0a:00:00:0b", []string{"10.0.0.11/24"}, "10.0.0.1")
	l.web2 = addHost(t, o, labBridge, "web2", 2, "02:00:0a:00:00:0c", []string{"10.0.0.12/24"}, "10.0.0.1")
	l.db1 = addHost(t, o, labBridge, "db1", 3, "02:00:0a:00:00:15", []string{"10.0.0.21/24"}, "10.0.0.1")
	l.lab1 = addHost(t, o, labBridge, "lab1", 4, "02:00:0a:00:01:05", []string{"10.0.1.5/24"}, "10.0.1.1")
	l.outs = addHost(t, o, labBridge, "uplink", 10, "02:00:c0:00:02:01", []string{"192.0.2.1/24"}, "")
	l.outs.exec(t, "ip", "addr", "add", "198.51.100.10/32", "dev", "lo")
	l.outs.exec(t, "ip", "addr", "add", "203.0.113.5/32", "dev", "lo")
	// An upstream that routes the internal prefixes to the router, so that
	// security groups, not a missing route, decide what the outside reaches.
	l.outs.exec(t, "ip", "route", "add", "10.0.0.0/16", "via", "192.0.2.10")

	l.web1.serveTCP(t, ":8080")
	l.web1.serveTCP(t, ":22")
	l.web2.serveTCP(t, ":8080")
	l.db1.serveTCP(t, ":22")
	l.db1.serveTCP(t, ":3306")
	l.db1.serveUDP(t, ":53")
	l.lab1.serveTCP(t, ":9000")
	l.outs.serveTCP(t, "198.51.100.10:80")
	l.outs.serveUDP(t, "198.51.100.10:7")
	return l
}

// install replaces the bridge's flows with text (ovs-ofctl add-flows
// syntax) in one bundle.
func (l *natLab) install(t *testing.T, text string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flows.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ovs.Ofctl(context.Background(), "--bundle", "replace-flows", "unix:"+l.ovs.MgmtSocket(labBridge), path); err != nil {
		t.Fatalf("install flows: %v", err)
	}
}

func (l *natLab) logConntrack(t *testing.T) {
	t.Helper()
	out, err := l.ovs.Appctl(context.Background(), "dpctl/dump-conntrack")
	if err != nil {
		t.Errorf("dump-conntrack: %v", err)
		return
	}
	t.Logf("ovs-appctl dpctl/dump-conntrack:\n%s", out)
}

func TestNATPrototype(t *testing.T) {
	l := newNATLab(t)
	l.install(t, prototypeFlows)
	checkRouterBehaviour(t, l)
	l.logConntrack(t)
}

// checkRouterBehaviour is the behaviour every router flow set must show on
// the lab topology: the prototype and the compiled pipeline alike.
func checkRouterBehaviour(t *testing.T, l *natLab) {
	t.Run("routing between internal networks", func(t *testing.T) {
		expectSeenAs(t, l.lab1, "", "10.0.0.11:8080", "10.0.1.5")
		expectSeenAs(t, l.web1, "", "10.0.1.5:9000", "10.0.0.11")
		// lab1's group accepts only tenant sources on 9000; the router must
		// not let the outside in just because it routes.
		expectSeenAs(t, l.outs, "198.51.100.10:0", "10.0.0.11:8080", "198.51.100.10")
		expectRefused(t, l.outs, "198.51.100.10:0", "10.0.1.5:9000")
		// The router is one hop: TTL 1 dies there, TTL 2 arrives.
		if c, _, err := l.lab1.dialTCPTTL("", "10.0.0.11:8080", 1); err == nil {
			c.Close()
			t.Errorf("lab1 -> web1 with TTL 1 connected; the router must decrement the TTL and drop at zero")
		}
		c, _, err := l.lab1.dialTCPTTL("", "10.0.0.11:8080", 2)
		if err != nil {
			t.Errorf("lab1 -> web1 with TTL 2: %v", err)
		} else {
			c.Close()
		}
		gwMAC := l.web1.exec(t, "ip", "neigh", "show", "10.0.0.1")
		if !strings.Contains(gwMAC, "02:00:0a:00:00:01") {
			t.Errorf("web1 resolved its gateway 10.0.0.1 to %q, want the router MAC 02:00:0a:00:00:01", gwMAC)
		}
	})
	t.Run("masquerade tcp", func(t *testing.T) {
		// Two hosts at once: both connections are open while the server
		// records their sources, so both mappings coexist in conntrack.
		var wg sync.WaitGroup
		seen := make([]string, 2)
		errs := make([]error, 2)
		conns := make([]net.Conn, 2)
		for i, h := range []*nsHost{l.web2, l.db1} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conns[i], seen[i], errs[i] = h.dialTCP("", "198.51.100.10:80")
			}()
		}
		wg.Wait()
		for i := range conns {
			if errs[i] != nil {
				t.Fatalf("masquerade: %v", errs[i])
			}
			defer conns[i].Close()
		}
		t.Logf("server saw web2 as %s and db1 as %s", seen[0], seen[1])
		for _, s := range seen {
			if host(s) != "192.0.2.10" {
				t.Errorf("server saw %s, want the masquerade address 192.0.2.10", s)
			}
		}
		if seen[0] == seen[1] {
			t.Errorf("both clients share %s: masquerade must give them distinct source ports", seen[0])
		}
	})
	t.Run("masquerade udp", func(t *testing.T) {
		got, err := l.web2.askUDP("", "198.51.100.10:7")
		if err != nil {
			t.Fatal(err)
		}
		if host(got) != "192.0.2.10" {
			t.Errorf("UDP server saw %s, want 192.0.2.10", got)
		}
	})
	t.Run("floating ip inbound", func(t *testing.T) {
		expectSeenAs(t, l.outs, "198.51.100.10:0", "192.0.2.11:8080", "198.51.100.10")
		// web1's group allows ssh only from the admin network.
		expectSeenAs(t, l.outs, "203.0.113.5:0", "192.0.2.11:22", "203.0.113.5")
		expectRefused(t, l.outs, "198.51.100.10:0", "192.0.2.11:22")
	})
	t.Run("floating ip outbound", func(t *testing.T) {
		expectSeenAs(t, l.web1, "", "198.51.100.10:80", "192.0.2.11")
	})
	t.Run("port forward", func(t *testing.T) {
		expectSeenAs(t, l.outs, "203.0.113.5:0", "192.0.2.10:2222", "203.0.113.5")
		// db's group allows 22 only from the admin network.
		expectRefused(t, l.outs, "198.51.100.10:0", "192.0.2.10:2222")
		expectSeenAs(t, l.outs, "198.51.100.10:0", "192.0.2.10:8080", "198.51.100.10")
		got, err := l.outs.askUDP("198.51.100.10:0", "192.0.2.10:5353")
		if err != nil {
			t.Fatal(err)
		}
		if host(got) != "198.51.100.10" {
			t.Errorf("db1 saw the UDP forward from %s, want 198.51.100.10", got)
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		expectSeenAs(t, l.web2, "", "192.0.2.11:8080", "192.0.2.10")
		expectSeenAs(t, l.web1, "", "192.0.2.10:8080", "192.0.2.10")
		got, err := l.web2.askUDP("", "192.0.2.10:5353")
		if err != nil {
			t.Fatal(err)
		}
		if host(got) != "192.0.2.10" {
			t.Errorf("db1 saw the hairpinned UDP forward from %s, want 192.0.2.10", got)
		}
	})
}

func host(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

// expectSeenAs connects from h and checks the source address the server saw.
func expectSeenAs(t *testing.T, h *nsHost, laddr, raddr, wantSrc string) {
	t.Helper()
	got, err := h.askTCP(laddr, raddr)
	if err != nil {
		t.Errorf("%s -> %s: %v", h.Name, raddr, err)
		return
	}
	if host(got) != wantSrc {
		t.Errorf("%s -> %s: server saw %s, want source %s", h.Name, raddr, got, wantSrc)
	}
}

// expectRefused checks that a connection from h to raddr does not complete.
func expectRefused(t *testing.T, h *nsHost, laddr, raddr string) {
	t.Helper()
	if got, err := h.askTCP(laddr, raddr); err == nil {
		t.Errorf("%s -> %s: connected (server saw %s), want it refused", h.Name, raddr, got)
	}
}
