package ovsdb

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/flowgate/flowgate/ovsdb/vswitch"
)

// TunnelOptions make a flow-based Geneve port: the flows set the remote
// endpoint (tun_dst) and the key (tun_id) of each packet they send.
var TunnelOptions = map[string]string{"remote_ip": "flow", "key": "flow"}

// EnsureTunnelPort makes sure bridge has a Geneve port name with
// TunnelOptions at OpenFlow port ofport, and returns once ovs-vswitchd
// has given it that number. A port of that name with other settings is
// an error, not something to rewrite: the operator made it.
func (c *Client) EnsureTunnelPort(ctx context.Context, bridge, name string, ofport int) error {
	var found []vswitch.Interface
	if err := c.ovs.WhereCache(func(i *vswitch.Interface) bool { return i.Name == name }).List(ctx, &found); err != nil {
		return fmt.Errorf("look up interface %s: %w", name, err)
	}
	switch {
	case len(found) == 0:
		if err := c.AddPort(ctx, bridge, name, PortOptions{Type: "geneve", Options: TunnelOptions, OFPortRequest: ofport}); err != nil {
			return err
		}
	case found[0].Type != "geneve" || !maps.Equal(found[0].Options, TunnelOptions):
		return fmt.Errorf("interface %s exists as type %q with options %v; the overlay needs type geneve with %v", name, found[0].Type, found[0].Options, TunnelOptions)
	}
	for {
		var now []vswitch.Interface
		if err := c.ovs.WhereCache(func(i *vswitch.Interface) bool { return i.Name == name }).List(ctx, &now); err != nil {
			return err
		}
		if len(now) == 1 && now[0].Ofport != nil && *now[0].Ofport > 0 {
			if *now[0].Ofport != ofport {
				return fmt.Errorf("tunnel port %s has OpenFlow port %d, want %d (ofport_request taken?)", name, *now[0].Ofport, ofport)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tunnel port %s: no OpenFlow port number yet: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
