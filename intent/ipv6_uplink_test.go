package intent

import (
	"strings"
	"testing"
)

// The router's IPv6 uplink: ip6 and gateway6, each refused precisely.
func TestExternalIPv6(t *testing.T) {
	doc := func(ext string) string {
		return strings.Replace(edge(), "gateway: 192.0.2.1}", "gateway: 192.0.2.1"+ext+"}", 1)
	}
	in := mustParse(t, doc(", ip6: '2001:db8:2::10/64', gateway6: 'fe80::1'"))
	if e := in.Routers[0].External; e.IP6.String() != "2001:db8:2::10/64" || e.Gateway6.String() != "fe80::1" {
		t.Errorf("external = %+v", e)
	}
	for _, c := range []struct{ ext, want string }{
		{", gateway6: 'fe80::1'", "routers[edge].external.gateway6: needs ip6"},
		{", ip6: '192.0.2.20/24'", "routers[edge].external.ip6: 192.0.2.20/24 is not IPv6"},
		{", ip6: '2001:db8:2::10/64', gateway6: '2001:db8:3::1'", "neither inside 2001:db8:2::/64 nor link-local"},
		{", ip6: '2001:db8:2::10/64', gateway6: '2001:db8:2::10'", "is the router's own address"},
	} {
		got := strings.Join(problems(t, doc(c.ext)), "\n")
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: problems\n%s\nwant one containing %q", c.ext, got, c.want)
		}
	}
}
