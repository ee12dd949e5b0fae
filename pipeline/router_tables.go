package pipeline

import "github.com/flowgate/flowgate/flows"

// setRouterFlag is the action that sets one flag bit of reg5.
func setRouterFlag(flag uint32) flows.Action {
	var ofs uint16
	for flag>>ofs != 1 {
		ofs++
	}
	return flows.Load{Field: flows.Bits(flows.RegField(regRouterFlags), ofs, 1), Value: 1}
}

// matchRouterFlag matches packets with flag set in reg5.
func matchRouterFlag(flag uint32) flows.RegMatch {
	return flows.Reg(regRouterFlags, flag, flag)
}

// matchOutNetwork matches the network the router routes to.
func matchOutNetwork(id uint32) flows.RegMatch {
	return flows.Reg(regRouterOutNetwork, id, 0)
}

// setOutNetwork loads the network the router routes to.
func setOutNetwork(id uint32) flows.Action {
	return flows.Load{Field: flows.Whole(flows.RegField(regRouterOutNetwork)), Value: uint64(id)}
}
