package pipeline

import (
	"github.com/flowgate/flowgate/intent"
)

// A cookie names the object a flow came from, so dump-flows, per-rule
// counters and traces can say which rule made a verdict:
//
//	bits 63..56  round: the controller's generation (Compile leaves 0;
//	             the controller ORs it in with WithRound)
//	bits 55..48  kind of object (CookieKind)
//	bits 47..0   object id, stable across compiles (see ids.go)
const (
	cookieRoundShift = 56
	cookieKindShift  = 48
	cookieObjectMask = 1<<cookieKindShift - 1
	// CookieRoundMask selects the round; with it the controller deletes
	// the flows of an old round ("cookie=R<<56/CookieRoundMask").
	CookieRoundMask uint64 = 0xff << cookieRoundShift
	// CookieObjectMask selects kind and object: flows of one object in
	// any round.
	CookieObjectMask uint64 = ^CookieRoundMask
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
	// Kinds reserved for later stages.
	KindRouter  CookieKind = 6
	KindNAT     CookieKind = 7
	KindService CookieKind = 8
)

// Cookie builds the round-0 cookie of an object.
func Cookie(kind CookieKind, object uint64) uint64 {
	return uint64(kind)<<cookieKindShift | object&cookieObjectMask
}

// WithRound sets the round of a cookie.
func WithRound(cookie uint64, round uint8) uint64 {
	return cookie&^CookieRoundMask | uint64(round)<<cookieRoundShift
}

// CookieRound returns the round of a cookie.
func CookieRound(cookie uint64) uint8 { return uint8(cookie >> cookieRoundShift) }

func cookieKind(cookie uint64) CookieKind { return CookieKind(cookie >> cookieKindShift) }
func cookieObject(cookie uint64) uint64   { return cookie & cookieObjectMask }

func infraCookie(t Table) uint64 { return Cookie(KindInfra, uint64(t)) }

// DescribeCookie names the object behind a cookie of a flow compiled from
// in (see CookieNamer.Describe). It computes the intent's ids on every
// call: to name many cookies, build a CookieNamer once.
func DescribeCookie(in *intent.Intent, cookie uint64) string {
	return NewCookieNamer(in).Describe(cookie)
}
