// Sort orders by text; compareCookieText must order cookies as their text does.

package flows

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCookieTextOrder(t *testing.T) {
	for range 200000 {
		x, y := rand.Uint64()>>rand.IntN(64), rand.Uint64()>>rand.IntN(64)
		if x == 0 || y == 0 {
			continue
		}
		want := strings.Compare(fmt.Sprintf("cookie=%#x, t", x), fmt.Sprintf("cookie=%#x, t", y))
		if got := compareCookieText(x, y); got != want {
			t.Fatalf("%x %x: %d want %d", x, y, got, want)
		}
	}
}
