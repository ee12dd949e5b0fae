// Package demo runs the worked example of the design notes on a testbed:
// namespaces for web1, web2, db1 and the outside world, a private OVS, and
// flowgate's controller programming it from examples/intent.yaml. It shows
// who reaches whom, checks every cell against what the intent says, and
// traces one allowed and one denied connection.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/inspect"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/pipeline"
	"github.com/flowgate/flowgate/testbed"
)

const bridge = "br-int"

// Run brings the demo up, prints it to w and tears everything down, also
// when ctx is cancelled (Ctrl-C). It fails if any check differs from the
// expected outcome.
func Run(ctx context.Context, intentPath string, w io.Writer) (err error) {
	in, err := intent.Load(intentPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "flowgate demo: the worked example (%s) on a private Open vSwitch\n\n", intentPath)
	tb, err := testbed.Start(ctx, testbed.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := tb.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		} else {
			fmt.Fprintf(w, "\ntestbed %s removed: namespaces, veths, OVS processes and files are gone\n", tb.Prefix())
		}
	}()
	hosts, err := buildTopology(ctx, tb)
	if err != nil {
		return err
	}

	var logs bytes.Buffer
	c, err := controller.New(controller.Config{
		OVSDB: tb.OVS().DBEndpoint(), Bridge: bridge, IntentPath: intentPath,
		Connect: "unix:" + tb.OVS().MgmtSocket(bridge),
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		return err
	}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	defer func() {
		stop()
		if rerr := <-done; rerr != nil {
			err = errors.Join(err, rerr)
		}
		if err != nil {
			fmt.Fprintf(w, "\ncontroller log:\n%s", logs.String())
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	err = c.WaitSynced(wctx)
	wcancel()
	if err != nil {
		return err
	}
	st := c.Status()
	fmt.Fprintf(w, "controller: bridge %s (%s datapath, fail_mode=secure), %d flows installed in one bundle, ports bound: %v\n\n",
		st.Bridge, st.Datapath, st.FlowsDesired, st.PortsBound)
	printLegend(w)

	failed := checkReachability(ctx, w, hosts)

	fmt.Fprintf(w, "\ntraces (flowgate trace = ovs-appctl ofproto/trace through conntrack, in intent terms):\n")
	b := pipeline.Bindings{}
	for name, h := range hosts {
		b[name] = h.OFPort()
	}
	for _, tc := range []struct {
		to      string
		port    uint16
		allowed bool
	}{{"10.0.0.21", 3306, true}, {"10.0.0.21", 22, false}} {
		fmt.Fprintf(w, "\n$ flowgate trace --from web1 --to %s --proto tcp --dport %d\n", tc.to, tc.port)
		res, terr := inspect.Trace(ctx, inspect.TraceRequest{Intent: in, Bindings: b, Bridge: bridge,
			Rundir: tb.OVS().Dir, From: "web1", To: netip.MustParseAddr(tc.to), Proto: "tcp", DPort: tc.port})
		if terr != nil {
			return terr
		}
		fmt.Fprint(w, res)
		if res.Allowed != tc.allowed {
			failed++
			fmt.Fprintf(w, "  ^ UNEXPECTED: want allowed=%v\n", tc.allowed)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d checks differ from what the intent says", failed)
	}
	fmt.Fprintf(w, "\nevery check matches the intent.\n")
	return nil
}

// buildTopology creates the namespaces of the worked example: the tenant
// hosts behind the router's gateway 10.0.0.1, and "uplink", the outside
// world: the upstream router 192.0.2.1 (MAC 02:00:c0:00:02:01, the
// intent's gateway_mac) with an internet server 198.51.100.10 and an admin
// workstation 203.0.113.5 on its loopback.
func buildTopology(ctx context.Context, tb *testbed.Testbed) (map[string]*testbed.Host, error) {
	sw, err := tb.AddSwitch(ctx, bridge, testbed.SwitchOpts{Secure: true})
	if err != nil {
		return nil, err
	}
	specs := []struct {
		name, mac, ip4, ip6, gw string
		ofport                  uint32
	}{
		{"web1", "02:00:0a:00:00:0b", "10.0.0.11/24", "fd00:10::11/64", "10.0.0.1", 1},
		{"web2", "02:00:0a:00:00:0c", "10.0.0.12/24", "fd00:10::12/64", "10.0.0.1", 2},
		{"db1", "02:00:0a:00:00:15", "10.0.0.21/24", "fd00:10::21/64", "10.0.0.1", 3},
		{"uplink", "02:00:c0:00:02:01", "192.0.2.1/24", "", "", 10},
	}
	hosts := map[string]*testbed.Host{}
	for _, s := range specs {
		mac, _ := net.ParseMAC(s.mac)
		opts := testbed.HostOpts{MAC: mac, OFPort: s.ofport, IPv4: netip.MustParsePrefix(s.ip4)}
		if s.ip6 != "" {
			opts.IPv6 = netip.MustParsePrefix(s.ip6)
		}
		if s.gw != "" {
			opts.Gateway4 = netip.MustParseAddr(s.gw)
		}
		h, err := tb.AddHost(ctx, s.name, opts)
		if err != nil {
			return nil, err
		}
		if err := tb.Link(ctx, h, sw); err != nil {
			return nil, err
		}
		hosts[s.name] = h
	}
	up := hosts["uplink"]
	for _, args := range [][]string{
		{"ip", "addr", "add", "198.51.100.10/32", "dev", "lo"},
		{"ip", "addr", "add", "203.0.113.5/32", "dev", "lo"},
		// The upstream routes the tenant prefix to the router, so that
		// security groups, not a missing route, decide what gets in.
		{"ip", "route", "add", "10.0.0.0/24", "via", "192.0.2.10"},
	} {
		if _, err := up.Exec(ctx, args...); err != nil {
			return nil, err
		}
	}
	for name, ports := range map[string][]uint16{"web1": {8080, 22}, "web2": {8080, 22}, "db1": {3306, 22}, "uplink": {80}} {
		for _, p := range ports {
			if _, err := hosts[name].ServeTCP(p); err != nil {
				return nil, err
			}
		}
	}
	return hosts, nil
}

func printLegend(w io.Writer) {
	fmt.Fprint(w, `the intent:
  web1 10.0.0.11, web2 10.0.0.12   group web: tcp/8080 from anywhere, tcp/22 from 203.0.113.0/24
  db1  10.0.0.21                   group db:  tcp/3306 from members of web, tcp/22 from 203.0.113.0/24
  router edge: masquerade 10.0.0.0/24 -> 192.0.2.10, floating IP 192.0.2.11 -> web1,
               port forward 192.0.2.10:2222 -> db1:22
  outside: internet server 198.51.100.10, admin workstation 203.0.113.5 (behind 192.0.2.1)

`)
}

// Path finds the example intent next to the binary's source tree or in
// the working directory.
func Path() string {
	for _, p := range []string{"examples/intent.yaml", filepath.Join("..", "..", "examples", "intent.yaml")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "examples/intent.yaml"
}
