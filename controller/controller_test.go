package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/testbed"
)

// The reachability of the worked example, as the controller programs it.
// Rows are sources, columns destinations; every host serves 22, 8080 and
// 3306, so only the security groups decide.
var workedExpected = map[string]string{
	"ping4 ping6": `
	         web1  web2  db1  admin  outside
	web1     .     --    --   --     --
	web2     --    .     --   --     --
	db1      --    --    .    --     --
	admin    ok    ok    --   .      --
	outside  --    --    --   --     .`,
	"tcp4/22": `
	         web1  web2  db1  admin  outside
	web1     .     --    --   --     --
	web2     --    .     --   --     --
	db1      --    --    .    --     --
	admin    ok    ok    ok   .      --
	outside  --    --    --   --     .`,
	"tcp6/22": `
	         web1  web2  db1  admin  outside
	web1     .     --    --   --     --
	web2     --    .     --   --     --
	db1      --    --    .    --     --
	admin    --    --    --   .      --
	outside  --    --    --   --     .`,
	"tcp4/8080 tcp6/8080": `
	         web1  web2  db1  admin  outside
	web1     .     ok    --   --     --
	web2     ok    .     --   --     --
	db1      ok    ok    .    --     --
	admin    ok    ok    --   .      --
	outside  ok    ok    --   --     .`,
	"tcp4/3306 tcp6/3306": `
	         web1  web2  db1  admin  outside
	web1     .     --    ok   --     --
	web2     --    .     ok   --     --
	db1      --    --    .    --     --
	admin    --    --    --   .      --
	outside  --    --    --   --     .`,
}

func expectedFor(t *testing.T, probe string) *testbed.Table {
	t.Helper()
	for names, text := range workedExpected {
		for _, n := range strings.Fields(names) {
			if n == probe {
				tbl, err := testbed.ParseTable(text)
				if err != nil {
					t.Fatal(err)
				}
				return tbl
			}
		}
	}
	t.Fatalf("no expected table for %s", probe)
	return nil
}

