package pipeline

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/intent"
)

// TestRuleTextCoversEveryRuleField: a rule's id is a hash of its text
// (describeRule), so two rules whose texts are equal would share an id,
// a cookie and a connection label. Changing any field of a rule must
// change its text, as it changes its intent.RuleKey.
func TestRuleTextCoversEveryRuleField(t *testing.T) {
	base := intent.Rule{Direction: intent.Ingress, EtherType: intent.IPv4, Protocol: intent.ProtoTCP}
	rt := reflect.TypeFor[intent.Rule]()
	for i := range rt.NumField() {
		r := base
		f := reflect.ValueOf(&r).Elem().Field(i)
		switch f.Interface().(type) {
		case intent.Direction:
			f.Set(reflect.ValueOf(intent.Egress))
		case intent.EtherType:
			f.Set(reflect.ValueOf(intent.IPv6))
		case int:
			f.SetInt(intent.ProtoUDP)
		case uint16:
			r.PortMin, r.PortMax = 80, 90
			f.SetUint(85) // whichever end this is, the range differs from all ports
		case *uint8:
			r.Protocol = intent.ProtoICMP
			base := r
			v := uint8(3)
			f.Set(reflect.ValueOf(&v))
			if describeRule(r) == describeRule(base) {
				t.Errorf("field %s is not in the rule's text", rt.Field(i).Name)
			}
			continue
		case netip.Prefix:
			f.Set(reflect.ValueOf(netip.MustParsePrefix("10.0.0.0/8")))
		case string:
			f.SetString("web")
		default:
			t.Fatalf("field %s: type %s unknown to this test; teach it, RuleKey and describeRule", rt.Field(i).Name, f.Type())
		}
		if r.Key() == base.Key() {
			t.Fatalf("field %s: the test's change does not change the RuleKey", rt.Field(i).Name)
		}
		if describeRule(r) == describeRule(base) {
			t.Errorf("field %s is not in the rule's text %q", rt.Field(i).Name, describeRule(r))
		}
	}
}

// TestMergeMatchMergesEveryField sets each field of a Match alone and
// merges it into an empty match: the result must carry the field, or the
// merge must refuse it by name. A field added to flows.Match that
// mergeMatch silently drops fails here.
func TestMergeMatchMergesEveryField(t *testing.T) {
	mt := reflect.TypeFor[flows.Match]()
	for i := range mt.NumField() {
		var b flows.Match
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			v := reflect.New(f.Type().Elem())
			switch e := v.Elem(); e.Kind() {
			case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				e.SetUint(1)
			case reflect.Array: // MAC
				e.Index(0).SetUint(2)
			case reflect.Struct: // a masked value: set its first part
				switch first := e.Field(0); first.Kind() {
				case reflect.Array:
					first.Index(0).SetUint(2)
				default:
					first.SetUint(1)
				}
			}
			f.Set(v)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]flows.RegMatch{flows.Reg(5, 1, 0)}))
		case reflect.Uint8, reflect.Uint16, reflect.Uint32:
			f.SetUint(6)
		case reflect.Struct:
			switch f.Interface().(type) {
			case netip.Prefix:
				f.Set(reflect.ValueOf(netip.MustParsePrefix("10.0.0.0/8")))
			case netip.Addr:
				f.Set(reflect.ValueOf(netip.MustParseAddr("fe80::1")))
			case flows.CTStateMatch:
				f.Set(reflect.ValueOf(flows.CTStateMatch{Set: flows.CTTrk}))
			default:
				t.Fatalf("field %s: type %s unknown to this test", mt.Field(i).Name, f.Type())
			}
		default:
			t.Fatalf("field %s: kind %s unknown to this test", mt.Field(i).Name, f.Kind())
		}
		got, err := mergeMatch(flows.Match{}, b)
		if err != nil {
			continue // refused by name: never silently dropped
		}
		if !reflect.DeepEqual(reflect.ValueOf(got).Field(i).Interface(), f.Interface()) {
			t.Errorf("mergeMatch drops field %s", mt.Field(i).Name)
		}
	}
}
