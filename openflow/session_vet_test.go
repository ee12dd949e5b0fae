package openflow

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/testbed"
)

// dialInNetns connects to addr from inside o's ovs-vswitchd namespace,
// where a test listener lives.
func dialInNetns(t *testing.T, o *testbed.OVS, addr string) net.Conn {
	t.Helper()
	var nc net.Conn
	if err := testbed.InNetns(o.Netns, func() (err error) {
		nc, err = net.DialTimeout("tcp", addr, time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// impostor answers the controller's handshake as a switch with datapath
// id dpid would, then counts the messages it is sent until nc closes.
func impostor(nc net.Conn, dpid uint64) (received int, err error) {
	hello, _ := finishMessage(ofpHeader(ofptHello, 1))
	if _, err := nc.Write(hello); err != nil {
		return 0, err
	}
	br := bufio.NewReader(nc)
	for {
		m, err := readMsg(br)
		if err != nil {
			return received, err
		}
		switch m.typ {
		case ofptHello:
		case ofptFeaturesRequest:
			reply := ofpHeader(ofptFeaturesReply, m.xid)
			reply = binary.BigEndian.AppendUint64(reply, dpid)
			reply = append(reply, make([]byte, 16)...)
			reply, _ = finishMessage(reply)
			if _, err := nc.Write(reply); err != nil {
				return received, err
			}
		default:
			received++
		}
	}
}

func bridgeDatapathID(t *testing.T, ctx context.Context, o *testbed.OVS) uint64 {
	t.Helper()
	for {
		out, err := o.Vsctl(ctx, "get", "Bridge", "br0", "datapath_id")
		if err == nil {
			if id, err := strconv.ParseUint(strings.Trim(out, "\"\n "), 16, 64); err == nil {
				return id
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("bridge br0 has no datapath_id: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A listening session vets every connection: a peer that announces
// another datapath id is refused and never counts as connected, idle
// strangers cost only their own handshake deadline, and the real switch
// connects (and, after a crash, gets its flows back) while they wait.
func TestSessionVetsAcceptedConnectionsOnOVS(t *testing.T) {
	// Strangers vetted one after the other would hold the real switch
	// for at least one of their deadlines: a switch served within one
	// deadline was vetted beside them. (The test logs the time it took,
	// milliseconds on an idle machine; the bound is the behaviour, not a
	// speed target, so a slow shared machine does not break it.)
	const deadline = 2 * time.Second
	o := newBridge(t)
	ctx := testContext(t)
	real := bridgeDatapathID(t, ctx, o)
	ln, target := listenForSwitch(t, o)
	addr := ln.Addr().String()
	s := runSession(t, SessionConfig{Listener: ln, HandshakeTimeout: deadline,
		VerifySwitch: func(_ context.Context, dpid uint64) error {
			if dpid != real {
				return fmt.Errorf("not the datapath of br0 (%016x)", real)
			}
			return nil
		}})

	// A fake switch with the wrong datapath id: refused, nothing sent.
	fake := dialInNetns(t, o, addr)
	fake.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := impostor(fake, real^1)
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Errorf("the fake switch was kept open until its deadline; want it closed after the handshake")
	}
	if got != 0 || s.Connected() || s.Stats().Connects != 0 {
		t.Fatalf("fake switch: %d messages, connected %v, %d connects; want none", got, s.Connected(), s.Stats().Connects)
	}

	// Three idle strangers wait; the real switch connects at once.
	for range 3 {
		dialInNetns(t, o, addr)
	}
	start := time.Now()
	if _, err := o.Vsctl(ctx, "set-controller", "br0", target); err != nil {
		t.Fatal(err)
	}
	y, _ := startSyncer(t, s)
	desired := manyFlows(500)
	if _, err := y.SetDesired(ctx, desired); err != nil {
		t.Fatal(err)
	}
	t.Logf("with three idle strangers on the listener the switch connected and took %d flows in %v", len(desired), time.Since(start))
	if d := time.Since(start); d >= deadline {
		t.Errorf("first install took %v with idle strangers waiting; want within one handshake deadline (%v)", d, deadline)
	}

	// vswitchd crashes; three new strangers connect before it is back.
	if err := o.KillVswitchd(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		dialInNetns(t, o, addr)
	}
	if err := o.StartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for {
		out, err := o.Ofctl(ctx, "dump-flows", "br0", "--no-stats")
		if err == nil && len(splitLines(out)) == len(desired) {
			break
		}
		if time.Since(restarted) > 10*time.Second {
			t.Fatalf("flows not back 10 s after the restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(restarted)
	t.Logf("with three idle strangers, all %d flows back %v after ovs-vswitchd restarted", len(desired), took)
	if took >= deadline {
		t.Errorf("flows back %v after the restart; want within one handshake deadline (%v)", took, deadline)
	}
	if st := s.Stats(); st.Connects != 2 {
		t.Errorf("%d connects, want 2 (the real switch, twice)", st.Connects)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
