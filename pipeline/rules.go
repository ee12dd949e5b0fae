package pipeline

import (
	"fmt"
	"strings"

	"github.com/flowgate/flowgate/intent"
)

// ruleKey identifies a rule by its group and content, not its position:
// reordering rules keeps their ids, editing a rule makes it a new rule.
func ruleKey(group string, r intent.Rule) string {
	return group + "\x00" + describeRule(r)
}

// describeRule is the canonical one-line form of a rule, as operators read
// it in traces: "ingress tcp/3306 from group web", "egress ipv6 any to any".
// IPv4 is the default and is not spelled out.
func describeRule(r intent.Rule) string {
	var ports string
	if hasPortRange(r) {
		ports = "/" + rangeOf(r).String()
	}
	return ruleText(serviceOf(r), ports, remoteOf(r).String())
}

// ruleText writes a service with its port ranges (written right after the
// protocol, e.g. "/22"; empty: all ports) and its remotes, the shared
// syntax of rules and rule classes.
func ruleText(service intent.Rule, ports, remotes string) string {
	var b strings.Builder
	b.WriteString(string(service.Direction))
	if service.EtherType == intent.IPv6 {
		b.WriteString(" ipv6")
	}
	b.WriteByte(' ')
	b.WriteString(protocolName(service.Protocol))
	b.WriteString(ports)
	if service.ICMPType != nil {
		fmt.Fprintf(&b, " type %d", *service.ICMPType)
	}
	if service.ICMPCode != nil {
		fmt.Fprintf(&b, " code %d", *service.ICMPCode)
	}
	if service.Direction == intent.Egress {
		b.WriteString(" to ")
	} else {
		b.WriteString(" from ")
	}
	b.WriteString(remotes)
	return b.String()
}

func protocolName(p int) string {
	switch p {
	case intent.ProtocolAny:
		return "any"
	case intent.ProtoTCP:
		return "tcp"
	case intent.ProtoUDP:
		return "udp"
	case intent.ProtoSCTP:
		return "sctp"
	case intent.ProtoICMP:
		return "icmp"
	case intent.ProtoICMPv6:
		return "icmpv6"
	}
	return fmt.Sprintf("proto %d", p)
}

// hasPortRange reports whether the rule restricts destination ports
// (0-0, the zero value, and 0-65535 both mean every port).
func hasPortRange(r intent.Rule) bool {
	return !(r.PortMin == 0 && (r.PortMax == 0 || r.PortMax == 65535))
}
