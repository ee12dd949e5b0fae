package ovsdb

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/flowgate/flowgate/ovsdb/vswitch"
)

// ResolveDatapath maps the intent's datapath ("auto", "system", "netdev")
// to a Bridge datapath_type: "system" where the openvswitch kernel module
// is loaded, the userspace "netdev" datapath otherwise.
func ResolveDatapath(mode string) (string, error) {
	switch mode {
	case "", "auto":
		if _, err := os.Stat("/sys/module/openvswitch"); err == nil {
			return "system", nil
		}
		return "netdev", nil
	case "system", "netdev":
		return mode, nil
	}
	return "", fmt.Errorf("datapath %q: want auto, system or netdev", mode)
}

// bridgeProtocols are the OpenFlow versions the bridge speaks: 1.3 is what
// flowgate uses; 1.0 keeps older ovs-ofctl invocations working.
var bridgeProtocols = []string{vswitch.BridgeProtocolsOpenflow10, vswitch.BridgeProtocolsOpenflow13, vswitch.BridgeProtocolsOpenflow15}

// EnsureBridge makes sure bridge name exists with fail_mode=secure (with no
// controller connected it forwards nothing the flow table does not say:
// never fail open), the resolved datapath, OpenFlow 1.3 enabled, in-band
// control off, and the controller target (none when target is empty). It
// creates or updates everything in one transaction and is idempotent.
func (c *Client) EnsureBridge(ctx context.Context, name, datapath, target string) error {
	dpType, err := ResolveDatapath(datapath)
	if err != nil {
		return fmt.Errorf("ensure bridge %s: %w", name, err)
	}
	secure := vswitch.BridgeFailModeSecure
	existing, err := c.bridge(ctx, name)
	if err != nil {
		return err
	}
	var ops []ovsdb.Operation
	var controllers []string
	if target != "" {
		reuse := ""
		if existing != nil {
			reuse = c.controllerWithTarget(existing.Controller, target)
		}
		if reuse != "" {
			controllers = []string{reuse}
		} else {
			ctrl := &vswitch.Controller{UUID: "fgcontroller", Target: target,
				OtherConfig: map[string]string{}, ExternalIDs: map[string]string{"created-by": "flowgate"}}
			op, err := c.ovs.Create(ctrl)
			if err != nil {
				return fmt.Errorf("ensure bridge %s: controller row: %w", name, err)
			}
			ops = append(ops, op...)
			controllers = []string{ctrl.UUID}
		}
	}

	if existing == nil {
		iface := &vswitch.Interface{UUID: "fgiface", Name: name, Type: "internal"}
		port := &vswitch.Port{UUID: "fgport", Name: name, Interfaces: []string{iface.UUID}}
		br := &vswitch.Bridge{
			UUID: "fgbridge", Name: name, FailMode: &secure, DatapathType: dpType,
			Protocols:   bridgeProtocols,
			OtherConfig: map[string]string{"disable-in-band": "true"},
			ExternalIDs: map[string]string{"created-by": "flowgate"},
			Ports:       []string{port.UUID}, Controller: controllers,
		}
		for _, m := range []model.Model{iface, port, br} {
			op, err := c.ovs.Create(m)
			if err != nil {
				return fmt.Errorf("ensure bridge %s: %w", name, err)
			}
			ops = append(ops, op...)
		}
		root, err := c.rootRow(ctx)
		if err != nil {
			return fmt.Errorf("ensure bridge %s: %w", name, err)
		}
		op, err := c.ovs.Where(root).Mutate(root, model.Mutation{
			Field: &root.Bridges, Mutator: ovsdb.MutateOperationInsert, Value: []string{br.UUID},
		})
		if err != nil {
			return fmt.Errorf("ensure bridge %s: %w", name, err)
		}
		ops = append(ops, op...)
		_, err = c.transact(ctx, "create bridge "+name, ops)
		return err
	}

	br := *existing
	br.FailMode = &secure
	br.DatapathType = dpType
	br.Protocols = mergeProtocols(existing.Protocols)
	br.OtherConfig = maps.Clone(existing.OtherConfig)
	if br.OtherConfig == nil {
		br.OtherConfig = map[string]string{}
	}
	br.OtherConfig["disable-in-band"] = "true"
	br.Controller = controllers
	if br.Controller == nil {
		br.Controller = []string{}
	}
	op, err := c.ovs.Where(&br).Update(&br, &br.FailMode, &br.DatapathType, &br.Protocols, &br.OtherConfig, &br.Controller)
	if err != nil {
		return fmt.Errorf("ensure bridge %s: %w", name, err)
	}
	_, err = c.transact(ctx, "configure bridge "+name, append(ops, op...))
	return err
}

// controllerWithTarget returns the UUID of the bridge's Controller row with
// target, if there is one, so an unchanged target is left alone (replacing
// the row would drop and re-establish the OpenFlow connection).
func (c *Client) controllerWithTarget(uuids []string, target string) string {
	for _, u := range uuids {
		m := c.ovs.Cache().Table(vswitch.ControllerTable).Row(u)
		if ctrl, ok := m.(*vswitch.Controller); ok && ctrl.Target == target {
			return u
		}
	}
	return ""
}

