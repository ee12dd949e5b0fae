package pipeline

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// Services are load balanced in the network zone of the client, as OVN
// and Antrea do it: the first packet of a connection to vip:port reaches
// service_lb after the client's egress ACL, a select group picks a
// backend in proportion to the weights, and the bucket commits the
// connection with ct(commit, nat(dst=backend:target_port)). Every later
// packet is translated by conntrack's ct(nat) in TableConntrack (replies
// back to the service address), so the choice holds for the connection's
// life, and a backend that leaves the service keeps the connections it
// has. The translated packet then walks l2_lookup, the backend's ingress
// ACL and commit as any other: the backend's security groups judge the
// client's connection to backend:target_port.
//
// One service is compiled once per network that can reach it (a view):
// its backends are the bound ones in that network, or in a network a
// router routes to from it (their packets take the gateway MAC and the
// router carries them). A view with no backend answers with a TCP RST or
// ICMP port unreachable through the controller, as a reject rule does.
//
// A backend reaching its own service and landing on itself would see a
// packet from its own address, which its kernel drops; such a
// connection is also SNATed to the service address in its own zone
// (ServiceHairpinZone) and sent back out of its port. Affinity keeps a
// learned flow per client and service view, which expires when idle.

// Priorities in the service stage.
const (
	prioServiceARP       uint16 = 400
	prioServiceNew       uint16 = 300
	prioServiceHairpin   uint16 = 250 // a reply to the service address
	prioServiceForward   uint16 = 200 // translated packets, both directions
	prioServiceSelf      uint16 = 110
	prioServiceBackend   uint16 = 100
	prioServiceNeighbour uint16 = 50
	prioServiceGateway   uint16 = 10
	prioServiceSticky    uint16 = 100
	prioServiceGroup     uint16 = 50
	prioServiceLearned   uint16 = 100
	prioOutputSelf       uint16 = 120
)

// ServiceMAC answers ARP for a service address: 02:fe followed by the
// IPv4 address, readable in dump-flows as the gateway's convention is.
func ServiceMAC(vip netip.Addr) flows.MAC {
	a := vip.As16()
	return flows.MAC{0x02, 0xfe, a[12], a[13], a[14], a[15]}
}

// serviceView is one service as reached from one network.
type serviceView struct {
	svc      *intent.Service
	net      *intent.Network
	zone     uint16
	key      uint16 // reg9 key and group id
	cookie   uint64
	backends []serviceBackend // bound and reachable, in intent order
}

type serviceBackend struct {
	intent.Backend
	port   *intent.Port
	ofport uint32
	addr   netip.Addr
	index  uint16 // the affinity table's name for it
	mac    flows.MAC
	local  bool // in the view's network (else through the gateway)
	cookie uint64
}

// serviceIDs names services (cookie objects) and views (reg9 keys,
// group ids); both are stable while the names are.
type serviceIDs struct {
	service map[string]uint32
	view    map[string]uint32
	backend map[string]map[string]uint32 // service -> backendKey -> index
}

func viewKey(svc, net string) string { return svc + "\x00" + net }
func backendKey(b intent.Backend) string {
	return b.Port + "/" + strconv.Itoa(int(b.TargetPort))
}

func assignServiceIDs(in *intent.Intent) serviceIDs {
	var names, views []string
	ids := serviceIDs{backend: map[string]map[string]uint32{}}
	for _, s := range in.Services {
		names = append(names, s.Name)
		for _, n := range in.Networks {
			views = append(views, viewKey(s.Name, n.Name))
		}
		var keys []string
		for _, b := range s.Backends {
			keys = append(keys, backendKey(b))
		}
		ids.backend[s.Name] = allocate(keys, 1, 0xffff)
	}
	ids.service = allocate(names, 1, 1<<32-1)
	ids.view = allocate(views, 1, 0xffff)
	return ids
}

// serviceCookie names a service (index 0) or one of its backends.
func serviceCookie(service uint32, backend uint16) uint64 {
	return Cookie(KindService, uint64(service)<<16|uint64(backend))
}

// serviceFamily is the EthType of a service's address.
func serviceFamily(s *intent.Service) uint16 {
	if s.VIP.Is4() {
		return flows.EthTypeIPv4
	}
	return flows.EthTypeIPv6
}

func hasFamily(n *intent.Network, ethType uint16) bool {
	if ethType == flows.EthTypeIPv4 {
		return n.CIDR.IsValid()
	}
	return n.CIDR6.IsValid()
}

