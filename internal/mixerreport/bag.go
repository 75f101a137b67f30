package mixerreport

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
)

// Kind is the transport map an attribute value travels in. Istio's value
// types map onto it (DESIGN §3.1): STRING, DNS_NAME, EMAIL_ADDRESS and URI
// travel as KindString, IP_ADDRESS as KindBytes.
type Kind uint8

// The eight typed maps of CompressedAttributes.
const (
	KindString Kind = iota + 1
	KindInt64
	KindDouble
	KindBool
	KindTimestamp
	KindDuration
	KindBytes
	KindStringMap
)

var kindNames = [...]string{
	KindString:    "string",
	KindInt64:     "int64",
	KindDouble:    "double",
	KindBool:      "bool",
	KindTimestamp: "timestamp",
	KindDuration:  "duration",
	KindBytes:     "bytes",
	KindStringMap: "string map",
}

func (k Kind) String() string {
	if k == 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
	return kindNames[k]
}

// mixerTypeName is the Go type Mixer's bag held for a kind; Mixer's
// "duplicate attribute" error prints it with %T.
func (k Kind) mixerTypeName() string {
	switch k {
	case KindString:
		return "string"
	case KindInt64:
		return "int64"
	case KindDouble:
		return "float64"
	case KindBool:
		return "bool"
	case KindTimestamp:
		return "time.Time"
	case KindDuration:
		return "time.Duration"
	case KindBytes:
		return "[]uint8"
	case KindStringMap:
		return "attribute.StringMap"
	}
	return k.String()
}

// Attr is one typed attribute of a Bag; only the field that matches Kind is
// used.
type Attr struct {
	Name  string
	Kind  Kind
	Str   string
	Int   int64
	Float float64
	Bool  bool
	Time  time.Time
	Dur   time.Duration
	Bytes []byte
	Map   map[string]string
}

// Bag is an attribute bag as the Encoder takes it: attributes in the order
// they are to be encoded. Names should be unique: a name given twice travels
// twice, and a receiver keeps one of them by Mixer's rules.
type Bag []Attr

// RecordRaw returns the attributes of the bag record the bag decodes to, in
// pcommon.Map.AsRaw form (DESIGN §3.1): strings, int64 (also Unix
// nanoseconds and nanosecond durations), float64, bool, []byte and
// map[string]any of strings. For a repeated name the last attribute wins.
func (b Bag) RecordRaw() map[string]any {
	m := make(map[string]any, len(b))
	for _, a := range b {
		switch a.Kind {
		case KindString:
			m[a.Name] = a.Str
		case KindInt64:
			m[a.Name] = a.Int
		case KindDouble:
			m[a.Name] = a.Float
		case KindBool:
			m[a.Name] = a.Bool
		case KindTimestamp:
			tm := pcommon.NewMap()
			bagrecord.PutTimestamp(tm, a.Name, a.Time)
			v, _ := tm.Get(a.Name)
			m[a.Name] = v.AsRaw()
		case KindDuration:
			m[a.Name] = int64(a.Dur)
		case KindBytes:
			var b []byte // AsRaw gives nil for no bytes
			if len(a.Bytes) > 0 {
				b = slices.Clone(a.Bytes)
			}
			m[a.Name] = b
		case KindStringMap:
			sm := make(map[string]any, len(a.Map))
			for k, v := range a.Map {
				sm[k] = v
			}
			m[a.Name] = sm
		}
	}
	return m
}

// String returns a STRING (or DNS_NAME, EMAIL_ADDRESS, URI) attribute.
func String(name, v string) Attr { return Attr{Name: name, Kind: KindString, Str: v} }

// Int64 returns an INT64 attribute.
func Int64(name string, v int64) Attr { return Attr{Name: name, Kind: KindInt64, Int: v} }

// Double returns a DOUBLE attribute.
func Double(name string, v float64) Attr { return Attr{Name: name, Kind: KindDouble, Float: v} }

// Bool returns a BOOL attribute.
func Bool(name string, v bool) Attr { return Attr{Name: name, Kind: KindBool, Bool: v} }

// Timestamp returns a TIMESTAMP attribute.
func Timestamp(name string, t time.Time) Attr { return Attr{Name: name, Kind: KindTimestamp, Time: t} }

// Duration returns a DURATION attribute.
func Duration(name string, d time.Duration) Attr {
	return Attr{Name: name, Kind: KindDuration, Dur: d}
}

// Bytes returns an attribute carried in the bytes map as is.
func Bytes(name string, b []byte) Attr { return Attr{Name: name, Kind: KindBytes, Bytes: b} }

// IP returns an IP_ADDRESS attribute: 4 bytes for an IPv4 address, 16
// otherwise, as Istio proxies send it.
func IP(name string, ip netip.Addr) Attr {
	if ip.Is4() {
		b := ip.As4()
		return Bytes(name, b[:])
	}
	b := ip.As16()
	return Bytes(name, b[:])
}

// StringMap returns a STRING_MAP attribute.
func StringMap(name string, m map[string]string) Attr {
	return Attr{Name: name, Kind: KindStringMap, Map: m}
}
