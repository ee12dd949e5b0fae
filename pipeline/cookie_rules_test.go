package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/intent"
)

// Every rule flow maps back to its rules, the same ones DescribeCookie
// names: single rules in the worked example, a 5,000-rule class in the
// cross product.
func TestRuleCookiesNameEveryRuleFlow(t *testing.T) {
	xp, xpBindings := crossProduct()
	for name, c := range map[string]struct {
		in *intent.Intent
		b  Bindings
	}{"worked example": {workedExample(), workedBindings()}, "cross product": {xp, xpBindings}} {
		t.Run(name, func(t *testing.T) { checkRuleCookies(t, c.in, c.b) })
	}
}

func checkRuleCookies(t *testing.T, in *intent.Intent, b Bindings) {
	refs := RuleCookies(in)
	seen := 0
	for _, f := range mustCompile(t, in, b) {
		if cookieKind(f.Cookie) != KindRule {
			continue
		}
		seen++
		ref, ok := refs[f.Cookie]
		if !ok {
			t.Fatalf("rule flow %s: cookie not in RuleCookies", f)
		}
		if ref.Index != ref.Indices[0] {
			t.Fatalf("cookie %#x: Index %d is not the first of %v", f.Cookie, ref.Index, ref.Indices)
		}
		want := fmt.Sprintf("security_groups[%s].rules[%s] ", ref.Group, compactIndices(ref.Indices))
		if got := DescribeCookie(in, f.Cookie); !strings.HasPrefix(got, want) {
			t.Errorf("cookie %#x: RuleCookies says %q, DescribeCookie %q", f.Cookie, want, got)
		}
	}
	if seen == 0 {
		t.Fatal("no rule flows")
	}
}
