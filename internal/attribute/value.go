package attribute

import (
	"math"
	"strconv"
	"time"
	"unsafe"
)

// Value is one typed attribute value. It is a plain struct, so passing or
// returning it never allocates; the zero Value has TypeUnspecified and means
// "no value".
//
// Representation by type (40 bytes in all, since Values are copied on every
// evaluation):
//
//	STRING, DNS_NAME, EMAIL_ADDRESS, URI  string
//	INT64, DURATION                       int64 (DURATION in nanoseconds)
//	DOUBLE                                float64 (stored as bits)
//	BOOL                                  int64 0 or 1
//	TIMESTAMP                             Unix seconds, nanoseconds, location (nil for UTC)
//	IP_ADDRESS                            4 or 16 bytes as sent, viewed as a string
//	STRING_MAP                            *StringMap
//
// Values handed out by a Bag or by an expression may share memory (IP bytes,
// maps) with that Bag: treat them as read-only and copy what must outlive the
// next Bag.Reset.
type Value struct {
	typ Type
	ns  int32          // TIMESTAMP: nanoseconds within the second
	n   int64          // INT64, DURATION, DOUBLE, BOOL; TIMESTAMP: Unix seconds
	s   string         // STRING kinds; IP_ADDRESS: the bytes
	p   unsafe.Pointer // STRING_MAP: *StringMap; TIMESTAMP: *time.Location, nil for UTC
}

// StringValue returns a STRING value.
func StringValue(s string) Value { return Value{typ: TypeString, s: s} }

// DNSNameValue returns a DNS_NAME value.
func DNSNameValue(s string) Value { return Value{typ: TypeDNSName, s: s} }

// EmailValue returns an EMAIL_ADDRESS value.
func EmailValue(s string) Value { return Value{typ: TypeEmailAddress, s: s} }

// URIValue returns a URI value.
func URIValue(s string) Value { return Value{typ: TypeURI, s: s} }

// Int64Value returns an INT64 value.
func Int64Value(i int64) Value { return Value{typ: TypeInt64, n: i} }

// DoubleValue returns a DOUBLE value.
func DoubleValue(f float64) Value { return Value{typ: TypeDouble, n: int64(math.Float64bits(f))} }

// BoolValue returns a BOOL value.
func BoolValue(b bool) Value {
	v := Value{typ: TypeBool}
	if b {
		v.n = 1
	}
	return v
}

// TimestampValue returns a TIMESTAMP value.
func TimestampValue(t time.Time) Value {
	v := Value{typ: TypeTimestamp, n: t.Unix(), ns: int32(t.Nanosecond())}
	if loc := t.Location(); loc != time.UTC {
		v.p = unsafe.Pointer(loc)
	}
	return v
}

// TimestampNanos returns a TIMESTAMP value in UTC from Unix nanoseconds.
func TimestampNanos(ns int64) Value {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	return Value{typ: TypeTimestamp, n: sec, ns: int32(nsec)}
}

// DurationValue returns a DURATION value.
func DurationValue(d time.Duration) Value { return Value{typ: TypeDuration, n: int64(d)} }

// IPValue returns an IP_ADDRESS value holding ip as given (not copied): Mixer
// passes IPs around as the raw 4- or 16-byte slices the client sent.
func IPValue(ip []byte) Value {
	return Value{typ: TypeIPAddress, s: unsafe.String(unsafe.SliceData(ip), len(ip))}
}

// StringMapValue returns a STRING_MAP value referring to m (not copied); nil
// is an empty map.
func StringMapValue(m *StringMap) Value { return Value{typ: TypeStringMap, p: unsafe.Pointer(m)} }

// Type returns the value's type; TypeUnspecified for the zero Value.
func (v Value) Type() Type { return v.typ }

// IsZero reports whether v is the zero Value (no value).
func (v Value) IsZero() bool { return v.typ == TypeUnspecified }

// Str returns the string of a STRING, DNS_NAME, EMAIL_ADDRESS or URI value,
// "" otherwise.
func (v Value) Str() string {
	if v.typ == TypeIPAddress {
		return ""
	}
	return v.s
}

// Int64 returns the integer of an INT64 value (nanoseconds for DURATION), 0
// otherwise.
func (v Value) Int64() int64 {
	if v.typ == TypeInt64 || v.typ == TypeDuration {
		return v.n
	}
	return 0
}

// Double returns the number of a DOUBLE value, 0 otherwise.
func (v Value) Double() float64 {
	if v.typ == TypeDouble {
		return math.Float64frombits(uint64(v.n))
	}
	return 0
}

// Bool returns the truth of a BOOL value, false otherwise.
func (v Value) Bool() bool { return v.typ == TypeBool && v.n != 0 }

// Time returns the instant of a TIMESTAMP value, the zero time otherwise.
func (v Value) Time() time.Time {
	if v.typ != TypeTimestamp {
		return time.Time{}
	}
	return v.time()
}

func (v Value) time() time.Time {
	t := time.Unix(v.n, int64(v.ns))
	if v.p == nil {
		return t.UTC()
	}
	return t.In((*time.Location)(v.p))
}

// Duration returns the duration of a DURATION value (or an INT64 value read
// as nanoseconds), 0 otherwise.
func (v Value) Duration() time.Duration { return time.Duration(v.Int64()) }

// IP returns the bytes of an IP_ADDRESS value, nil otherwise.
func (v Value) IP() []byte {
	if v.typ != TypeIPAddress {
		return nil
	}
	return v.ip()
}

func (v Value) ip() []byte { return unsafe.Slice(unsafe.StringData(v.s), len(v.s)) }

// StringMap returns the map of a STRING_MAP value, nil otherwise. A
// STRING_MAP value may hold a nil map, which reads as empty (all read methods
// of StringMap accept a nil receiver); maps stored in a Bag are never nil.
func (v Value) StringMap() *StringMap {
	if v.typ != TypeStringMap {
		return nil
	}
	return (*StringMap)(v.p)
}

// Equal reports whether both values have the same type and the same content.
// It is exact (byte-wise IPs, time.Time.Equal for instants), unlike the
// normalising comparisons of the expression language.
func (v Value) Equal(o Value) bool {
	if v.typ != o.typ {
		return false
	}
	switch v.typ {
	case TypeTimestamp:
		return v.n == o.n && v.ns == o.ns
	case TypeStringMap:
		return v.StringMap().Equal(o.StringMap())
	}
	return v.s == o.s && v.n == o.n
}

// String renders the value as Go's %v printed the corresponding Mixer value,
// which is what Mixer's error messages show: durations as "20ms", times in
// time.Time.String form, IPs as a byte list "[10 0 0 1]", maps as
// "stringmap[a:1]". The zero Value prints as "<nil>".
func (v Value) String() string {
	switch v.typ {
	case TypeString, TypeDNSName, TypeEmailAddress, TypeURI:
		return v.s
	case TypeInt64:
		return strconv.FormatInt(v.n, 10)
	case TypeDouble:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case TypeBool:
		return strconv.FormatBool(v.n != 0)
	case TypeTimestamp:
		return v.time().String()
	case TypeDuration:
		return time.Duration(v.n).String()
	case TypeIPAddress:
		b := []byte{'['}
		for i, x := range v.ip() {
			if i > 0 {
				b = append(b, ' ')
			}
			b = strconv.AppendUint(b, uint64(x), 10)
		}
		return string(append(b, ']'))
	case TypeStringMap:
		return v.StringMap().String()
	}
	return "<nil>"
}
