package flows

import (
	"errors"
	"fmt"
	"strconv"
)

// String renders g as `ovs-ofctl -O OpenFlow13 dump-groups` prints it
// (ofputil_group_format in lib/ofp-group.c), byte for byte without the
// leading space:
//
//	group_id=5,type=select,bucket=actions=ct(...),bucket=weight:2,actions=...
//
// OpenFlow 1.3 has no bucket ids, so none are printed; a weight of 1, the
// default for a select group, is left out; a bucket without actions
// prints "actions=drop"; a group without buckets ends after its type.
func (g GroupDesc) String() string {
	b := make([]byte, 0, 64+96*len(g.Buckets))
	b = append(b, "group_id="...)
	b = strconv.AppendUint(b, uint64(g.ID), 10)
	b = append(b, ",type=select"...)
	for _, k := range g.Buckets {
		b = append(b, ",bucket="...)
		if k.Weight != 1 {
			b = append(b, "weight:"...)
			b = strconv.AppendUint(b, uint64(k.Weight), 10)
			b = append(b, ',')
		}
		b = append(b, "actions="...)
		b = append(b, ActionsString(k.Actions)...)
	}
	return string(b)
}

// Validate reports every reason OVS would refuse the group, or run its
// buckets other than they read, and flowgate's own rules for groups:
//
//   - the id is a group number (not a reserved group);
//   - every bucket has a weight above 0 (OVS accepts 0, but such a bucket
//     is never chosen, which is never what a compiler meant);
//   - bucket actions are valid as actions of a flow would be, except what
//     depends on a match: a bucket runs for whatever packet a flow sends
//     to the group, so match prerequisites (ip for ct, the IP family of a
//     NAT address, ...) are the referring flows' business, and OVS does
//     not check them either. Instructions (goto_table, meter) are not
//     actions and cannot be in a bucket; a bucket may not send to its own
//     group;
//   - OVS runs a bucket as an OpenFlow action set (see checkBucket): one
//     dec_ttl, then loads and moves, then one output, group, resubmit or
//     ct, and nothing else. A learn action in a bucket is silently dropped,
//     so it is refused: learn in the flow the bucket's ct or resubmit leads
//     to, from a register the bucket loads.
//
// A select group without buckets, or with a bucket without actions
// (drop), is valid: OVS drops the packets.
func (g GroupDesc) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if g.ID > MaxGroupID {
		bad("group id %#x: above %#x, reserved by OpenFlow", g.ID, MaxGroupID)
	}
	for i, k := range g.Buckets {
		bb := func(format string, args ...any) { bad("bucket %d: "+format, append([]any{i}, args...)...) }
		if k.Weight == 0 {
			bb("weight 0: the bucket would never be chosen")
		}
		validateActionList(k.Actions, scope{bucket: true, group: g.ID}, bb)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("group %q: %w", g.String(), errors.Join(errs...))
}
