package intent

import (
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestParseNodeIsParse: a document parsed from its node tree is the one
// Parse makes of its text, and a bad one is refused with the same
// problems.
func TestParseNodeIsParse(t *testing.T) {
	for _, text := range []string{edge(), edge("host: hv2"), tenant + ports(web1, db1) + "bogus: 1\n"} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(text), &n); err != nil {
			t.Fatal(err)
		}
		want, werr := Parse([]byte(text))
		got, gerr := ParseNode(n.Content[0], len(text))
		if !reflect.DeepEqual(got, want) || (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Errorf("ParseNode differs from Parse for\n%s\ngot %v, %v\nwant %v, %v", text, got, gerr, want, werr)
		}
	}
	if _, err := ParseNode(&yaml.Node{Kind: yaml.MappingNode}, MaxDocumentBytes+1); err == nil {
		t.Error("a document over MaxDocumentBytes was accepted")
	}
}
