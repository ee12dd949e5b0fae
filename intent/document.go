package intent

import "slices"

// Document is an intent document exactly as written (../docs/intent-reference.md):
// strings where the user writes addresses, pointers where "absent" and
// "zero" mean different things. Decode fills it strictly; Validate turns it
// into an *Intent. Marshalled with gopkg.in/yaml.v3 or encoding/json it
// gives the document back in the same shape, which is what the API's
// GET /v1/intent serves when it has no original bytes.
type Document struct {
	Bridge         string             `yaml:"bridge,omitempty" json:"bridge,omitempty"`
	Datapath       string             `yaml:"datapath,omitempty" json:"datapath,omitempty"`
	Networks       []NetworkDoc       `yaml:"networks,omitempty" json:"networks,omitempty"`
	Ports          []PortDoc          `yaml:"ports,omitempty" json:"ports,omitempty"`
	SecurityGroups []SecurityGroupDoc `yaml:"security_groups,omitempty" json:"security_groups,omitempty"`
	Policies       []PolicyDoc        `yaml:"policies,omitempty" json:"policies,omitempty"`
	Routers        []RouterDoc        `yaml:"routers,omitempty" json:"routers,omitempty"`
	Services       []ServiceDoc       `yaml:"services,omitempty" json:"services,omitempty"`
}

