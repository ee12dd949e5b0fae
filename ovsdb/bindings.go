package ovsdb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/model"

	"github.com/flowgate/flowgate/ovsdb/vswitch"
)

// Binding ties an intent port (the Interface's external_ids:iface-id) to
// the OpenFlow port number ovs-vswitchd gave its Interface.
type Binding struct {
	IfaceID     string // external_ids:iface-id = intent port name
	Name        string // Interface name (e.g. the veth or tap device)
	OFPort      int    // 0 while unassigned, -1 if the device could not be opened
	AttachedMAC string // external_ids:attached-mac
	Up          bool   // link_state is "up"
	Type        string // Interface type ("" for system devices)
}

// WatchBindings streams the complete, sorted list of bindings of bridge
// each time it changes: Interfaces with an iface-id appearing, getting or
// changing their ofport, changing link state, or going away. The first list
// is sent at once. After an ovsdb-server restart libovsdb repopulates the
// cache and the stream continues. The channel is closed when ctx ends.
func (c *Client) WatchBindings(ctx context.Context, bridge string) (<-chan []Binding, error) {
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	c.ovs.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(table string, _ model.Model) { poke() },
		UpdateFunc: func(table string, _, _ model.Model) { poke() },
		DeleteFunc: func(table string, _ model.Model) { poke() },
	})
	out := make(chan []Binding)
	go func() {
		defer close(out)
		var last []Binding
		first := true
		for {
			list, ok := c.bindings(bridge)
			if ok && (first || !slices.Equal(list, last)) {
				select {
				case out <- list:
				case <-ctx.Done():
					return
				}
				last, first = list, false
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Bindings returns the bindings of bridge as the client sees them now
// (the first list WatchBindings would send).
func (c *Client) Bindings(bridge string) ([]Binding, error) {
	list, ok := c.bindings(bridge)
	if !ok {
		return nil, fmt.Errorf("bindings of %s: the OVSDB cache is being rebuilt after a reconnect", bridge)
	}
	return list, nil
}

// OFPorts maps the iface-id of every bound Interface, one with an ofport
// (OFPort > 0), to that ofport: the bindings the compiler takes.
func OFPorts(list []Binding) map[string]uint32 {
	out := make(map[string]uint32, len(list))
	for _, b := range list {
		if b.OFPort > 0 {
			out[b.IfaceID] = uint32(b.OFPort)
		}
	}
	return out
}

// bindings reads the current bindings of bridge from the cache. It
// reports false while there is no cache to read: libovsdb drops it when
// the client is closed (and a reconnect without monitors rebuilds it), and
// a watcher that raced with that must wait for the next change rather
// than publish an empty list, which would unbind every port.
func (c *Client) bindings(bridge string) ([]Binding, bool) {
	tc := c.ovs.Cache()
	if tc == nil {
		return nil, false
	}
	bridges, ports, ifaces := tc.Table(vswitch.BridgeTable), tc.Table(vswitch.PortTable), tc.Table(vswitch.InterfaceTable)
	if bridges == nil || ports == nil || ifaces == nil {
		return nil, false
	}
	var brRow *vswitch.Bridge
	for _, m := range bridges.Rows() {
		if b := m.(*vswitch.Bridge); b.Name == bridge {
			brRow = b
			break
		}
	}
	list := []Binding{}
	if brRow == nil {
		// No Bridge rows at all is a cache being repopulated, not a
		// switch without bridges: wait for it. A missing bridge among
		// others really has no ports.
		return list, len(bridges.Rows()) > 0
	}
	for _, pu := range brRow.Ports {
		p, ok := ports.Row(pu).(*vswitch.Port)
		if !ok {
			// The bridge names a Port the cache does not hold yet: it is
			// being repopulated after a reconnect. A list read now would
			// lack that port's bindings and unbind them; wait for the
			// rows still to come (their arrival pokes the watcher).
			return nil, false
		}
		for _, iu := range p.Interfaces {
			i, ok := ifaces.Row(iu).(*vswitch.Interface)
			if !ok {
				return nil, false // as above, for the Interface rows
			}
			if i.ExternalIDs["iface-id"] == "" {
				continue
			}
			b := Binding{IfaceID: i.ExternalIDs["iface-id"], Name: i.Name,
				AttachedMAC: i.ExternalIDs["attached-mac"], Type: i.Type}
			if i.Ofport != nil {
				b.OFPort = *i.Ofport
			}
			b.Up = i.LinkState != nil && *i.LinkState == "up"
			list = append(list, b)
		}
	}
	slices.SortFunc(list, func(a, b Binding) int {
		if c := strings.Compare(a.IfaceID, b.IfaceID); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return list, true
}
