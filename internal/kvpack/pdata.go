package kvpack

import (
	"bytes"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// pdata's ByteSlice copies on the way in (FromRaw) and on the way out
// (AsRaw): an allocation and a copy of the whole buffer each, per record.
// A packed buffer is written once and never changed, so it can be shared
// instead. ByteSlice is a struct whose first field points at the []byte it
// wraps (pdata v1.71); zeroCopy checks that layout once at start-up and,
// should a pdata upgrade change it, the functions below fall back to pdata's
// copying methods.
var zeroCopy = func() bool {
	v := pcommon.NewValueBytes()
	v.Bytes().FromRaw([]byte{1, 2, 3})
	orig := origOf(v.Bytes())
	if orig == nil || !bytes.Equal(*orig, []byte{1, 2, 3}) {
		return false
	}
	mine := []byte{4, 5}
	*orig = mine
	got := v.Bytes().AsRaw()
	return bytes.Equal(got, mine) && v.Bytes().Len() == 2
}()

// origOf returns the slice a ByteSlice wraps.
func origOf(bs pcommon.ByteSlice) *[]byte {
	return *(**[]byte)(unsafe.Pointer(&bs))
}

// SetBytes makes v a Bytes value holding buf, without copying it: buf must
// not change afterwards.
func SetBytes(v pcommon.Value, buf []byte) {
	bs := v.SetEmptyBytes()
	if !zeroCopy {
		bs.FromRaw(buf)
		return
	}
	*origOf(bs) = buf[:len(buf):len(buf)]
}

// BytesOf returns the bytes of a Bytes value without copying them; the
// caller must not change them. Any other value gives nil.
func BytesOf(v pcommon.Value) []byte {
	if v.Type() != pcommon.ValueTypeBytes {
		return nil
	}
	if !zeroCopy {
		return v.Bytes().AsRaw()
	}
	return *origOf(v.Bytes())
}
