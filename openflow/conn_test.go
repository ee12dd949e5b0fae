package openflow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// fakeSwitch is the switch side of a net.Pipe: enough OpenFlow to get
// through the handshake, then raw message exchange.
type fakeSwitch struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (f *fakeSwitch) send(typ uint8, xid uint32, body []byte) {
	f.t.Helper()
	msg, _ := finishMessage(append(ofpHeader(typ, xid), body...))
	if _, err := f.nc.Write(msg); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSwitch) recv() ofMsg {
	f.t.Helper()
	f.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := readMsg(f.br)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// connectFake runs the handshake between newOFConn and a fake switch.
func connectFake(t *testing.T) (*ofConn, *fakeSwitch) {
	ctrl, sw := net.Pipe()
	t.Cleanup(func() { ctrl.Close(); sw.Close() })
	f := &fakeSwitch{t: t, nc: sw, br: bufio.NewReader(sw)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if m := f.recv(); m.typ != ofptHello {
			t.Errorf("first message type %d, want hello", m.typ)
		}
		if m := f.recv(); m.typ != ofptFeaturesRequest {
			t.Errorf("second message type %d, want features request", m.typ)
		}
		f.send(ofptHello, 0, nil)
		f.send(ofptFeaturesReply, 1, binary.BigEndian.AppendUint64(make([]byte, 0, 24), 0xabc))
	}()
	c, dpid, err := newOFConn(context.Background(), ctrl)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if dpid != 0xabc {
		t.Errorf("datapath id %#x, want 0xabc", dpid)
	}
	return c, f
}

func TestConnAnswersEcho(t *testing.T) {
	_, f := connectFake(t)
	f.send(ofptEchoRequest, 77, []byte("ping"))
	m := f.recv()
	if m.typ != ofptEchoReply || m.xid != 77 || !bytes.Equal(m.body, []byte("ping")) {
		t.Errorf("got type %d xid %d body %q, want echo reply 77 \"ping\"", m.typ, m.xid, m.body)
	}
}

func TestConnRoutesRepliesByXID(t *testing.T) {
	c, f := connectFake(t)
	ex := c.startExchange(100, 102)
	defer c.endExchange(ex)
	f.send(ofptBarrierReply, 99, nil)  // someone else's: dropped
	f.send(ofptBarrierReply, 101, nil) // ours
	m, err := c.recv(context.Background(), ex)
	if err != nil || m.xid != 101 {
		t.Fatalf("recv = xid %d, %v; want xid 101", m.xid, err)
	}
	f.nc.Close()
	if _, err := c.recv(context.Background(), ex); !IsDisconnected(err) {
		t.Errorf("recv after the switch closed = %v, want a disconnect error", err)
	}
}

func TestHandshakeRefusesOldVersion(t *testing.T) {
	ctrl, sw := net.Pipe()
	defer ctrl.Close()
	defer sw.Close()
	go func() {
		br := bufio.NewReader(sw)
		readMsg(br)
		readMsg(br)
		hello := []byte{1, ofptHello, 0, 8, 0, 0, 0, 0} // OpenFlow 1.0
		sw.Write(hello)
	}()
	if _, _, err := newOFConn(context.Background(), ctrl); err == nil {
		t.Fatal("handshake with an OpenFlow 1.0 switch succeeded")
	}
}
