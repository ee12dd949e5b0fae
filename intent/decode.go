package intent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode reads a YAML or JSON intent document (JSON is YAML) into its
// as-written form, strictly: an unknown or repeated key, a value of the wrong
// kind, an empty input or a second document in the stream is an error that
// names its path. It reports every such problem, as Errors.
func Decode(data []byte) (*Document, error) {
	doc, c := decode(data)
	if err := c.err(); err != nil {
		return nil, err
	}
	return doc, nil
}

// decode returns the document with whatever decoded, and the problems
// found; the document is nil when nothing sensible could be read.
//
// yaml.v3's own strict mode (KnownFields) stops at the first unknown key and
// names a line and a Go type, not a document path; so the document is parsed
// to a node tree and walked here against Document's yaml tags.
func decode(data []byte) (*Document, *collector) {
	if c := tooBig(len(data)); c != nil {
		return nil, c
	}
	root, err := parseSingleDocument(data)
	if err != nil {
		return nil, &collector{errs: Errors{{Reason: bound(err.Error())}}}
	}
	return decodeNode(root, len(data))
}

// decodeNode is decode from the document's root node; size bounds the
// values visited.
func decodeNode(root *yaml.Node, size int) (*Document, *collector) {
	if c := tooBig(size); c != nil {
		return nil, c
	}
	d := &decoder{budget: 10*size + 100_000}
	var doc Document
	d.value(root, reflect.ValueOf(&doc).Elem(), "")
	if d.budget < 0 {
		return nil, &collector{errs: Errors{{Reason: "document expands to too many values (aliases inside aliases?)"}}}
	}
	return &doc, &d.collector
}

// tooBig refuses a document over MaxDocumentBytes; nil if it is not.
func tooBig(size int) *collector {
	if size <= MaxDocumentBytes {
		return nil
	}
	return &collector{errs: Errors{{Reason: fmt.Sprintf("document is %d bytes; at most %d", size, MaxDocumentBytes)}}}
}

func parseSingleDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			// An empty file is far more often a truncated write or a wrong
			// path than a wish to delete every flow; say how to ask for that.
			return nil, errors.New("empty document; write {} for an intent with nothing in it")
		}
		return nil, err
	}
	if doc := root.Content[0]; doc.Kind == yaml.ScalarNode && doc.ShortTag() == "!!null" {
		return nil, errors.New("empty document (null); write {} for an intent with nothing in it")
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; an intent is exactly one")
	}
	return root.Content[0], nil
}

type decoder struct {
	collector
	// budget bounds the values visited, so that aliases nested inside
	// aliases (a "billion laughs" document) cannot make a small input
	// expand without limit.
	budget int
	fields map[reflect.Type]map[string]int // fieldsByKey, memoised
	// merging holds the mappings whose merge keys are being expanded.
	merging map[*yaml.Node]bool
}

