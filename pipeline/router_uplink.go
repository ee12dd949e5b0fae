package pipeline

import "github.com/flowgate/flowgate/flows"

// prioUplinkClassify is the priority of the uplink's flows in
// TableClassify; the uplink is no intent port, so nothing else matches its
// in_port there.
const prioUplinkClassify uint16 = 100

// uplinkClassifier sends what arrives on the uplink straight to the router:
// unicast to the external MAC, and ARP (requests for the external and
// floating addresses are broadcast). Anything else from the outside is
// dropped by the classifier's miss flow. reg0 says "from the router" so
// that nothing downstream mistakes the packet for a port's.
func (rc *routerCompiler) uplinkClassifier() []flows.Flow {
	if rc.uplink == 0 {
		return nil
	}
	cookie := routerExternal(rc.r).cookie(rc.r.Name)
	actions := []flows.Action{
		flows.Load{Field: fieldSrcPort, Value: uint64(RouterPort)},
		gotoTable(TableRouterEntry),
	}
	return []flows.Flow{
		{Table: uint8(TableClassify), Priority: prioUplinkClassify, Cookie: cookie,
			Match:   flows.Match{InPort: rc.uplink, EthDst: flows.ExactMAC(rc.extMAC)},
			Actions: actions},
		{Table: uint8(TableClassify), Priority: prioUplinkClassify, Cookie: cookie,
			Match:   flows.Match{InPort: rc.uplink, EthType: flows.EthTypeARP},
			Actions: actions},
	}
}

// routerOutput sends a routed packet out of the uplink, or back into the
// pipeline for its destination network: reg2 becomes that network, reg0
// the router, and the packet starts again at TableConntrack, where it is
// tracked in the destination network's zone with its final (post-DNAT)
// addresses, so the destination port's security groups judge it.
func (rc *routerCompiler) routerOutput() []flows.Flow {
	var out []flows.Flow
	if rc.uplink != 0 {
		out = append(out, flows.Flow{
			Table: uint8(TableRouterOutput), Priority: 100,
			Cookie:  routerExternal(rc.r).cookie(rc.r.Name),
			Match:   flows.Match{Regs: []flows.RegMatch{matchOutNetwork(outUplink)}},
			Actions: []flows.Action{flows.Output{Port: rc.uplink}},
		})
	}
	for _, n := range rc.networks {
		out = append(out, flows.Flow{
			Table: uint8(TableRouterOutput), Priority: 100,
			Cookie: routerNetwork(rc.r, n).cookie(rc.r.Name),
			Match:  flows.Match{Regs: []flows.RegMatch{matchOutNetwork(rc.netID(n))}},
			Actions: []flows.Action{
				flows.Load{Field: fieldNetwork, Value: uint64(rc.netID(n))},
				flows.Load{Field: fieldSrcPort, Value: uint64(RouterPort)},
				flows.Resubmit{Table: uint8(TableConntrack)},
			},
		})
	}
	return out
}
