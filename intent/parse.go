package intent

import (
	"fmt"
)

// Parse decodes and validates a YAML or JSON intent document. On any
// problem it returns no Intent and an Errors listing every problem found.
func Parse(data []byte) (*Intent, error) {
	doc, c := decode(data)
	if doc == nil {
		return nil, c.err()
	}
	// Validate even what failed to decode in places, so that one run
	// reports every problem; the collector keeps validation quiet about
	// the values that did not decode.
	return doc.validate(c)
}

// Load reads and parses the intent document at path.
func Load(path string) (*Intent, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load intent: %w", err)
	}
	in, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("intent %s: %w", path, err)
	}
	return in, nil
}