func (d *decoder) fieldsOf(t reflect.Type) map[string]int {
	f, ok := d.fields[t]
	if !ok {
		if d.fields == nil {
			d.fields = map[reflect.Type]map[string]int{}
		}
		f = fieldsByKey(t)
		d.fields[t] = f
	}
	return f
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if d.budget--; d.budget < 0 {
		return // decode reports the whole document as refused
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // absent: the zero value, which validation treats as unset
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.value(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.String:
		// Any scalar is taken as written: "ports: 8080" and "ports: '8080'"
		// mean the same, and a MAC is never read as a sexagesimal number.
		if n.Kind != yaml.ScalarNode {
			d.decodeFailed(path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || err != nil {
			d.decodeFailed(path, "expected an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.decodeFailed(path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("intent: Document has a field of unsupported kind %s", v.Kind()))
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.decodeFailed(path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := d.fieldsOf(v.Type())
	seen := map[string]bool{}
	for _, kv := range d.pairs(n, path) {
		key := kv.key.Value
		fieldPath := join(path, key)
		if kv.key.Kind != yaml.ScalarNode {
			d.add(path, "mapping key %s is not a string", describe(kv.key))
			continue
		}
		if seen[key] {
			if !kv.merged {
				d.decodeFailed(fieldPath, "key given twice")
			}
			continue
		}
		seen[key] = true
		i, ok := fields[key]
		if !ok {
			if !validName(key) {
				// The key itself is the bad value: keep it out of the path.
				d.decodeFailed(path, "unknown field %s", quote(key))
				continue
			}
			d.decodeFailed(fieldPath, "unknown field%s", suggest(key, fields))
			continue
		}
		d.value(kv.val, v.Field(i), fieldPath)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.decodeFailed(path, "expected a list, got %s", describe(n))
		return
	}
	items := n.Content
	if len(items) > MaxListItems {
		d.decodeFailed(path, "%d items; at most %d", len(items), MaxListItems)
		return
	}
	names := make([]string, len(items))
	if _, named := d.fieldsOf(v.Type().Elem())["name"]; named {
		for i, item := range items {
			names[i] = d.scalarKey(item, "name")
		}
	}
	paths := elementPaths(path, names)
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.value(item, out.Index(i), paths[i])
	}
	v.Set(out)
}

// keyValue is one entry of a mapping; merged marks entries that came in
// through a "<<" merge key, which the mapping's own keys override.
type keyValue struct {
	key, val *yaml.Node
	merged   bool
}

// pairs lists a mapping's own entries and then those merged in with
// "<<: *anchor" or "<<: [*a, *b]" (YAML merge keys), so that own keys win
// and earlier merge sources win over later ones, as YAML specifies.
func (d *decoder) pairs(n *yaml.Node, path string) []keyValue {
	if d.merging == nil {
		d.merging = map[*yaml.Node]bool{}
	}
	d.merging[n] = true
	defer delete(d.merging, n)
	var own, merged []keyValue
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(v, join(path, "<<"))...)
			continue
		}
		own = append(own, keyValue{k, v, false})
	}
	return append(own, merged...)
}

func (d *decoder) mergeSources(v *yaml.Node, path string) []keyValue {
	if d.budget--; d.budget < 0 {
		return nil
	}
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	var out []keyValue
	switch v.Kind {
	case yaml.MappingNode:
		// YAML lets an anchor be used inside itself; a mapping that merges
		// itself would otherwise expand forever.
		if d.merging[v] {
			d.decodeFailed(path, "a merge refers to the mapping it is in")
			return nil
		}
		for _, kv := range d.pairs(v, path) {
			if d.budget--; d.budget < 0 {
				return nil
			}
			kv.merged = true
			out = append(out, kv)
		}
	case yaml.SequenceNode:
		for _, src := range v.Content {
			if src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src.Kind != yaml.MappingNode {
				d.decodeFailed(path, "a merge list holds only mappings, got %s", describe(src))
				continue
			}
			out = append(out, d.mergeSources(src, path)...)
		}
	default:
		d.decodeFailed(path, "a merge needs a mapping or a list of mappings, got %s", describe(v))
	}
	return out
}

// scalarKey is the value of key in mapping n when it is a scalar, else "";
// the decoder needs an element's name before decoding it, to name its path.
func (d *decoder) scalarKey(n *yaml.Node, key string) string {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return ""
	}
	// Merge problems are reported when the element itself is decoded.
	quiet := &decoder{budget: d.budget}
	defer func() { d.budget = quiet.budget }()
	for _, kv := range quiet.pairs(n, "") {
		if kv.key.Value == key && kv.key.Kind == yaml.ScalarNode {
			val := kv.val
			if val.Kind == yaml.AliasNode {
				val = val.Alias
			}
			if val.Kind == yaml.ScalarNode && val.ShortTag() != "!!null" {
				return val.Value
			}
			return ""
		}
	}
	return ""
}

// fieldsByKey maps a struct's yaml keys to its field indexes.
func fieldsByKey(t reflect.Type) map[string]int {
	if t.Kind() != reflect.Struct {
		return nil
	}
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[key] = i
	}
	return fields
}

// describe shows a node in an error message the way the user wrote it.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return describe(n.Alias)
	}
	return quote(n.Value)
}

// suggest names the known key closest to a misspelt one, if one is close:
// one edit for short keys, two for longer ones, a swap of neighbours
// counting as one edit ("secruity_groups").
func suggest(key string, fields map[string]int) string {
	limit := 1
	if len(key) >= 6 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for known := range fields {
		if dist := editDistance(key, known); dist < bestDist || dist == bestDist && known < best {
			best, bestDist = known, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the optimal-string-alignment distance over bytes (keys
// are ASCII): insertions, deletions, substitutions and adjacent swaps.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
