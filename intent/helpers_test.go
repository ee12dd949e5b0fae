package intent

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// Fragments of intent documents for table-driven tests: a dual-stack
// network "tenant", ports on it, and a router "edge" joining it.
const (
	tenant = "networks:\n- {name: tenant, cidr: 10.0.0.0/24, gateway: 10.0.0.1, cidr6: 'fd00:10::/64', gateway6: 'fd00:10::1'}\n"
	web1   = "{name: web1, network: tenant, mac: '02:00:0a:00:00:0b', ips: [10.0.0.11, 'fd00:10::11']}"
	web2   = "{name: web2, network: tenant, mac: '02:00:0a:00:00:0c', ips: [10.0.0.12]}"
	db1    = "{name: db1, network: tenant, mac: '02:00:0a:00:00:15', ips: [10.0.0.21]}"
)

func ports(items ...string) string {
	return "ports:\n- " + strings.Join(items, "\n- ") + "\n"
}

// rules is a document with one security group "g" holding the given rules.
func rules(items ...string) string {
	return "security_groups:\n- name: g\n  rules:\n  - " + strings.Join(items, "\n  - ") + "\n"
}

// edge is tenant, web1, db1 and a router "edge" with extra keys (each a
// line like "floating_ips: [...]").
func edge(extra ...string) string {
	doc := tenant + ports(web1, db1) + `routers:
- name: edge
  networks: [tenant]
  external: {port: uplink, mac: '02:00:c0:00:02:0a', ip: 192.0.2.10/24, gateway: 192.0.2.1}
`
	for _, line := range extra {
		doc += "  " + line + "\n"
	}
	return doc
}

// service is tenant, web1 (dual-stack), db1 (IPv4 only) and a service.
func service(svc string) string {
	return tenant + ports(web1, db1) + "services:\n- " + svc + "\n"
}

// problems parses doc and returns its error messages, failing the test if
// the error is not an Errors list.
func problems(t *testing.T, doc string) []string {
	t.Helper()
	in, err := Parse([]byte(doc))
	if err == nil {
		return nil
	}
	if in != nil {
		t.Errorf("Parse returned an Intent along with errors")
	}
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("Parse error %T is not Errors: %v", err, err)
	}
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.Error()
	}
	return out
}

func mustParse(t *testing.T, doc string) *Intent {
	t.Helper()
	in, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse:\n%v\ndocument:\n%s", err, doc)
	}
	return in
}

func decodeFile(t *testing.T, path string) *Document {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Decode(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}
