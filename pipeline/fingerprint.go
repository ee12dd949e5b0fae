package pipeline

import (
	"hash/maphash"
	"math"
	"net/netip"
	"reflect"
)

// A fingerprint summarises every input of one compile unit (units.go) in
// 64 bits, so the incremental compiler can tell which units must be built
// again: equal fingerprints mean equal inputs. Values from the intent are
// hashed by reflection, field by field, so a field added to an intent type
// is part of every fingerprint that hashes that type without anyone
// remembering to add it.
type fingerprint struct{ h maphash.Hash }

// fpSeed is fixed for the process: fingerprints are compared only with
// fingerprints of the same process.
var fpSeed = maphash.MakeSeed()

func newFingerprint() *fingerprint {
	f := &fingerprint{}
	f.h.SetSeed(fpSeed)
	return f
}

func (f *fingerprint) sum() uint64 { return f.h.Sum64() }

func (f *fingerprint) u64(v uint64) *fingerprint {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	f.h.Write(b[:])
	return f
}

// str writes s with its length, so ("ab","c") and ("a","bc") differ.
func (f *fingerprint) str(s string) *fingerprint {
	f.u64(uint64(len(s)))
	f.h.WriteString(s)
	return f
}

func (f *fingerprint) bool(b bool) *fingerprint {
	if b {
		return f.u64(1)
	}
	return f.u64(0)
}

var (
	addrType   = reflect.TypeFor[netip.Addr]()
	prefixType = reflect.TypeFor[netip.Prefix]()
)

// value writes any intent value: structs field by field, slices with
// their length, pointers with a nil marker, addresses in binary.
func (f *fingerprint) value(v any) *fingerprint {
	f.reflect(reflect.ValueOf(v))
	return f
}

func (f *fingerprint) reflect(v reflect.Value) {
	switch v.Type() {
	case addrType:
		b, _ := v.Interface().(netip.Addr).MarshalBinary()
		f.str(string(b))
		return
	case prefixType:
		b, _ := v.Interface().(netip.Prefix).MarshalBinary()
		f.str(string(b))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f.reflect(v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		f.u64(uint64(v.Len()))
		for i := range v.Len() {
			f.reflect(v.Index(i))
		}
	case reflect.Pointer:
		f.bool(v.IsNil())
		if !v.IsNil() {
			f.reflect(v.Elem())
		}
	case reflect.String:
		f.str(v.String())
	case reflect.Bool:
		f.bool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.u64(uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.u64(v.Uint())
	case reflect.Float32, reflect.Float64:
		f.u64(math.Float64bits(v.Float()))
	case reflect.Map:
		// Intent types hold no maps; a map here would make fingerprints
		// depend on iteration order.
		panic("pipeline: fingerprint of a map: " + v.Type().String())
	default:
		panic("pipeline: fingerprint of unsupported kind " + v.Kind().String())
	}
}
