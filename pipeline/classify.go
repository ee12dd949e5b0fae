package pipeline

import "github.com/flowgate/flowgate/flows"

// prioClassifyPort: a bound port's in_port. Unknown ports hit the table's
// miss flow and drop.
const prioClassifyPort uint16 = 100

// classifyPort records which port and network a packet came from. A port
// with port_security:false skips anti-spoofing.
func classifyPort(p boundPort) flows.Flow {
	next := TablePortSecurity
	if !p.PortSecurity {
		next = TableConntrack
	}
	return flows.Flow{
		Table:    uint8(TableClassify),
		Priority: prioClassifyPort,
		Cookie:   p.cookie,
		Match:    flows.Match{InPort: p.ofport},
		Actions: withMeter(p.egressMeter, []flows.Action{
			flows.Load{Field: fieldSrcPort, Value: uint64(p.ofport)},
			flows.Load{Field: fieldNetwork, Value: uint64(p.zone)},
			goTo(next),
		}),
	}
}