// NetworkDoc is a network as written.
type NetworkDoc struct {
	Name     string `yaml:"name" json:"name"`
	CIDR     string `yaml:"cidr,omitempty" json:"cidr,omitempty"`
	CIDR6    string `yaml:"cidr6,omitempty" json:"cidr6,omitempty"`
	Gateway  string `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	Gateway6 string `yaml:"gateway6,omitempty" json:"gateway6,omitempty"`
}

// PortDoc is a port as written.
type PortDoc struct {
	Name                string           `yaml:"name" json:"name"`
	Network             string           `yaml:"network" json:"network"`
	MAC                 string           `yaml:"mac" json:"mac"`
	IPs                 []string         `yaml:"ips,omitempty" json:"ips,omitempty"`
	SecurityGroups      []string         `yaml:"security_groups,omitempty" json:"security_groups,omitempty"`
	PortSecurity        *bool            `yaml:"port_security,omitempty" json:"port_security,omitempty"`
	AllowedAddressPairs []AddressPairDoc `yaml:"allowed_address_pairs,omitempty" json:"allowed_address_pairs,omitempty"`
	QoS                 *QoSDoc          `yaml:"qos,omitempty" json:"qos,omitempty"`
}

// AddressPairDoc is an allowed address pair as written.
type AddressPairDoc struct {
	IP  string `yaml:"ip" json:"ip"`
	MAC string `yaml:"mac,omitempty" json:"mac,omitempty"`
}

// QoSDoc is a port's rate limits as written. It holds int64 so that a negative or oversized value reaches
// validation and gets a precise message instead of a decoding error.
type QoSDoc struct {
	IngressKbps int64 `yaml:"ingress_kbps,omitempty" json:"ingress_kbps,omitempty"`
	EgressKbps  int64 `yaml:"egress_kbps,omitempty" json:"egress_kbps,omitempty"`
	BurstKb     int64 `yaml:"burst_kb,omitempty" json:"burst_kb,omitempty"`
}

// SecurityGroupDoc is a security group as written.
type SecurityGroupDoc struct {
	Name     string    `yaml:"name" json:"name"`
	Stateful *bool     `yaml:"stateful,omitempty" json:"stateful,omitempty"`
	Rules    []RuleDoc `yaml:"rules,omitempty" json:"rules,omitempty"`
}

// RuleDoc is a security group rule as written.
type RuleDoc struct {
	Direction   string `yaml:"direction" json:"direction"`
	EtherType   string `yaml:"ethertype,omitempty" json:"ethertype,omitempty"`
	Protocol    string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	Ports       string `yaml:"ports,omitempty" json:"ports,omitempty"`
	ICMPType    *int64 `yaml:"icmp_type,omitempty" json:"icmp_type,omitempty"`
	ICMPCode    *int64 `yaml:"icmp_code,omitempty" json:"icmp_code,omitempty"`
	RemoteCIDR  string `yaml:"remote_cidr,omitempty" json:"remote_cidr,omitempty"`
	RemoteGroup string `yaml:"remote_group,omitempty" json:"remote_group,omitempty"`
}

// PolicyDoc is an admin policy as written.
type PolicyDoc struct {
	Name      string           `yaml:"name" json:"name"`
	Priority  *int64           `yaml:"priority,omitempty" json:"priority,omitempty"`
	AppliesTo *PolicyTargetDoc `yaml:"applies_to,omitempty" json:"applies_to,omitempty"`
	Rules     []PolicyRuleDoc  `yaml:"rules,omitempty" json:"rules,omitempty"`
}

// PolicyTargetDoc is a policy's applies_to as written.
type PolicyTargetDoc struct {
	All            bool     `yaml:"all,omitempty" json:"all,omitempty"`
	SecurityGroups []string `yaml:"security_groups,omitempty" json:"security_groups,omitempty"`
	Ports          []string `yaml:"ports,omitempty" json:"ports,omitempty"`
}

// PolicyRuleDoc is a policy rule as written: an action, the match keys of
// a security-group rule (RuleDoc) and log.
type PolicyRuleDoc struct {
	Action      string `yaml:"action" json:"action"`
	Direction   string `yaml:"direction" json:"direction"`
	EtherType   string `yaml:"ethertype,omitempty" json:"ethertype,omitempty"`
	Protocol    string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	Ports       string `yaml:"ports,omitempty" json:"ports,omitempty"`
	ICMPType    *int64 `yaml:"icmp_type,omitempty" json:"icmp_type,omitempty"`
	ICMPCode    *int64 `yaml:"icmp_code,omitempty" json:"icmp_code,omitempty"`
	RemoteCIDR  string `yaml:"remote_cidr,omitempty" json:"remote_cidr,omitempty"`
	RemoteGroup string `yaml:"remote_group,omitempty" json:"remote_group,omitempty"`
	Log         bool   `yaml:"log,omitempty" json:"log,omitempty"`
}

// match is the rule's match part as a security-group rule.
func (d *PolicyRuleDoc) match() RuleDoc {
	return RuleDoc{Direction: d.Direction, EtherType: d.EtherType, Protocol: d.Protocol, Ports: d.Ports,
		ICMPType: d.ICMPType, ICMPCode: d.ICMPCode, RemoteCIDR: d.RemoteCIDR, RemoteGroup: d.RemoteGroup}
}

// RouterDoc is a router as written.
type RouterDoc struct {
	Name         string           `yaml:"name" json:"name"`
	Host         string           `yaml:"host,omitempty" json:"host,omitempty"`
	Networks     []string         `yaml:"networks,omitempty" json:"networks,omitempty"`
	External     *ExternalDoc     `yaml:"external,omitempty" json:"external,omitempty"`
	SNAT         []SNATDoc        `yaml:"snat,omitempty" json:"snat,omitempty"`
	FloatingIPs  []FloatingIPDoc  `yaml:"floating_ips,omitempty" json:"floating_ips,omitempty"`
	PortForwards []PortForwardDoc `yaml:"port_forwards,omitempty" json:"port_forwards,omitempty"`
}

// ExternalDoc is a router's uplink as written.
type ExternalDoc struct {
	Port       string `yaml:"port" json:"port"`
	MAC        string `yaml:"mac" json:"mac"`
	IP         string `yaml:"ip" json:"ip"`
	Gateway    string `yaml:"gateway" json:"gateway"`
	GatewayMAC string `yaml:"gateway_mac,omitempty" json:"gateway_mac,omitempty"`
	IP6        string `yaml:"ip6,omitempty" json:"ip6,omitempty"`
	Gateway6   string `yaml:"gateway6,omitempty" json:"gateway6,omitempty"`
}

// SNATDoc is a masquerade entry as written.
type SNATDoc struct {
	Network string `yaml:"network" json:"network"`
	To      string `yaml:"to,omitempty" json:"to,omitempty"`
	Ports   string `yaml:"ports,omitempty" json:"ports,omitempty"`
}

// FloatingIPDoc is a floating IP as written.
type FloatingIPDoc struct {
	Port string `yaml:"port" json:"port"`
	IP   string `yaml:"ip" json:"ip"`
}

// PortForwardDoc is a port forward as written.
type PortForwardDoc struct {
	Protocol     string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	IP           string `yaml:"ip,omitempty" json:"ip,omitempty"`
	ExternalPort *int64 `yaml:"external_port,omitempty" json:"external_port,omitempty"`
	Port         string `yaml:"port" json:"port"`
	InternalPort *int64 `yaml:"internal_port,omitempty" json:"internal_port,omitempty"`
}

// ServiceDoc is a load-balanced service as written.
type ServiceDoc struct {
	Name            string       `yaml:"name" json:"name"`
	VIP             string       `yaml:"vip" json:"vip"`
	Protocol        string       `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	Port            *int64       `yaml:"port,omitempty" json:"port,omitempty"`
	Backends        []BackendDoc `yaml:"backends,omitempty" json:"backends,omitempty"`
	AffinitySeconds int64        `yaml:"affinity_seconds,omitempty" json:"affinity_seconds,omitempty"`
}

