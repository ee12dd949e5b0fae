package intent

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestRuleKeyCoversEveryField sets each field of a Rule in turn and checks
// that the key changes: a field that Key leaves out would make two
// different rules "the same".
func TestRuleKeyCoversEveryField(t *testing.T) {
	base := Rule{Direction: Ingress, EtherType: IPv4, Protocol: ProtoTCP}
	rt := reflect.TypeFor[Rule]()
	for i := range rt.NumField() {
		r := base
		f := reflect.ValueOf(&r).Elem().Field(i)
		switch f.Interface().(type) {
		case Direction:
			f.Set(reflect.ValueOf(Egress))
		case EtherType:
			f.Set(reflect.ValueOf(IPv6))
		case int:
			f.SetInt(17)
		case uint16:
			f.SetUint(80)
		case *uint8:
			v := uint8(3)
			f.Set(reflect.ValueOf(&v))
		case netip.Prefix:
			f.Set(reflect.ValueOf(netip.MustParsePrefix("10.0.0.0/8")))
		case string:
			f.SetString("web")
		default:
			t.Fatalf("field %s: type %s unknown to this test; teach it and RuleKey", rt.Field(i).Name, f.Type())
		}
		if r.Key() == base.Key() {
			t.Errorf("field %s is not part of RuleKey", rt.Field(i).Name)
		}
	}
}
