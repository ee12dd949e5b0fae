package intent

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Limits on a document. They keep a hostile or broken document from
// costing more than a real one ever needs, and every message about a bad
// value short: a problem shows at most quoteBytes of the value it is about.
const (
	// MaxDocumentBytes bounds the document; an intent of thousands of
	// ports and rules is a few hundred KiB.
	MaxDocumentBytes = 8 << 20
	// MaxNameBytes bounds the names of networks, ports (the iface-id),
	// security groups, routers and services.
	MaxNameBytes = 64
	// MaxHostBytes bounds a host's name (routers[].host, the controller's
	// --host): a DNS name's length.
	MaxHostBytes = 253
	// MaxBridgeNameBytes is the Linux interface name limit (IFNAMSIZ-1):
	// the bridge's internal port is a network device named after it.
	MaxBridgeNameBytes = 15
	// MaxListItems bounds every list in the document.
	MaxListItems = 65536
	// MaxRules bounds the rules of all security groups together.
	MaxRules = 50000
	// MaxPolicyPriority bounds policies[].priority, and MaxPolicyRules the
	// rules of one policy: the compiler gives every policy rule its own
	// OpenFlow priority, derived from both (pipeline/policy.go).
	MaxPolicyPriority = 249
	MaxPolicyRules    = 100

	// maxProblems is how many problems a refusal lists; the rest are
	// counted in one last line.
	maxProblems = 100
	// quoteBytes is the longest prefix of a bad value a message shows.
	quoteBytes = 32
	// maxTextBytes bounds a path or a reason whatever it holds.
	maxTextBytes = 256
)

// quote shows a value from the document in a message: Go-quoted (so
// control characters and NULs are visible and cannot forge log lines),
// and cut to quoteBytes with its full length said.
func quote(s string) string {
	if len(s) <= quoteBytes {
		return strconv.Quote(s)
	}
	cut := quoteBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// bound cuts a path or reason that would still be long (a deep path of
// long names) so that no message is unbounded.
func bound(s string) string {
	if len(s) <= maxTextBytes {
		return s
	}
	cut := maxTextBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// nameChar reports whether b may appear in a name. Bridge names exclude
// ':' as well, which Linux refuses in an interface name.
func nameChar(b byte, bridge bool) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_', b == '.':
		return true
	case b == ':':
		return !bridge
	}
	return false
}

// nameProblem says what is wrong with a name, or "" if nothing is.
func nameProblem(name string, bridge bool) string {
	limit, allowed := MaxNameBytes, "a name holds only letters, digits, '-', '_', '.' and ':'"
	if bridge {
		limit, allowed = MaxBridgeNameBytes, "a bridge name holds only letters, digits, '-', '_' and '.'"
	}
	if len(name) > limit {
		what := ""
		if bridge {
			what = ", the Linux interface name limit"
		}
		return fmt.Sprintf("%s is longer than %d bytes%s", quote(name), limit, what)
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i], bridge) {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return fmt.Sprintf("%s contains %s; %s", quote(name), strconv.QuoteRune(r), allowed)
		}
	}
	if name == "." || name == ".." {
		return fmt.Sprintf("%s is not a valid name", quote(name))
	}
	return ""
}

// HostProblem says what is wrong with a host's name, or "" if nothing
// is: the characters of a name (it is an etcd key segment and an etcd
// user), up to MaxHostBytes.
func HostProblem(host string) string {
	switch {
	case host == "":
		return "a host name is not empty"
	case len(host) > MaxHostBytes:
		return fmt.Sprintf("%s is longer than %d bytes", quote(host), MaxHostBytes)
	case host == "." || host == "..":
		return fmt.Sprintf("%s is not a valid host name", quote(host))
	}
	for i := 0; i < len(host); i++ {
		if !nameChar(host[i], false) {
			r, _ := utf8.DecodeRuneInString(host[i:])
			return fmt.Sprintf("%s contains %s; a host name holds only letters, digits, '-', '_', '.' and ':'", quote(host), strconv.QuoteRune(r))
		}
	}
	return ""
}

// validName reports whether name may name an object (and so its path).
func validName(name string) bool {
	return name != "" && nameProblem(name, false) == ""
}
