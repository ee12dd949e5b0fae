package intent

import (
	"fmt"
	"net/netip"
	"strings"
)

// Validate checks the whole document and returns the typed Intent with
// defaults filled in, or no Intent and an Errors with one entry per problem.
// Problems that do not refuse the document (a policy rule that never
// matches) are the accepted Intent's Warnings.
// Objects are checked in dependency order (networks and groups before the
// ports that name them, ports before the routers and services that name
// them), so each reference is judged against what it refers to.
func (doc *Document) Validate() (*Intent, error) {
	return doc.validate(&collector{})
}

// validate adds the document's problems to those already in c.
func (doc *Document) validate(c *collector) (*Intent, error) {
	v := &validator{
		collector:   *c,
		doc:         doc,
		in:          &Intent{},
		networks:    map[string]*networkInfo{},
		ports:       map[string]*portInfo{},
		groups:      map[string]*SecurityGroup{},
		macs:        map[[6]byte]string{},
		routerAddrs: map[netip.Addr]routerAddr{},
		hostAddrs:   map[netip.Addr]string{},
	}
	v.bridge()
	v.networkList()
	v.groupList()
	v.portList()
	v.policyList()
	v.routerList()
	v.serviceList()
	if err := v.err(); err != nil {
		return nil, err
	}
	v.in.Warnings = v.warnings()
	return v.in, nil
}

type validator struct {
	collector
	doc *Document
	in  *Intent

	networks map[string]*networkInfo
	ports    map[string]*portInfo
	groups   map[string]*SecurityGroup
	// macs maps every port and router MAC to the path of its owner.
	macs map[[6]byte]string
	// routerAddrs holds the external addresses routers own (their own,
	// floating, masquerade), which must not be claimed twice.
	routerAddrs map[netip.Addr]routerAddr
	// hostAddrs holds port addresses and gateways, described for messages
	// ("an address of ports[web1]"), which a service VIP must not reuse.
	hostAddrs map[netip.Addr]string
}

// routerAddr is an external address a router answers for.
type routerAddr struct {
	router string // router path
	role   string // "the external address", "floating_ips[0]", "an snat address"
}

func (a routerAddr) String() string { return a.role + " of " + a.router }

// listNames is the naming of one list's elements: their paths (see
// elementPaths), whether each is the first with its name (only those go into
// lookup maps), and what is wrong with each name, reported by checkName as
// the element is checked so that errors keep document order.
type listNames struct {
	paths  []string
	first  []bool
	issues []string
}

func nameList(list string, names []string) listNames {
	l := listNames{paths: elementPaths(list, names), first: make([]bool, len(names)), issues: make([]string, len(names))}
	seen := map[string]string{}
	for i, name := range names {
		switch prev, dup := seen[name]; {
		case name == "":
			l.issues[i] = "required"
		case nameProblem(name, false) != "":
			l.issues[i] = nameProblem(name, false)
		case dup:
			l.issues[i] = fmt.Sprintf("%s is also the name of %s", quote(name), prev)
		default:
			seen[name] = l.paths[i]
			l.first[i] = true
		}
	}
	return l
}

func (v *validator) checkName(l listNames, i int) {
	if l.issues[i] != "" {
		v.add(join(l.paths[i], "name"), "%s", l.issues[i])
	}
}

// bridge checks the integration bridge name as OVS and Linux will see it:
// the bridge's internal port is a network device named after it.
func (v *validator) bridge() {
	b := v.doc.Bridge
	if b == "" {
		b = "br-int"
	}
	if problem := nameProblem(b, true); problem != "" {
		v.add("bridge", "%s", problem)
	}
	v.in.Bridge = b

	switch dp := strings.ToLower(v.doc.Datapath); dp {
	case "":
		v.in.Datapath = "auto"
	case "auto", "system", "netdev":
		v.in.Datapath = dp
	default:
		v.add("datapath", "%s is not auto, system or netdev", quote(v.doc.Datapath))
	}
}

// addErr adapts a helper's error to a FieldError reason.
func (v *validator) addErr(path string, err error) {
	v.add(path, "%s", err.Error())
}

// claimMAC records owner as the user of mac, or reports who already is.
func (v *validator) claimMAC(path string, mac [6]byte, owner string) {
	if prev, ok := v.macs[mac]; ok {
		v.add(path, "%s is also the MAC of %s", formatMAC(mac), prev)
		return
	}
	v.macs[mac] = owner
}

// makeList allocates a list to fill in place, or nil for none, so that an
// empty document validates to the zero Intent plus defaults.
func makeList[T any](n int) []T {
	if n == 0 {
		return nil
	}
	return make([]T, n)
}