func addressOf(p *intent.Port, ethType uint16) netip.Addr {
	for _, a := range p.IPs {
		if a.Is4() == (ethType == flows.EthTypeIPv4) {
			return a
		}
	}
	return netip.Addr{}
}

// sharedRouter reports whether a router routes between networks a and b
// for family ethType.
func sharedRouter(in *intent.Intent, a, b *intent.Network, ethType uint16) bool {
	gw := func(n *intent.Network) bool {
		if ethType == flows.EthTypeIPv4 {
			return n.Gateway.IsValid()
		}
		return n.Gateway6.IsValid()
	}
	if !gw(a) || !gw(b) {
		return false
	}
	return slices.ContainsFunc(in.Routers, func(r intent.Router) bool {
		return slices.Contains(r.Networks, a.Name) && slices.Contains(r.Networks, b.Name)
	})
}

// serviceViews lists every view of every service: one per network that
// has the service's address family.
//
// remote places ports bound on other hosts (overlay.go): they are backends
// too, reached through the tunnel, but never the client itself.
func serviceViews(in *intent.Intent, b Bindings, remote map[string]netip.Addr, zones map[string]uint16, ids serviceIDs) []serviceView {
	var out []serviceView
	for i := range in.Services {
		s := &in.Services[i]
		fam := serviceFamily(s)
		sid := ids.service[s.Name]
		for j := range in.Networks {
			n := &in.Networks[j]
			if !hasFamily(n, fam) {
				continue
			}
			v := serviceView{svc: s, net: n, zone: zones[n.Name], key: uint16(ids.view[viewKey(s.Name, n.Name)]),
				cookie: serviceCookie(sid, 0)}
			for _, be := range s.Backends {
				p := in.Port(be.Port)
				ofport, bound := b[be.Port]
				if p == nil || !bound && !remote[be.Port].IsValid() {
					continue
				}
				bn := in.Network(p.Network)
				addr := addressOf(p, fam)
				if bn == nil || !addr.IsValid() {
					continue
				}
				sb := serviceBackend{Backend: be, port: p, ofport: ofport, addr: addr,
					index: uint16(ids.backend[s.Name][backendKey(be)]), local: bn.Name == n.Name}
				sb.cookie = serviceCookie(sid, sb.index)
				switch {
				case sb.local:
					sb.mac = flows.MAC(p.MAC)
				case sharedRouter(in, n, bn, fam):
					sb.mac = GatewayMAC(n)
				default:
					continue // not reachable from this network
				}
				v.backends = append(v.backends, sb)
			}
			out = append(out, v)
		}
	}
	return out
}

// networkZones are the networks' conntrack zones (= network ids).
func networkZones(in *intent.Intent) map[string]uint16 {
	var nets []string
	for _, n := range in.Networks {
		nets = append(nets, n.Name)
	}
	zones := allocate(nets, uint32(firstNetworkZone), uint32(lastNetworkZone))
	z := make(map[string]uint16, len(zones))
	for k, v := range zones {
		z[k] = uint16(v)
	}
	return z
}

// ServiceGroups are the select groups the services of in need with b,
// by id: one per service view that has backends.
func ServiceGroups(in *intent.Intent, b Bindings) []flows.GroupDesc {
	return ServiceGroupsOn(in, b, Overlay{})
}

