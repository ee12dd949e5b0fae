package ovsdb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/testbed"
)

// After ovsdb-server restarts on the same socket and database the client
// reconnects by itself: transactions work again, Connected() is true, and
// the binding stream goes on, never dropping a port that stayed plugged in
// and reporting ports plugged in and out after the restart.
func TestReconnectAfterDBRestartOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	stream, _ := watch(t, o, c)
	start := time.Now()
	addBoundPort(t, o, "br-int", "p1", "02:00:00:00:00:01", 7)
	awaitBindings(t, stream, "p1 plugged in before the restart", start, boundAt("p1", 7))

	// The stream is read throughout: no list it publishes across the
	// restart may lack p1 (it stays plugged in), or the controller would
	// unbind it. dropped keeps the first such list.
	lists := make(chan []ovsdb.Binding, 64)
	dropped := make(chan []ovsdb.Binding, 1)
	go func() {
		defer close(lists)
		for l := range stream {
			if binding(l, "p1") == nil {
				select {
				case dropped <- l:
				default:
				}
			}
			lists <- l
		}
	}()

	restart := time.Now()
	if err := o.RestartDB(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	sawDown := false
	attempts := 0
	// A transaction answered after the old server is gone (RestartDB
	// waited for it to exit) can only have gone over a new connection.
	eventually(t, "a transaction through the client after the restart", func() (bool, string) {
		sawDown = sawDown || !c.Connected()
		attempts++
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := c.SetBridgeExternalID(ctx, "br-int", "reconnect-probe", fmt.Sprint(attempts))
		return err == nil, errString(err)
	})
	t.Logf("ovsdb-server restart took %v; the client transacted again %v after it was back (%d attempts; Connected()=false observed: %v)",
		restarted.Sub(restart), time.Since(restarted), attempts, sawDown)
	if !c.Connected() {
		t.Error("Connected() is false after a successful transaction")
	}
	if got := vsctlValue(t, o, "Bridge", "br-int", "external_ids:reconnect-probe"); got != fmt.Sprint(attempts) {
		t.Errorf("ovs-vsctl reads reconnect-probe=%q, want %d", got, attempts)
	}

	start = time.Now()
	addBoundPort(t, o, "br-int", "p2", "02:00:00:00:00:02", 11)
	// ovs-vsctl waits for ovs-vswitchd, which reconnects on its own backoff.
	t.Logf("ovs-vsctl add-port after the restart took %v", time.Since(start))
	awaitBindings(t, lists, "p2 plugged in after the restart", start, boundAt("p2", 11))
	start = time.Now()
	vsctl(t, o, "del-port", "br-int", "p2")
	awaitBindings(t, lists, "p2 unplugged after the restart", start, unbound("p2"))
	select {
	case l := <-dropped:
		t.Errorf("the stream published %+v without p1 across the restart", l)
	default:
	}
}
