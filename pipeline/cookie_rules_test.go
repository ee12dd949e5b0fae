package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

// Every rule flow of the worked example maps back to a rule, and to the
// same rule DescribeCookie names.
func TestRuleCookiesNameEveryRuleFlow(t *testing.T) {
	in := workedExample()
	refs := RuleCookies(in)
	seen := 0
	for _, f := range mustCompile(t, in, workedBindings()) {
		if cookieKind(f.Cookie) != KindRule {
			continue
		}
		seen++
		ref, ok := refs[f.Cookie&CookieObjectMask]
		if !ok {
			t.Fatalf("rule flow %s: cookie not in RuleCookies", f)
		}
		want := fmt.Sprintf("security_groups[%s].rules[%d] ", ref.Group, ref.Index)
		if got := DescribeCookie(in, f.Cookie); !strings.HasPrefix(got, want) {
			t.Errorf("cookie %#x: RuleCookies says %q, DescribeCookie %q", f.Cookie, want, got)
		}
	}
	if seen == 0 {
		t.Fatal("the worked example compiled to no rule flows")
	}
}
