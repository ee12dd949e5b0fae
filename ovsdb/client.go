// Package ovsdb is flowgate's view of the Open_vSwitch database: it makes
// sure the integration bridge exists fail-secure with the controller target,
// adds and removes ports, and streams the iface-id -> ofport bindings that
// tell the compiler which intent ports are plugged in.
//
// It is a thin layer over libovsdb with the typed models in ./vswitch; the
// client keeps a monitored cache of the whole database and reconnects by
// itself when ovsdb-server restarts.
package ovsdb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/flowgate/flowgate/ovsdb/vswitch"
)

// Client is a connection to one ovsdb-server's Open_vSwitch database.
type Client struct {
	endpoint string
	ovs      client.Client
}

// Connect dials endpoint ("unix:/var/run/openvswitch/db.sock" or
// "tcp:127.0.0.1:6640"), monitors the whole database and keeps
// reconnecting (with backoff) if the server goes away.
func Connect(ctx context.Context, endpoint string) (*Client, error) {
	if !strings.HasPrefix(endpoint, "unix:") && !strings.HasPrefix(endpoint, "tcp:") {
		return nil, fmt.Errorf("OVSDB endpoint %q: want unix:<path> or tcp:<host>:<port>", endpoint)
	}
	dbModel, err := vswitch.FullDatabaseModel()
	if err != nil {
		return nil, fmt.Errorf("OVSDB models: %w", err)
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = 2 * time.Second
	bo.MaxElapsedTime = 0 // keep trying for as long as the controller runs
	quiet := logr.Discard()
	ovs, err := client.NewOVSDBClient(dbModel,
		client.WithEndpoint(endpoint),
		client.WithReconnect(5*time.Second, bo),
		client.WithLogger(&quiet))
	if err != nil {
		return nil, fmt.Errorf("OVSDB client for %s: %w", endpoint, err)
	}
	if err := ovs.Connect(ctx); err != nil {
		return nil, fmt.Errorf("connect to OVSDB at %s: %w", endpoint, err)
	}
	if _, err := ovs.MonitorAll(ctx); err != nil {
		ovs.Close()
		return nil, fmt.Errorf("monitor OVSDB at %s: %w", endpoint, err)
	}
	return &Client{endpoint: endpoint, ovs: ovs}, nil
}

// Close ends the connection.
func (c *Client) Close() { c.ovs.Close() }

// Connected reports whether the client is connected right now.
func (c *Client) Connected() bool { return c.ovs.Connected() }

// transact runs ops as one transaction and turns per-operation errors into
// one error that says what was being done.
func (c *Client) transact(ctx context.Context, what string, ops []ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	res, err := c.ovs.Transact(ctx, ops...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return res, nil
}

// rootRow returns the single Open_vSwitch row.
func (c *Client) rootRow(ctx context.Context) (*vswitch.OpenvSwitch, error) {
	var rows []vswitch.OpenvSwitch
	if err := c.ovs.List(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read Open_vSwitch table: %w", err)
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("Open_vSwitch table has %d rows, want 1 (was the database initialised with 'ovs-vsctl init'?)", len(rows))
	}
	return &rows[0], nil
}

// bridge returns the named bridge from the cache, or nil.
func (c *Client) bridge(ctx context.Context, name string) (*vswitch.Bridge, error) {
	var found []vswitch.Bridge
	err := c.ovs.WhereCache(func(b *vswitch.Bridge) bool { return b.Name == name }).List(ctx, &found)
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	return &found[0], nil
}

var _ model.Model = &vswitch.Bridge{}
