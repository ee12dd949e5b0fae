package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/intent"
)

// The layout of the intent under the prefix (default /flowgate/intent/):
//
//	settings                 {"bridge": ..., "datapath": ...}: the document's top-level keys
//	networks/NAME            one NetworkDoc
//	ports/NAME               one PortDoc
//	security_groups/NAME     one SecurityGroupDoc (its rules with it)
//	policies/NAME            one PolicyDoc (its rules with it)
//	routers/NAME             one RouterDoc
//	services/NAME            one ServiceDoc
//	_revision                rewritten by every Put: who wrote, when
//
// Values are the object's document form. Put writes compact JSON; a value
// written by hand may be any YAML (JSON is YAML). Names are safe as key
// segments: validation allows only letters, digits and "-_.:" in them.
// Reading assembles the keys back into one document, each list sorted by
// name (etcd returns keys in order), which the strict decoder and the
// validator of package intent then judge as they judge a file.

// lists are the document's object lists in document order: the key
// segment under the prefix is the list's name in the document.
var lists = []string{"networks", "ports", "security_groups", "policies", "routers", "services"}

const (
	settingsKey = "settings"
	revisionKey = "_revision"
)

// settingsDoc is the value of the settings key.
type settingsDoc struct {
	Bridge   string `json:"bridge,omitempty"`
	Datapath string `json:"datapath,omitempty"`
}

var settingsFields = []string{"bridge", "datapath"}

// render returns the value of every key of doc, by key relative to the
// prefix. doc must be valid (names unique and key-safe).
func render(doc *intent.Document) (map[string][]byte, error) {
	out := map[string][]byte{}
	add := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", key, err)
		}
		out[key] = b
		return nil
	}
	if err := add(settingsKey, settingsDoc{Bridge: doc.Bridge, Datapath: doc.Datapath}); err != nil {
		return nil, err
	}
	for i := range doc.Networks {
		if err := add("networks/"+doc.Networks[i].Name, &doc.Networks[i]); err != nil {
			return nil, err
		}
	}
	for i := range doc.Ports {
		if err := add("ports/"+doc.Ports[i].Name, &doc.Ports[i]); err != nil {
			return nil, err
		}
	}
	for i := range doc.SecurityGroups {
		if err := add("security_groups/"+doc.SecurityGroups[i].Name, &doc.SecurityGroups[i]); err != nil {
			return nil, err
		}
	}
	for i := range doc.Policies {
		if err := add("policies/"+doc.Policies[i].Name, &doc.Policies[i]); err != nil {
			return nil, err
		}
	}
	for i := range doc.Routers {
		if err := add("routers/"+doc.Routers[i].Name, &doc.Routers[i]); err != nil {
			return nil, err
		}
	}
	for i := range doc.Services {
		if err := add("services/"+doc.Services[i].Name, &doc.Services[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Render returns doc as Get and Watch give it back once Put has stored it:
// the assembled YAML, each list sorted by name. The controller puts this
// form in force after a PUT so that the watch, which delivers the same
// bytes, finds nothing to do.
func Render(doc *intent.Document) ([]byte, error) {
	vals, err := render(doc)
	if err != nil {
		return nil, err
	}
	a := newAssembler()
	for k, v := range vals {
		a.set(k, v)
	}
	out, _, err := a.document()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ErrNoIntent is returned (wrapped) when nothing is stored under the
// prefix. It is refused like an empty file: far more often a wrong prefix
// or an etcd that lost its data than a wish to remove every flow.
var ErrNoIntent = errors.New("no intent stored")

// assembler holds the keys under the prefix (relative names) with their
// parsed values and turns them into one document.
type assembler struct {
	vals map[string]parsed
}

type parsed struct {
	raw  []byte
	node *yaml.Node // nil when err
	err  string
}

func newAssembler() *assembler { return &assembler{vals: map[string]parsed{}} }

// set records key's value, parsing it once.
func (a *assembler) set(key string, value []byte) {
	if old, ok := a.vals[key]; ok && bytes.Equal(old.raw, value) {
		return
	}
	p := parsed{raw: value}
	if key != revisionKey {
		p.node, p.err = parseValue(key, value)
	}
	a.vals[key] = p
}

func (a *assembler) remove(key string) { delete(a.vals, key) }

// parseValue reads one stored object: a single YAML (or JSON) mapping
// whose name, for a list element, is the one in its key.
func parseValue(key string, value []byte) (*yaml.Node, string) {
	if len(bytes.TrimSpace(value)) == 0 {
		return nil, "empty value"
	}
	dec := yaml.NewDecoder(bytes.NewReader(value))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, "not YAML or JSON: " + err.Error()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, "holds more than one YAML document"
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, "not a mapping"
	}
	n := doc.Content[0]
	plain(n)
	if key == settingsKey {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; !slices.Contains(settingsFields, k) {
				return nil, fmt.Sprintf("key %q does not belong in the settings (only %s); objects have keys of their own",
					k, strings.Join(settingsFields, ", "))
			}
		}
		return n, ""
	}
	_, name, _ := strings.Cut(key, "/")
	var got *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			got = n.Content[i+1]
		}
	}
	switch {
	case got == nil:
		return nil, fmt.Sprintf("no name; the key says %q", name)
	case got.Kind != yaml.ScalarNode || got.Value != name:
		return nil, fmt.Sprintf("holds the object named %q but its key says %q", got.Value, name)
	}
	return n, ""
}

