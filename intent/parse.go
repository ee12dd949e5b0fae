package intent

import (
	"fmt"

	"gopkg.in/yaml.v3"
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

// ParseNode is Parse of a document already parsed into a YAML node tree
// (a mapping node), which is not changed: the store assembles one from
// its keys' values and saves every controller the text's decoding.
// size is the document's size in bytes, which bounds what the decoding
// may visit as for Parse.
func ParseNode(root *yaml.Node, size int) (*Intent, error) {
	doc, c := decodeNode(root, size)
	if doc == nil {
		return nil, c.err()
	}
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
