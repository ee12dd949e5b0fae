package openflow

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/testbed"
)

// arpFrame is an ARP request from 02:00:00:00:00:01 (10.0.0.1) for 10.0.0.2.
func arpFrame() []byte {
	b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
		0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}
	return append(b, make([]byte, 60-len(b))...)
}

// TestPacketInAndOutOnOVS: a frame that a controller action sends up
// arrives on PacketIns with its port, cookie and bytes, over the
// management socket (a service connection, which gets packet-ins only
// because the session asks); a PacketOut leaves by the port it names.
func TestPacketInAndOutOnOVS(t *testing.T) {
	o := newBridge(t)
	ctx := testContext(t)
	for _, p := range []string{"d1", "d2"} {
		if _, err := o.Vsctl(ctx, "add-port", "br0", p, "--", "set", "interface", p, "type=dummy",
			"ofport_request="+p[1:]); err != nil {
			t.Fatal(err)
		}
	}
	s := dialMgmt(t, o)
	up := flows.Flow{Priority: 10, Cookie: 0x77, Match: flows.Match{InPort: 1, EthType: flows.EthTypeARP},
		Actions: []flows.Action{flows.Controller{Reason: flows.PacketInAction}}}
	if err := s.Apply(ctx, flows.ChangeSet{Add: []flows.Flow{up}}); err != nil {
		t.Fatal(err)
	}
	frame := arpFrame()
	if _, err := o.Appctl(ctx, "netdev-dummy/receive", "d1", hex.EncodeToString(frame)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-s.PacketIns():
		if p.InPort != 1 || p.Cookie != 0x77 || p.Reason != flows.PacketInAction || !bytes.Equal(p.Data, frame) {
			t.Errorf("packet-in = %+v, want in_port 1, cookie 0x77, reason action and the frame", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no packet-in within 5 s")
	}

	before := txPackets(t, o, "2")
	if err := s.PacketOut(ctx, 2, frame); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for txPackets(t, o, "2") == before {
		if time.Now().After(deadline) {
			t.Fatal("the packet-out never left d2")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// txPackets is the tx_pkts counter of OpenFlow port port of br0, read
// live (OVSDB's statistics column lags by seconds).
func txPackets(t *testing.T, o *testbed.OVS, port string) string {
	t.Helper()
	out, err := o.Ofctl(testContext(t), "-O", "OpenFlow13", "dump-ports", "br0", port)
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(out, "tx pkts="); i >= 0 {
		return strings.Fields(out[i+len("tx pkts="):])[0]
	}
	t.Fatalf("no tx counter in %q", out)
	return ""
}
