package intent

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"misspelt key is named with a suggestion", tenant + ports("{name: web1, network: tenant, mac: '02:00:0a:00:00:0b', secruity_groups: [web]}"),
			[]string{`ports[web1].secruity_groups: unknown field; did you mean "security_groups"?`}},
		{"unknown key without a near one", "colour: blue\n",
			[]string{`colour: unknown field`}},
		{"unknown key deep inside", strings.Replace(edge(), "gateway: 192.0.2.1}", "gateway: 192.0.2.1, gw_mac: x}", 1),
			[]string{`routers[edge].external.gw_mac: unknown field`}},
		{"key given twice", "bridge: br-a\nbridge: br-b\n",
			[]string{`bridge: key given twice`}},
		{"list where a mapping belongs", "ports: {name: web1}\n",
			[]string{`ports: expected a list, got a mapping`}},
		{"mapping where a string belongs", "networks: [{name: n, cidr: {a: b}}]\n",
			[]string{`networks[n].cidr: expected a string, got a mapping`}},
		{"word where an integer belongs", rules("{direction: ingress, protocol: icmp, icmp_type: echo}"),
			[]string{`security_groups[g].rules[0].icmp_type: expected an integer, got "echo"`}},
		{"quoted integer", service("{name: s, vip: 10.0.0.200, port: '80'}"),
			[]string{`services[s].port: expected an integer, got "80"`}},
		{"yes where a boolean belongs", "security_groups: [{name: g, stateful: yes}]\n",
			[]string{`security_groups[g].stateful: expected true or false, got "yes"`}},
		{"not a mapping at all", "- a\n- b\n",
			[]string{`expected a mapping, got a list`}},
		{"empty", "",
			[]string{`empty document; write {} for an intent with nothing in it`}},
		{"comments only", "# nothing\n",
			[]string{`empty document; write {} for an intent with nothing in it`}},
		{"null", "~\n",
			[]string{`empty document (null); write {} for an intent with nothing in it`}},
		{"two documents", "bridge: a\n---\nbridge: b\n",
			[]string{`more than one YAML document; an intent is exactly one`}},
		{"syntax error", "networks: [\n",
			[]string{`yaml: line 1: did not find expected node content`}},
		{"merge of a scalar", "networks: [{<<: 5, name: n}]\n",
			[]string{`networks[n].<<: a merge needs a mapping or a list of mappings, got "5"`}},
		{"merge of itself", "networks: [&a {<<: *a, name: n}]\n",
			[]string{`networks[n].<<: a merge refers to the mapping it is in`}},
		{"merge of a list holding itself", "networks: [&a {<<: [{cidr: 10.0.0.0/24}, *a], name: n}]\n",
			[]string{`networks[n].<<: a merge refers to the mapping it is in`}},
		{"elements named by index when names repeat or are missing", "networks: [{name: a, cidr: 1}, {name: a, cidr: 2}, {cidr: 3}]\n",
			[]string{
				`networks[0].cidr: "1" needs a prefix length, e.g. 10.0.0.0/24`,
				`networks[1].name: "a" is also the name of networks[0]`,
				`networks[1].cidr: "2" needs a prefix length, e.g. 10.0.0.0/24`,
				`networks[2].name: required`,
				`networks[2].cidr: "3" needs a prefix length, e.g. 10.0.0.0/24`,
			}},
		{"a value that failed to decode is not also reported missing",
			"networks: [{name: tenant, cidr: [10.0.0.0/24]}]\n" + ports("{name: p, network: tenant, mac: [1], ips: [10.0.0.5]}"),
			[]string{
				`networks[tenant].cidr: expected a string, got a list`,
				`ports[p].mac: expected a string, got a list`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.doc)
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n got  %q\n want %q\ndocument:\n%s", got, tc.want, tc.doc)
			}
		})
	}
}

// TestDecodeJSON checks that the API's JSON form is the same document.
func TestDecodeJSON(t *testing.T) {
	fromJSON := mustParse(t, `{
		"networks": [{"name": "tenant", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1"}],
		"ports": [{"name": "web1", "network": "tenant", "mac": "02:00:0a:00:00:0b",
		           "ips": ["10.0.0.11"], "port_security": false}],
		"services": [{"name": "s", "vip": "10.0.0.200", "port": 80,
		              "backends": [{"port": "web1", "target_port": 8080, "weight": 3}]}]
	}`)
	fromYAML := mustParse(t, tenant[:len(tenant)-len(", cidr6: 'fd00:10::/64', gateway6: 'fd00:10::1'}\n")]+"}\n"+
		ports("{name: web1, network: tenant, mac: '02:00:0a:00:00:0b', ips: [10.0.0.11], port_security: false}")+
		"services: [{name: s, vip: 10.0.0.200, port: 80, backends: [{port: web1, target_port: 8080, weight: 3}]}]\n")
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Errorf("JSON and YAML forms differ:\n%+v\n%+v", fromJSON, fromYAML)
	}
	if got := problems(t, `{"ports": [{"name": "p", "secruity_groups": []}]}`); !slices.Contains(got,
		`ports[p].secruity_groups: unknown field; did you mean "security_groups"?`) {
		t.Errorf("JSON unknown field not reported by path: %q", got)
	}
}

// TestDecodeAnchors checks YAML anchors, aliases and merge keys, which
// operators use to share rules between groups.
func TestDecodeAnchors(t *testing.T) {
	in := mustParse(t, `
common: &common
security_groups:
  - name: base
    rules: &egress
      - {direction: egress, ethertype: ipv4}
      - {direction: egress, ethertype: ipv6}
  - name: web
    rules: *egress
  - <<: {name: ignored, stateful: false}
    name: raw
`[len("\ncommon: &common"):])
	if got := len(in.SecurityGroup("web").Rules); got != 2 {
		t.Errorf("web has %d rules through the alias, want 2", got)
	}
	raw := in.SecurityGroup("raw")
	if raw == nil || raw.Stateful {
		t.Errorf("merge key: raw = %+v, want stateful false with its own name", raw)
	}
}

// TestDecodeAliasBomb checks that aliases nested in aliases cannot make a
// small document expand without bound.
func TestDecodeAliasBomb(t *testing.T) {
	// 2,000 aliases of a group holding 2,000 rules: a 30 kB document that
	// would expand to four million rules.
	rule := "{direction: ingress}, "
	doc := "security_groups:\n- &g {name: g, rules: [" + strings.Repeat(rule, 2000) + "]}\n" +
		strings.Repeat("- *g\n", 2000)
	got := problems(t, doc)
	want := []string{"document expands to too many values (aliases inside aliases?)"}
	if !slices.Equal(got, want) {
		t.Errorf("alias bomb: got %d errors, first %q; want %q", len(got), got[:min(3, len(got))], want)
	}
}

// TestDocumentRoundTrip checks that the as-written form marshals back to
// YAML and JSON that decode to the same document: what GET /v1/intent
// serves when it re-renders a document.
func TestDocumentRoundTrip(t *testing.T) {
	for _, path := range []string{"../examples/intent.yaml", "testdata/intent-md.yaml"} {
		doc := decodeFile(t, path)
		y, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatalf("%s: yaml.Marshal: %v", path, err)
		}
		j, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("%s: json.Marshal: %v", path, err)
		}
		for form, data := range map[string][]byte{"YAML": y, "JSON": j} {
			back, err := Decode(data)
			if err != nil {
				t.Fatalf("%s: decode %s form: %v\n%s", path, form, err, data)
			}
			if !reflect.DeepEqual(back, doc) {
				t.Errorf("%s: %s round trip differs:\n%s", path, form, data)
			}
		}
	}
}