// plain drops the styles a value was written in (JSON's quotes and
// braces), so that the assembled document reads as block YAML. The
// encoder quotes what needs quoting to keep its type.
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}

// pathOf names a key the way the document names the object.
func pathOf(key string) string {
	if list, name, ok := strings.Cut(key, "/"); ok {
		return list + "[" + name + "]"
	}
	return key
}

// document assembles the keys into one YAML document, or returns the
// problems (intent.Errors) of keys that do not fit the layout, or
// ErrNoIntent when there is nothing.
func (a *assembler) document() ([]byte, *yaml.Node, error) {
	keys := make([]string, 0, len(a.vals))
	for k := range a.vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var problems intent.Errors
	items := map[string][]*yaml.Node{}
	var settings *yaml.Node
	objects := 0
	for _, k := range keys {
		p := a.vals[k]
		if k == revisionKey {
			continue
		}
		list, name, isItem := strings.Cut(k, "/")
		switch {
		case k == settingsKey:
		case isItem && slices.Contains(lists, list) && name != "" && !strings.Contains(name, "/"):
		default:
			problems = append(problems, &intent.FieldError{Reason: fmt.Sprintf(
				"key %q is not part of the intent's layout (settings, %s/NAME)", k, strings.Join(lists, "/NAME, "))})
			continue
		}
		objects++
		if p.err != "" {
			problems = append(problems, &intent.FieldError{Path: pathOf(k), Reason: "stored value " + p.err})
			continue
		}
		if k == settingsKey {
			settings = p.node
		} else {
			items[list] = append(items[list], p.node)
		}
	}
	if len(problems) > 0 {
		return nil, nil, problems
	}
	if objects == 0 {
		return nil, nil, ErrNoIntent
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	if settings != nil {
		root.Content = append(root.Content, settings.Content...)
	}
	for _, l := range lists {
		if len(items[l]) > 0 {
			root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: l},
				&yaml.Node{Kind: yaml.SequenceNode, Content: items[l]})
		}
	}
	// JSON, not YAML: every controller assembles the document on every
	// change, and yaml.v3's encoder takes about 230 ms for 1,000 ports
	// where this takes a few; intent.Parse reads either.
	out, err := appendJSON(make([]byte, 0, 64<<10), root)
	if err != nil {
		return nil, nil, fmt.Errorf("assemble the intent: %w", err)
	}
	return append(out, '\n'), root, nil
}

// appendJSON appends node n as JSON: mappings as objects in their order,
// sequences as arrays, strings as strings and other scalars as the value
// YAML gives them (numbers, booleans, null).
func appendJSON(b []byte, n *yaml.Node) ([]byte, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return appendJSON(b, n.Alias)
	case yaml.MappingNode:
		b = append(b, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, n.Content[i].Value)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, n.Content[i+1]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case yaml.SequenceNode:
		b = append(b, '[')
		for i, c := range n.Content {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, c); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return appendJSONString(b, n.Value), nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", n.Value, err)
		}
		return append(b, j...), nil
	}
	return nil, fmt.Errorf("unexpected YAML node kind %d", n.Kind)
}

func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always marshals
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// YAML is the document as block YAML, for people (intent get, edit).
func (s Snapshot) YAML() ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(s.Doc, &doc); err != nil {
		return nil, err
	}
	plain(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
