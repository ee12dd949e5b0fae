package pipeline

import (
	"github.com/flowgate/flowgate/intent"
)

// A cookie names the object a flow came from, so dump-flows, per-rule
// counters and traces can say which rule made a verdict:
//
//	bits 63..56  zero: flowgate keeps no cookie generations (the README's
//	             "Why no cookie rounds"); a flow with any of them set is
//	             not flowgate's
//	bits 55..48  kind of object (CookieKind)
//	bits 47..0   object id, stable across compiles (see ids.go)
const (
	cookieKindShift  = 48
	cookieObjectMask = 1<<cookieKindShift - 1
)

// CookieKind is the kind of object a flow belongs to.
type CookieKind uint8

const (
	// KindInfra flows belong to the pipeline itself; the object id is
	// the table number.
	KindInfra CookieKind = 1
	// KindPort flows serve one port (classification, anti-spoofing, L2,
	// output); the object id is the port id.
	KindPort CookieKind = 2
	// KindNetwork flows serve one network (flooding); the id is its zone.
	KindNetwork CookieKind = 3
	// KindSecurityGroup flows belong to a group as a whole (passing its
	// established connections); the id is the group id.
	KindSecurityGroup CookieKind = 4
	// KindRule flows implement one security-group rule, or a class of
	// rules compiled together (rule_classes.go); the id is the rule's
	// (class's) id, which is also what ct_label records.
	KindRule CookieKind = 5
	// KindRouter flows route for a router (its networks, uplink, routes);
	// KindNAT flows translate addresses for one of its NAT entries
	// (router_cookies.go says which object each id names).
	KindRouter CookieKind = 6
	KindNAT    CookieKind = 7
	// KindService is kept for load-balanced services, which are
	// validated but not compiled yet.
	KindService CookieKind = 8
	// KindPolicyRule flows implement one rule of an admin policy
	// (policy.go); the id is the policy rule's id, which is also what
	// ct_label records for connections it allowed.
	KindPolicyRule CookieKind = 9
)

// Cookie builds the cookie of an object.
func Cookie(kind CookieKind, object uint64) uint64 {
	return uint64(kind)<<cookieKindShift | object&cookieObjectMask
}

func cookieKind(cookie uint64) CookieKind { return CookieKind(cookie >> cookieKindShift) }

// KindOf is the kind of object a cookie names (for readers of packet-ins
// and dumps).
func KindOf(cookie uint64) CookieKind   { return cookieKind(cookie) }
func cookieObject(cookie uint64) uint64 { return cookie & cookieObjectMask }

func infraCookie(t Table) uint64 { return Cookie(KindInfra, uint64(t)) }

// DescribeCookie names the object behind a cookie of a flow compiled from
// in (see CookieNamer.Describe). It computes the intent's ids on every
// call: to name many cookies, build a CookieNamer once.
func DescribeCookie(in *intent.Intent, cookie uint64) string {
	return NewCookieNamer(in).Describe(cookie)
}