// The full matrix for ICMP, ssh, 8080 and 3306 over IPv4 and IPv6 equals
// the worked example's: replies of allowed connections pass (every "ok"
// is a full echo exchange), the reverse direction cannot open one, and
// nothing else gets through.
func TestWorkedExampleMatrixOnOVS(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	probes := []testbed.Probe{
		testbed.PingProbe(testbed.IPv4), testbed.PingProbe(testbed.IPv6),
		testbed.TCPProbe(testbed.IPv4, 22), testbed.TCPProbe(testbed.IPv6, 22),
		testbed.TCPProbe(testbed.IPv4, 8080), testbed.TCPProbe(testbed.IPv6, 8080),
		testbed.TCPProbe(testbed.IPv4, 3306), testbed.TCPProbe(testbed.IPv6, 3306),
	}
	for _, p := range probes {
		got, err := testbed.Matrix(ctx, l.order, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s:\n%s", p.Name, got)
		for _, d := range got.Diff(expectedFor(t, p.Name)) {
			t.Errorf("%s: %s", p.Name, d)
		}
	}
	st := l.ctrl.Status()
	t.Logf("controller: %d flows for %d bound ports (%v unbound), last apply %+v",
		st.FlowsDesired, len(st.PortsBound), st.PortsUnbound, *st.LastApply)
	if len(st.PortsUnbound) != 0 {
		t.Errorf("ports unbound: %v", st.PortsUnbound)
	}
}

// Live changes through the intent file: removing a rule cuts the sessions
// it allowed (and only those), a port joining a remote group reaches what
// the group may reach without disturbing anything else, and a broken file
// is refused with the flows left as they were.
func TestIntentChangesOnLiveTrafficOnOVS(t *testing.T) {
	l := newLab(t)
	doc := readTestdata(t, "worked.yaml")
	adminSSH := l.session("admin", "db1", 22)
	webSSH := l.session("admin", "web1", 22)
	webDB := l.session("web1", "db1", 3306)

	// Remove db's ssh rule.
	sshRule := `      - {direction: ingress, protocol: tcp, ports: "22", remote_cidr: 203.0.113.0/24}
      - {direction: egress, protocol: any, ethertype: ipv4}
      - {direction: egress, protocol: any, ethertype: ipv6}
  - name: client`
	if !strings.Contains(doc, sshRule) {
		t.Fatal("testdata/worked.yaml changed: db's ssh rule not found")
	}
	doc = strings.Replace(doc, sshRule, strings.SplitN(sshRule, "\n", 2)[1], 1)
	st, took := l.changeIntent(doc)
	cutStart := time.Now()
	alive := adminSSH.Alive()
	t.Logf("rule removed: applied %v after the file was written (%d flow-mods, %s); session check took %v",
		took, st.LastApply.FlowMods, st.LastApply.Duration, time.Since(cutStart))
	if alive {
		t.Error("admin -> db1:22 survived the removal of the rule that allowed it")
	}
	if !webSSH.Alive() {
		t.Error("admin -> web1:22 died although web's ssh rule stayed")
	}
	if !webDB.Alive() {
		t.Error("web1 -> db1:3306 died although its rule stayed")
	}
	l.expectTCP("admin", "db1", false, 22, testbed.TimedOut)

	// admin joins group web: it reaches db1:3306, nothing else is cut.
	l.expectTCP("admin", "db1", false, 3306, testbed.TimedOut)
	before := strings.Count(doc, "security_groups: [client]")
	doc = strings.Replace(doc, `allowed_address_pairs: [{ip: 203.0.113.5/32}, {ip: "2001:db8:113::5/128"}]
    security_groups: [client]`, `allowed_address_pairs: [{ip: 203.0.113.5/32}, {ip: "2001:db8:113::5/128"}]
    security_groups: [client, web]`, 1)
	if strings.Count(doc, "security_groups: [client]") != before-1 {
		t.Fatal("testdata/worked.yaml changed: admin's groups not found")
	}
	st, took = l.changeIntent(doc)
	t.Logf("admin joined web: applied %v after the write; %d added, %d modified, %d deleted, %d flow-mods of %d flows",
		took, st.LastApply.Added, st.LastApply.Modified, st.LastApply.Deleted, st.LastApply.FlowMods, st.LastApply.Flows)
	if st.LastApply.FlowMods == 0 || st.LastApply.FlowMods >= uint64(st.LastApply.Flows)/2 {
		t.Errorf("a membership change cost %d flow-mods of %d flows; want a few", st.LastApply.FlowMods, st.LastApply.Flows)
	}
	l.expectTCP("admin", "db1", false, 3306, testbed.OK)
	l.expectTCP("admin", "db1", true, 3306, testbed.OK)
	if !webDB.Alive() || !webSSH.Alive() {
		t.Error("a session that the membership change does not touch died")
	}

	// A broken document is refused whole; traffic is unchanged.
	mods := l.ctrl.Status().LastApply.FlowMods
	broken := strings.Replace(doc, "remote_group: web, ethertype: ipv4", "remote_group: wbe, ethertype: ipv4", 1)
	st, _ = l.changeIntent(broken)
	if st.LastReload == nil || len(st.LastReload.Problems) == 0 {
		t.Fatalf("broken intent: want a refused reload with problems, status %+v", st)
	}
	t.Logf("broken intent refused: %v", st.LastReload.Problems)
	if want := `security_groups[db].rules[0].remote_group: unknown group "wbe"`; !strings.Contains(strings.Join(st.LastReload.Problems, "\n"), want) {
		t.Errorf("problems %q do not name %q", st.LastReload.Problems, want)
	}
	if got := l.ctrl.Status().LastApply.FlowMods; got != mods {
		t.Errorf("the broken intent changed the flows (%d flow-mods)", got)
	}
	l.expectTCP("admin", "db1", false, 3306, testbed.OK)
	if !webDB.Alive() {
		t.Error("web1 -> db1:3306 died when a broken intent was refused")
	}
}

// Anti-spoofing with crafted traffic: another port's IP, another port's
// MAC, and answering ARP for another port's address all get nowhere.
func TestSpoofedTrafficGetsNowhereOnOVS(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	web2 := l.hosts["web2"]
	mustExec := func(h *testbed.Host, args ...string) string {
		t.Helper()
		out, err := h.Exec(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// web2 claims db1's address as well: ARP for it gets no answer from
	// web2 (db1 is down), and sending from it reaches nobody.
	mustExec(l.hosts["db1"], "ip", "link", "set", "eth0", "down")
	mustExec(web2, "ip", "addr", "add", "10.0.0.21/32", "dev", "eth0")
	res, err := testbed.Ping(ctx, l.hosts["web1"], l.hosts["db1"].IP4())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != testbed.TimedOut {
		t.Errorf("web1 ping db1's address with db1 down and web2 claiming it: %s, want timed out", res.Outcome)
	}
	neigh := mustExec(l.hosts["web1"], "ip", "neigh", "show", "10.0.0.21")
	t.Logf("web1's neighbour entry for 10.0.0.21: %q", strings.TrimSpace(neigh))
	if strings.Contains(neigh, web2.MAC().String()) {
		t.Errorf("web2's ARP reply for db1's address got through: %s", neigh)
	}

	// Sending from db1's address: web1:8080 allows anyone, yet nothing
	// arrives (the source is bound to db1's port).
	mustExec(web2, "ip", "addr", "flush", "dev", "eth0", "scope", "global")
	mustExec(web2, "ip", "addr", "add", "10.0.0.21/24", "dev", "eth0")
	l.expectTCP("web2", "web1", false, 8080, testbed.TimedOut)

	// Its own address, but db1's MAC.
	mustExec(web2, "ip", "addr", "flush", "dev", "eth0", "scope", "global")
	mustExec(web2, "ip", "addr", "add", "10.0.0.12/24", "dev", "eth0")
	l.expectTCP("web2", "web1", false, 8080, testbed.OK) // the baseline: back to normal
	mustExec(web2, "ip", "link", "set", "eth0", "address", "02:00:0a:00:00:15")
	l.expectTCP("web2", "web1", false, 8080, testbed.TimedOut)
}

// A controller restarted with the same intent changes nothing (zero
// flow-mods), and an ovs-vswitchd killed with SIGKILL gets every flow back
// when it comes up again.
func TestRestartsOnOVS(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	desired := l.ctrl.Status().FlowsDesired

	l.halt()
	l.start()
	st := l.ctrl.Status()
	t.Logf("controller restart: %d flows, first apply %d flow-mods", st.FlowsDesired, st.LastApply.FlowMods)
	if st.LastApply.FlowMods != 0 {
		t.Errorf("restart with an unchanged intent issued %d flow-mods, want 0", st.LastApply.FlowMods)
	}

	o := l.tb.OVS()
	if err := o.KillVswitchd(); err != nil {
		t.Fatal(err)
	}
	if err := o.StartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	var n int
	for time.Since(restarted) < 30*time.Second {
		out, err := o.Ofctl(ctx, "-O", "OpenFlow13", "dump-flows", labBridge, "--no-stats")
		if err == nil {
			if fs, _, err := flows.ParseDump(out); err == nil {
				n = len(fs)
			}
			if n >= desired {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("ovs-vswitchd kill -9 and restart: %d of %d flows back %v after it started\n", n, desired, time.Since(restarted))
	if n != desired {
		t.Fatalf("after the vswitchd restart %d flows are installed, want %d", n, desired)
	}
	l.expectTCP("web1", "db1", false, 3306, testbed.OK)
	l.expectTCP("admin", "db1", false, 3306, testbed.TimedOut)
}
