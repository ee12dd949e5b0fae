package intent

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse parses a document with 2,000 ports in 20 groups of 5
// rules each, the scale of a busy hypervisor; run with -bench Parse.
func BenchmarkParse(b *testing.B) {
	var doc strings.Builder
	doc.WriteString("networks:\n- {name: tenant, cidr: 10.0.0.0/16, gateway: 10.0.0.1}\nsecurity_groups:\n")
	for g := range 20 {
		fmt.Fprintf(&doc, "- name: g%d\n  rules:\n", g)
		for r := range 5 {
			fmt.Fprintf(&doc, "  - {direction: ingress, protocol: tcp, ports: '%d', remote_group: g%d}\n", 1000+r, (g+1)%20)
		}
	}
	doc.WriteString("ports:\n")
	for p := range 2000 {
		fmt.Fprintf(&doc, "- {name: p%d, network: tenant, mac: '02:00:0a:00:%02x:%02x', ips: [10.0.%d.%d], security_groups: [g%d]}\n",
			p, p>>8, p&0xff, 1+p/250, 1+p%250, p%20)
	}
	data := []byte(doc.String())
	if _, err := Parse(data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
