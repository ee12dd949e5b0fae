package intent

import (
	"reflect"
	"testing"
)

// TestCloneSharesNothing clones the every-key fixture and checks that the
// copy is equal and that no slice or pointer of it is the original's: an
// edit of a clone (a test's random edit, a benchmark's change) must never
// change the document it came from.
func TestCloneSharesNothing(t *testing.T) {
	d := decodeFile(t, "../examples/intent.yaml")
	c := d.Clone()
	if !reflect.DeepEqual(d, c) {
		t.Fatal("clone differs from the original")
	}
	var walk func(path string, a, b reflect.Value)
	walk = func(path string, a, b reflect.Value) {
		switch a.Kind() {
		case reflect.Pointer:
			if !a.IsNil() {
				if a.Pointer() == b.Pointer() {
					t.Errorf("%s: pointer shared", path)
				}
				walk(path, a.Elem(), b.Elem())
			}
		case reflect.Slice:
			if a.Len() > 0 && a.Pointer() == b.Pointer() {
				t.Errorf("%s: slice shared", path)
			}
			for i := range a.Len() {
				walk(path+"[]", a.Index(i), b.Index(i))
			}
		case reflect.Struct:
			for i := range a.NumField() {
				walk(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		}
	}
	walk("doc", reflect.ValueOf(d).Elem(), reflect.ValueOf(c).Elem())
}