// ServiceGroupsOn is ServiceGroups on a host of an overlay: backends bound
// on other hosts are in the groups too.
func ServiceGroupsOn(in *intent.Intent, b Bindings, ov Overlay) []flows.GroupDesc {
	ids := assignServiceIDs(in)
	var out []flows.GroupDesc
	for _, v := range serviceViews(in, b, ov.remote(), networkZones(in), ids) {
		if len(v.backends) == 0 {
			continue
		}
		g := flows.GroupDesc{ID: uint32(v.key)}
		for _, be := range v.backends {
			g.Buckets = append(g.Buckets, flows.Bucket{Weight: uint16(be.Weight), Actions: []flows.Action{commitBackend(be)}})
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b flows.GroupDesc) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// commitBackend commits a new connection with its destination
// translated to be and continues at service_backend.
func commitBackend(be serviceBackend) flows.Action {
	return flows.CT{Commit: true, ZoneField: networkZoneField(), Table: tableAddr(TableServiceBackend),
		NAT: &flows.NAT{Kind: flows.NATDst, AddrMin: be.addr, PortMin: be.TargetPort, PortMax: be.TargetPort}}
}

// withAffinity splits f, a service backend's flow, for a service with
// affinity: the first packet of a connection (+new, whichever way the
// backend was picked) also learns "this client goes to be".
func withAffinity(v serviceView, be serviceBackend, f flows.Flow) []flows.Flow {
	if v.svc.AffinitySeconds == 0 {
		return []flows.Flow{f}
	}
	first, rest := f, f
	first.Match.CTState.Set |= flows.CTNew
	first.Actions = append([]flows.Action{learnAffinity(v, be)}, f.Actions...)
	rest.Match.CTState.Clear |= flows.CTNew
	return []flows.Flow{first, rest}
}

// learnAffinity records "this client of this view goes to be" in
// service_affinity, for affinity_seconds of idleness.
func learnAffinity(v serviceView, be serviceBackend) flows.Learn {
	fam := serviceFamily(v.svc)
	src := flows.Whole(flows.FieldIPv4Src)
	if fam == flows.EthTypeIPv6 {
		src = flows.Whole(flows.FieldIPv6Src)
	}
	key := fieldServiceKey
	return flows.Learn{
		Table: uint8(TableServiceAffinity), Priority: prioServiceLearned,
		IdleTimeout: uint16(min(v.svc.AffinitySeconds, 0xffff)), Cookie: be.cookie,
		Specs: []flows.LearnSpec{
			{Dst: flows.Whole(flows.FieldEthType), Value: uint64(fam)},
			{Src: &key, Dst: fieldServiceKey},
			{Src: &src, Dst: src},
			{Load: true, Value: uint64(be.index), Dst: fieldServiceBackend},
		},
	}
}

// IsLearned reports whether f is a flow the datapath learned (a client's
// affinity), which the controller neither installs nor removes.
func IsLearned(f *flows.Flow) bool {
	return f.Table == uint8(TableServiceAffinity) && KindOf(f.Cookie) != KindInfra
}

// servicesFingerprint covers servicesFlows: the services, the networks
// and what routers connect, and the bound backends (their addresses,
// port numbers, cookies and ingress meters).
func (c *compiler) servicesFingerprint() uint64 {
	f := newFingerprint().value(c.in.Services).value(c.in.Networks)
	for _, r := range c.in.Routers {
		f.str(r.Name).value(r.Networks)
	}
	for _, s := range c.in.Services {
		for _, be := range s.Backends {
			if p, bound := c.byName[be.Port]; bound {
				f.value(*p.Port).u64(uint64(p.ofport)).u64(p.cookie).u64(uint64(p.ingressMeter))
			} else if ep := c.remoteEndpoint(be.Port); ep.IsValid() {
				if p := c.in.Port(be.Port); p != nil {
					f.value(*p).str(ep.String())
				}
			}
		}
	}
	return f.sum()
}

// servicesFlows are the flows of the service stage for every service.
func (c *compiler) servicesFlows() (built, error) {
	if len(c.in.Services) == 0 {
		return built{}, nil
	}
	ids := assignServiceIDs(c.in)
	views := serviceViews(c.in, c.bindings, c.overlay.remote(), c.ids.zone, ids)
	var out []flows.Flow
	for _, ti := range tables {
		if ti.Service {
			f := flows.Flow{Table: uint8(ti.Table), Cookie: infraCookie(ti.Table)}
			if ti.Miss != nil {
				f.Actions = []flows.Action{goTo(*ti.Miss)}
			}
			out = append(out, f)
		}
	}
	for _, et := range []uint16{flows.EthTypeIPv4, flows.EthTypeIPv6} {
		out = append(out,
			flows.Flow{Table: uint8(TableServiceLB), Priority: prioServiceForward, Cookie: infraCookie(TableServiceLB),
				Match:   flows.Match{EthType: et, CTState: flows.CTStateMatch{Set: flows.CTTrk | flows.CTDNAT, Clear: flows.CTRpl}},
				Actions: []flows.Action{goTo(TableServiceBackend)}},
			flows.Flow{Table: uint8(TableServiceHairpin), Priority: prioServiceBackend, Cookie: infraCookie(TableServiceHairpin),
				Match:   flows.Match{EthType: et},
				Actions: []flows.Action{flows.CT{ZoneField: networkZoneField(), NAT: &flows.NAT{}, Table: tableAddr(TableL2Lookup)}}})
	}
	for i := range c.in.Networks {
		n := &c.in.Networks[i]
		if c.routed(*n) {
			out = append(out, flows.Flow{Table: uint8(TableServiceBackend), Priority: prioServiceGateway,
				Cookie: infraCookie(TableServiceBackend), Match: flows.Match{Regs: []flows.RegMatch{matchNetwork(c.ids.zone[n.Name])}},
				Actions: []flows.Action{flows.SetEthDst{MAC: GatewayMAC(n)}, goTo(TableL2Lookup)}})
		}
	}
	perService := map[string]bool{}
	perVIP := map[netip.Addr]bool{}
	selfPorts := map[string]bool{}
	for _, v := range views {
		out = append(out, c.serviceViewFlows(v)...)
		if !perService[v.svc.Name] {
			perService[v.svc.Name] = true
			out = append(out, serviceReplyCounter(v))
		}
		if !perVIP[v.svc.VIP] {
			perVIP[v.svc.VIP] = true
			out = append(out, hairpinReplies(v)...)
		}
		for _, be := range v.backends {
			if be.local && be.ofport != 0 && !selfPorts[be.Port] {
				selfPorts[be.Port] = true
				out = append(out, c.outputSelf(be.Port))
			}
		}
	}
	out = append(out, c.serviceARPResponders(views)...)
	return built{flows: out}, nil
}

// serviceMatch matches a service's connections as the client opened
// them.
func serviceMatch(s *intent.Service) flows.Match {
	return flows.Match{EthType: serviceFamily(s), IPProto: flows.U8(uint8(s.Protocol)),
		IPDst: addrPrefix(s.VIP), TPDst: flows.ExactPort(s.Port)}
}

// serviceOrigin matches packets of connections made to s, by the
// original direction of the connection (ct_nw_dst, ct_tp_dst).
func serviceOrigin(s *intent.Service, state flows.CTStateMatch) flows.Match {
	p := uint8(s.Protocol)
	return flows.Match{EthType: serviceFamily(s), CTState: state, CTNwDst: addrPrefix(s.VIP),
		CTNwProto: &p, CTTpDst: flows.U16(s.Port)}
}

func (c *compiler) serviceViewFlows(v serviceView) []flows.Flow {
	var out []flows.Flow
	m := serviceMatch(v.svc)
	m.CTState = flows.CTStateMatch{Set: flows.CTTrk | flows.CTNew}
	m.Regs = []flows.RegMatch{matchNetwork(v.zone)}
	pick := flows.Flow{Table: uint8(TableServiceLB), Priority: prioServiceNew, Cookie: v.cookie, Match: m}
	switch {
	case len(v.backends) == 0:
		// Nothing to connect to: the controller answers as a reject rule
		// would (controller/reject.go), and the packet drops.
		pick.Actions = []flows.Action{flows.Controller{Reason: flows.PacketInAction}}
	case v.svc.AffinitySeconds > 0:
		pick.Actions = []flows.Action{
			flows.Load{Field: flows.Whole(flows.RegField(regService)), Value: uint64(v.key)},
			flows.Resubmit{Table: uint8(TableServiceAffinity)},
			goTo(TableServiceSticky),
		}
		key := flows.Reg(regService, uint32(v.key), serviceKeyMask)
		out = append(out, flows.Flow{Table: uint8(TableServiceSticky), Priority: prioServiceGroup, Cookie: v.cookie,
			Match:   flows.Match{EthType: serviceFamily(v.svc), Regs: []flows.RegMatch{key}},
			Actions: []flows.Action{flows.Group{ID: uint32(v.key)}}})
		for _, be := range v.backends {
			out = append(out, flows.Flow{Table: uint8(TableServiceSticky), Priority: prioServiceSticky, Cookie: be.cookie,
				Match: flows.Match{EthType: serviceFamily(v.svc),
					Regs: []flows.RegMatch{flows.Reg(regService, uint32(v.key)|uint32(be.index)<<serviceKeyBits, 0)}},
				Actions: []flows.Action{commitBackend(be)}})
		}
	default:
		pick.Actions = []flows.Action{flows.Group{ID: uint32(v.key)}}
	}
	out = append(out, pick)
	translated := flows.CTStateMatch{Set: flows.CTTrk | flows.CTDNAT, Clear: flows.CTRpl}
	for _, be := range v.backends {
		m := serviceOrigin(v.svc, translated)
		m.Regs = []flows.RegMatch{matchNetwork(v.zone)}
		m.IPProto, m.IPDst, m.TPDst = flows.U8(uint8(v.svc.Protocol)), addrPrefix(be.addr), flows.ExactPort(be.TargetPort)
		to := flows.Flow{Table: uint8(TableServiceBackend), Priority: prioServiceBackend, Cookie: be.cookie,
			Match: m, Actions: []flows.Action{flows.SetEthDst{MAC: be.mac}, goTo(TableL2Lookup)}}
		out = append(out, withAffinity(v, be, to)...)
		if !be.local || be.ofport == 0 {
			continue // another network, or another host: never the client's own port
		}
		// The backend itself as the client: SNAT it to the service
		// address in the hairpin zone, after recording its egress rule
		// on the connection (the commit table never sees this one: the
		// packet continues as the SNATed connection).
		self := m
		self.Regs = []flows.RegMatch{matchNetwork(v.zone), matchSrcPort(be.ofport)}
		self.CTState.Set |= flows.CTNew
		hz := ServiceHairpinZone
		lead := []flows.Action{flows.SetEthDst{MAC: be.mac}, flows.Load{Field: fieldServiceHairpin, Value: 1}}
		selfNew := flows.Flow{Table: uint8(TableServiceBackend), Priority: prioServiceSelf, Cookie: be.cookie,
			Match: self, Actions: append(slices.Clone(lead),
				flows.CT{Commit: true, ZoneField: networkZoneField(), Exec: []flows.Action{flows.Move{Src: fieldEgressRuleID, Dst: labelEgressRuleID}}},
				flows.CT{Commit: true, Zone: hz, Table: tableAddr(TableServiceHairpin), NAT: &flows.NAT{Kind: flows.NATSrc, AddrMin: v.svc.VIP}})}
		if v.svc.AffinitySeconds > 0 {
			selfNew.Actions = append([]flows.Action{learnAffinity(v, be)}, selfNew.Actions...)
		}
		out = append(out, selfNew)
		est := self
		est.CTState.Set &^= flows.CTNew
		est.CTState.Clear |= flows.CTNew
		out = append(out, flows.Flow{Table: uint8(TableServiceBackend), Priority: prioServiceSelf, Cookie: be.cookie,
			Match: est, Actions: append(slices.Clone(lead),
				flows.CT{Zone: hz, Table: tableAddr(TableServiceHairpin), NAT: &flows.NAT{}})})
	}
	return out
}

// serviceReplyCounter passes (and counts) the replies of a service's
// connections, translated back to the service address: conntrack flags
// what it did to the packet, and to a reply it rewrote the source
// (+snat), undoing the original direction's DNAT.
func serviceReplyCounter(v serviceView) flows.Flow {
	return flows.Flow{Table: uint8(TableServiceLB), Priority: prioServiceForward, Cookie: v.cookie,
		Match:   serviceOrigin(v.svc, flows.CTStateMatch{Set: flows.CTTrk | flows.CTSNAT | flows.CTRpl}),
		Actions: []flows.Action{goTo(TableL2Lookup)}}
}

// hairpinReplies send a backend's replies to the service address (its
// self-hairpinned connections, SNATed to it) through the hairpin zone,
// then the network zone, back to itself.
func hairpinReplies(v serviceView) []flows.Flow {
	return []flows.Flow{{Table: uint8(TableServiceLB), Priority: prioServiceHairpin, Cookie: v.cookie,
		Match: flows.Match{EthType: serviceFamily(v.svc), IPDst: addrPrefix(v.svc.VIP),
			CTState: flows.CTStateMatch{Set: flows.CTTrk | flows.CTRpl}},
		Actions: []flows.Action{
			flows.Move{Src: flows.Whole(flows.FieldEthSrc), Dst: flows.Whole(flows.FieldEthDst)},
			flows.Load{Field: fieldServiceHairpin, Value: 1},
			flows.CT{Zone: ServiceHairpinZone, Table: tableAddr(TableServiceHairpin), NAT: &flows.NAT{}},
		}}}
}

// outputSelf returns a self-hairpinned packet out of the port it came
// from (output:N never sends a packet back out of its in_port).
func (c *compiler) outputSelf(port string) flows.Flow {
	p := c.byName[port]
	return flows.Flow{Table: uint8(TableOutput), Priority: prioOutputSelf, Cookie: p.cookie,
		Match: flows.Match{InPort: p.ofport, Regs: []flows.RegMatch{matchDstPort(p.ofport),
			flows.Reg(regNetwork, flagServiceHairpin, flagServiceHairpin)}},
		Actions: withMeter(p.ingressMeter, []flows.Action{flows.Output{Port: flows.PortInPort}})}
}

// serviceARPResponders answer ARP for an IPv4 service address in the
// networks whose subnet holds it, and hand neighbour solicitations for an
// IPv6 one to the controller.
func (c *compiler) serviceARPResponders(views []serviceView) []flows.Flow {
	type at struct {
		vip  netip.Addr
		zone uint16
	}
	done := map[at]bool{}
	var out []flows.Flow
	for _, v := range views {
		vip := v.svc.VIP
		onLink := vip.Is4() && v.net.CIDR.Contains(vip) || vip.Is6() && v.net.CIDR6.Contains(vip)
		if !onLink || done[at{vip, v.zone}] {
			continue
		}
		done[at{vip, v.zone}] = true
		if c.routed(*v.net) {
			// Routed from elsewhere (another network, the outside): the
			// router delivers to the service address, and the packet
			// re-enters this network where service_lb picks a backend.
			out = append(out, flows.Flow{Table: uint8(TableRouterNeighbour), Priority: prioServiceNeighbour, Cookie: v.cookie,
				Match: flows.Match{EthType: serviceFamily(v.svc), IPDst: addrPrefix(vip),
					Regs: []flows.RegMatch{matchOutNetwork(uint32(v.zone))}},
				Actions: []flows.Action{flows.SetEthDst{MAC: ServiceMAC(vip)}, gotoTable(TableRouterSNATTrack)}})
		}
		if vip.Is4() {
			m := arpRequestFor(vip)
			m.Regs = []flows.RegMatch{matchNetwork(v.zone)}
			out = append(out, flows.Flow{Table: uint8(TableServiceLB), Priority: prioServiceARP, Cookie: v.cookie,
				Match: m, Actions: arpReply(ServiceMAC(vip), vip)})
			continue
		}
		// The controller answers solicitations for it (controller/reject.go):
		// the flow says which target, so it answers only for service
		// addresses, with ServiceMAC.
		m := flows.Match{EthType: flows.EthTypeIPv6, IPProto: flows.U8(flows.ProtoICMPv6), ICMPType: flows.U8(135),
			ICMPCode: flows.U8(0), NDTarget: vip, Regs: []flows.RegMatch{matchNetwork(v.zone)}}
		out = append(out, flows.Flow{Table: uint8(TableServiceLB), Priority: prioServiceARP, Cookie: v.cookie,
			Match: m, Actions: []flows.Action{flows.Controller{Reason: flows.PacketInAction}}})
	}
	return out
}

// serviceNeighbour gives translated packets to p's addresses p's MAC, so
// connections to a backend that left its service still arrive.
func serviceNeighbour(p boundPort) []flows.Flow {
	if !p.services {
		return nil
	}
	var out []flows.Flow
	for _, a := range p.IPs {
		et := flows.EthTypeIPv4
		if a.Is6() {
			et = flows.EthTypeIPv6
		}
		out = append(out, flows.Flow{Table: uint8(TableServiceBackend), Priority: prioServiceNeighbour, Cookie: p.cookie,
			Match:   flows.Match{EthType: et, IPDst: addrPrefix(a), Regs: []flows.RegMatch{matchNetwork(p.zone)}},
			Actions: []flows.Action{flows.SetEthDst{MAC: flows.MAC(p.MAC)}, goTo(TableL2Lookup)}})
	}
	return out
}

// networkZoneField is zone=NXM_NX_REG2[0..15]: the packet's network zone.
func networkZoneField() *flows.FieldRef {
	z := fieldNetwork
	return &z
}

// describeService is "10.0.0.100:80/tcp, 3 backends" for cookie names.
func describeService(s *intent.Service) string {
	proto := "tcp"
	if s.Protocol == intent.ProtoUDP {
		proto = "udp"
	}
	return netip.AddrPortFrom(s.VIP, s.Port).String() + "/" + proto + ", " + strconv.Itoa(len(s.Backends)) + " backends"
}