func mergeProtocols(have []string) []string {
	out := slices.Clone(have)
	for _, p := range bridgeProtocols {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// SetBridgeExternalID sets external_ids:key=value on the bridge.
func (c *Client) SetBridgeExternalID(ctx context.Context, bridge, key, value string) error {
	br, err := c.bridge(ctx, bridge)
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("set external_ids:%s on bridge %s: no such bridge", key, bridge)
	}
	op, err := c.ovs.Where(br).Mutate(br,
		model.Mutation{Field: &br.ExternalIDs, Mutator: ovsdb.MutateOperationDelete, Value: []string{key}},
		model.Mutation{Field: &br.ExternalIDs, Mutator: ovsdb.MutateOperationInsert, Value: map[string]string{key: value}})
	if err != nil {
		return fmt.Errorf("set external_ids:%s on bridge %s: %w", key, bridge, err)
	}
	_, err = c.transact(ctx, fmt.Sprintf("set external_ids:%s on bridge %s", key, bridge), op)
	return err
}

// BridgeExternalID returns external_ids:key of the bridge ("" if unset).
func (c *Client) BridgeExternalID(ctx context.Context, bridge, key string) (string, error) {
	br, err := c.bridge(ctx, bridge)
	if err != nil {
		return "", err
	}
	if br == nil {
		return "", fmt.Errorf("read external_ids:%s of bridge %s: no such bridge", key, bridge)
	}
	return br.ExternalIDs[key], nil
}

// FlowRestoreWait reports Open_vSwitch other_config:flow-restore-wait.
// While it is true, ovs-vswitchd neither forwards nor expires flows: it is
// set around a restart so that the flows can be put back first.
func (c *Client) FlowRestoreWait(ctx context.Context) (bool, error) {
	root, err := c.rootRow(ctx)
	if err != nil {
		return false, err
	}
	return root.OtherConfig["flow-restore-wait"] == "true", nil
}

// ClearFlowRestoreWait removes other_config:flow-restore-wait once the
// flows are back, so ovs-vswitchd starts forwarding (left set, nothing
// would ever be forwarded).
func (c *Client) ClearFlowRestoreWait(ctx context.Context) error {
	root, err := c.rootRow(ctx)
	if err != nil {
		return err
	}
	op, err := c.ovs.Where(root).Mutate(root, model.Mutation{
		Field: &root.OtherConfig, Mutator: ovsdb.MutateOperationDelete, Value: []string{"flow-restore-wait"},
	})
	if err != nil {
		return fmt.Errorf("clear flow-restore-wait: %w", err)
	}
	_, err = c.transact(ctx, "clear flow-restore-wait", op)
	return err
}

// DatapathID returns the bridge's datapath_id as ovs-vswitchd published it
// (ok false while it has not yet), for telling the bridge's switch from a
// process that only claims to be it.
func (c *Client) DatapathID(ctx context.Context, bridge string) (id uint64, ok bool, err error) {
	br, err := c.bridge(ctx, bridge)
	if err != nil {
		return 0, false, err
	}
	if br == nil {
		return 0, false, fmt.Errorf("read datapath_id of bridge %s: no such bridge", bridge)
	}
	if br.DatapathID == nil || *br.DatapathID == "" {
		return 0, false, nil
	}
	id, err = strconv.ParseUint(*br.DatapathID, 16, 64)
	if err != nil {
		return 0, false, fmt.Errorf("datapath_id %q of bridge %s: %w", *br.DatapathID, bridge, err)
	}
	return id, true, nil
}

// WaitApplied waits until ovs-vswitchd has applied every change committed
// to the database so far, as ovs-vsctl does: it increments next_cfg and
// waits for ovs-vswitchd to raise cur_cfg to it. It matters where a change
// has side effects on the flow table: ovs-vswitchd flushes a bridge's flows
// when it gains its first or loses its last controller target, and a
// reader of the table must not read it before that happened. It returns
// ctx's error if ovs-vswitchd does not catch up in time (it may be down).
func (c *Client) WaitApplied(ctx context.Context) error {
	root, err := c.rootRow(ctx)
	if err != nil {
		return err
	}
	want := root.NextCfg + 1
	op, err := c.ovs.Where(root).Mutate(root, model.Mutation{
		Field: &root.NextCfg, Mutator: ovsdb.MutateOperationAdd, Value: 1,
	})
	if err != nil {
		return fmt.Errorf("increment next_cfg: %w", err)
	}
	if _, err := c.transact(ctx, "increment next_cfg", op); err != nil {
		return err
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if root, err := c.rootRow(ctx); err == nil && root.CurCfg >= want {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for ovs-vswitchd to apply configuration %d: %w", want, ctx.Err())
		}
	}
}
