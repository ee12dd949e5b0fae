package ovsdb

import (
	"context"
	"fmt"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/flowgate/flowgate/ovsdb/vswitch"
)

// PortOptions describe a port to add.
type PortOptions struct {
	// Type is the Interface type: "" (a system device such as a veth end),
	// "internal", "patch", ...
	Type string
	// ExternalIDs of the Interface; iface-id binds it to an intent port
	// and attached-mac records the VM's MAC.
	ExternalIDs map[string]string
	// Options of the Interface (e.g. peer=<port> for a patch port).
	Options map[string]string
	// OFPortRequest asks for a specific OpenFlow port number (0: any).
	OFPortRequest int
}

// AddPort adds port name (with one Interface of the same name) to bridge,
// in one transaction.
func (c *Client) AddPort(ctx context.Context, bridge, name string, opt PortOptions) error {
	br, err := c.bridge(ctx, bridge)
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("add port %s: no bridge %s", name, bridge)
	}
	iface := &vswitch.Interface{UUID: "fgnewiface", Name: name, Type: opt.Type,
		ExternalIDs: opt.ExternalIDs, Options: opt.Options}
	if opt.OFPortRequest > 0 {
		req := opt.OFPortRequest
		iface.OfportRequest = &req
	}
	port := &vswitch.Port{UUID: "fgnewport", Name: name, Interfaces: []string{iface.UUID}}
	var ops []ovsdb.Operation
	for _, m := range []model.Model{iface, port} {
		op, err := c.ovs.Create(m)
		if err != nil {
			return fmt.Errorf("add port %s to %s: %w", name, bridge, err)
		}
		ops = append(ops, op...)
	}
	op, err := c.ovs.Where(br).Mutate(br, model.Mutation{
		Field: &br.Ports, Mutator: ovsdb.MutateOperationInsert, Value: []string{port.UUID},
	})
	if err != nil {
		return fmt.Errorf("add port %s to %s: %w", name, bridge, err)
	}
	_, err = c.transact(ctx, fmt.Sprintf("add port %s to %s", name, bridge), append(ops, op...))
	return err
}

// DeletePort removes port name from bridge (its Port and Interface rows
// are garbage-collected by ovsdb-server once no bridge refers to them).
// It is an error, and changes nothing, if bridge has no port of that name,
// even when another bridge has one.
func (c *Client) DeletePort(ctx context.Context, bridge, name string) error {
	br, err := c.bridge(ctx, bridge)
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("delete port %s: no bridge %s", name, bridge)
	}
	var ports []vswitch.Port
	// Only this bridge's ports: a same-named port elsewhere would make the
	// mutation below a silent no-op reported as success.
	onBridge := func(p *vswitch.Port) bool { return p.Name == name && slices.Contains(br.Ports, p.UUID) }
	if err := c.ovs.WhereCache(onBridge).List(ctx, &ports); err != nil {
		return fmt.Errorf("delete port %s from %s: %w", name, bridge, err)
	}
	if len(ports) == 0 {
		return fmt.Errorf("delete port %s from %s: no such port", name, bridge)
	}
	op, err := c.ovs.Where(br).Mutate(br, model.Mutation{
		Field: &br.Ports, Mutator: ovsdb.MutateOperationDelete, Value: []string{ports[0].UUID},
	})
	if err != nil {
		return fmt.Errorf("delete port %s from %s: %w", name, bridge, err)
	}
	_, err = c.transact(ctx, fmt.Sprintf("delete port %s from %s", name, bridge), op)
	return err
}
