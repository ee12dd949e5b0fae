package intent

import (
	"fmt"
	"strings"
)

// FieldError is one problem in an intent document: where it is and why it
// is wrong. Path names the object by its name where it has a unique one and
// by its index otherwise, e.g. "security_groups[db].rules[0].ports".
type FieldError struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Errors is every problem found in a document, in document order. Parse
// returns it (as a value, so errors.As(err, &list) works) whenever a
// document is refused; the API hands the list to the client as JSON.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// collector gathers problems from decoding and validation. Once decoding
// failed at a path, validation stays quiet about that path and everything
// under it: the value there is a zero stand-in, and complaining that it is
// "required" would only bury the real error.
type collector struct {
	errs   Errors
	warns  []*FieldError // problems that do not refuse the document
	broken []string      // paths whose value failed to decode
}

func (c *collector) add(path, format string, args ...any) {
	if c.isBroken(path) {
		return
	}
	c.errs = append(c.errs, &FieldError{Path: bound(path), Reason: bound(fmt.Sprintf(format, args...))})
}

// warn records a problem that does not refuse the document: it is valid
// and means what it says, but probably not what its author meant (a
// policy rule that an earlier one shadows never matches).
func (c *collector) warn(path, format string, args ...any) {
	c.warns = append(c.warns, &FieldError{Path: bound(path), Reason: bound(fmt.Sprintf(format, args...))})
}

// decodeFailed records a decoding problem and silences validation under path.
func (c *collector) decodeFailed(path, format string, args ...any) {
	c.add(path, format, args...)
	c.broken = append(c.broken, path)
}

// isBroken reports whether path or a path above it failed to decode.
func (c *collector) isBroken(path string) bool {
	for _, b := range c.broken {
		if within(path, b) {
			return true
		}
	}
	return false
}

// within reports whether path is base or lies under it.
func within(path, base string) bool {
	if !strings.HasPrefix(path, base) {
		return false
	}
	rest := path[len(base):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	if n := len(c.errs) - maxProblems; n > 0 {
		// A document with a hundred thousand bad rules gets a readable
		// answer: the first problems, and how many more there are.
		list := append(Errors(nil), c.errs[:maxProblems]...)
		return append(list, &FieldError{Reason: fmt.Sprintf("and %d more problems", n)})
	}
	return c.errs
}

// warnings are the warnings gathered, bounded like the errors: the first
// maxProblems, and a last entry saying how many more there are.
func (c *collector) warnings() []*FieldError {
	if n := len(c.warns) - maxProblems; n > 0 {
		list := append([]*FieldError(nil), c.warns[:maxProblems]...)
		return append(list, &FieldError{Reason: fmt.Sprintf("and %d more warnings", n)})
	}
	return c.warns
}
