package intent

import (
	"errors"
	"os"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse checks that Parse never panics, that it returns either a valid
// Intent or an Errors list with a reason for every entry, never both, and
// that an accepted document re-rendered from its Document parses to the
// same Intent. Run: go test ./intent -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	for _, path := range []string{"../examples/intent.yaml", "testdata/intent-md.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, doc := range []string{
		"", "{}", "[]", "null", "bridge: br-int\n", "---\n---\n", "a: &a [*a]\n", "networks: [&a {<<: *a, name: n}]\n",
		tenant + ports(web1, web2, db1),
		rules("{direction: ingress, protocol: icmp, icmp_type: 8, icmp_code: 0}", "{direction: egress, ports: 1-2}"),
		edge("snat: [{network: tenant}]", "floating_ips: [{port: web1, ip: 192.0.2.11}]",
			"port_forwards: [{external_port: 2222, port: db1, internal_port: 22}]"),
		service("{name: s, vip: 10.0.0.200, port: 80, backends: [{port: web1}, {port: db1, weight: 2}]}"),
		"security_groups: [{<<: [{name: a}, {stateful: false}], rules: [{direction: ingress}]}]\n",
		`{"ports": [{"name": "p", "network": "n", "mac": "02:00:00:00:00:01", "ips": ["10.0.0.1"]}]}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Parse(data)
		if err != nil {
			if in != nil {
				t.Fatal("Parse returned an Intent and an error")
			}
			var list Errors
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Parse error %T %v is not a non-empty Errors", err, err)
			}
			for _, e := range list {
				if e.Reason == "" {
					t.Fatalf("error at %q has no reason", e.Path)
				}
			}
			return
		}
		if in == nil {
			t.Fatal("Parse returned neither an Intent nor an error")
		}
		doc, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode refused what Parse accepted: %v", err)
		}
		again, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		in2, err := Parse(again)
		if err != nil {
			t.Fatalf("re-rendered document refused: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(in, in2) {
			t.Fatalf("re-rendered document parses differently:\n%+v\n%+v", in, in2)
		}
	})
}