// BackendDoc is a service backend as written.
type BackendDoc struct {
	Port       string `yaml:"port" json:"port"`
	TargetPort *int64 `yaml:"target_port,omitempty" json:"target_port,omitempty"`
	Weight     *int64 `yaml:"weight,omitempty" json:"weight,omitempty"`
}

// Clone returns a copy of d that shares nothing with it that an edit of
// the copy could change (lists, nested lists and optional values).
func (d *Document) Clone() *Document {
	c := *d
	c.Networks = slices.Clone(d.Networks)
	c.Ports = slices.Clone(d.Ports)
	for i := range c.Ports {
		p := &c.Ports[i]
		p.IPs, p.SecurityGroups = slices.Clone(p.IPs), slices.Clone(p.SecurityGroups)
		p.AllowedAddressPairs = slices.Clone(p.AllowedAddressPairs)
		p.PortSecurity, p.QoS = clonePtr(p.PortSecurity), clonePtr(p.QoS)
	}
	c.SecurityGroups = slices.Clone(d.SecurityGroups)
	for i := range c.SecurityGroups {
		g := &c.SecurityGroups[i]
		g.Stateful, g.Rules = clonePtr(g.Stateful), slices.Clone(g.Rules)
		for j := range g.Rules {
			g.Rules[j].ICMPType, g.Rules[j].ICMPCode = clonePtr(g.Rules[j].ICMPType), clonePtr(g.Rules[j].ICMPCode)
		}
	}
	c.Policies = slices.Clone(d.Policies)
	for i := range c.Policies {
		p := &c.Policies[i]
		p.Priority, p.AppliesTo, p.Rules = clonePtr(p.Priority), clonePtr(p.AppliesTo), slices.Clone(p.Rules)
		if p.AppliesTo != nil {
			p.AppliesTo.SecurityGroups = slices.Clone(p.AppliesTo.SecurityGroups)
			p.AppliesTo.Ports = slices.Clone(p.AppliesTo.Ports)
		}
		for j := range p.Rules {
			p.Rules[j].ICMPType, p.Rules[j].ICMPCode = clonePtr(p.Rules[j].ICMPType), clonePtr(p.Rules[j].ICMPCode)
		}
	}
	c.Routers = slices.Clone(d.Routers)
	for i := range c.Routers {
		r := &c.Routers[i]
		r.Networks, r.External = slices.Clone(r.Networks), clonePtr(r.External)
		r.SNAT, r.FloatingIPs = slices.Clone(r.SNAT), slices.Clone(r.FloatingIPs)
		r.PortForwards = slices.Clone(r.PortForwards)
		for j := range r.PortForwards {
			f := &r.PortForwards[j]
			f.ExternalPort, f.InternalPort = clonePtr(f.ExternalPort), clonePtr(f.InternalPort)
		}
	}
	c.Services = slices.Clone(d.Services)
	for i := range c.Services {
		s := &c.Services[i]
		s.Port, s.Backends = clonePtr(s.Port), slices.Clone(s.Backends)
		for j := range s.Backends {
			b := &s.Backends[j]
			b.TargetPort, b.Weight = clonePtr(b.TargetPort), clonePtr(b.Weight)
		}
	}
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
