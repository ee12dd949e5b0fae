package inspect

import (
	"github.com/flowgate/flowgate/pipeline"
)

// describe names the object behind a flow's cookie in intent terms. The
// compiler gives every flow a non-zero cookie, so a zero one marks a flow
// someone else installed.
func describe(namer *pipeline.CookieNamer, cookie uint64) string {
	if cookie == 0 {
		return "no cookie: not installed by flowgate (added by hand or by another controller)"
	}
	return namer.Describe(cookie)
}
