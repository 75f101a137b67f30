// Package bagrecord is the one codec between an OpenTelemetry log record and
// an Istio attribute bag (DESIGN §3.1): every source writes bags with the
// Put functions, and the rules engine reads them back into an attribute.Bag.
//
// Canonical encoding, keyed by the Istio attribute name verbatim:
//
//	STRING, DNS_NAME, EMAIL_ADDRESS, URI  Str
//	INT64                                 Int
//	DOUBLE                                Double
//	BOOL                                  Bool
//	TIMESTAMP                             Int, Unix nanoseconds
//	DURATION                              Int, nanoseconds
//	IP_ADDRESS                            Bytes, 4 or 16 bytes
//	STRING_MAP                            Map of Str
package bagrecord // import "github.com/otelcol-istio/otelcol-istio/internal/bagrecord"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// EventName marks a log record as an attribute bag.
const EventName = "istio.attributes"

// IsBag reports whether lr carries an attribute bag.
func IsBag(lr plog.LogRecord) bool { return lr.EventName() == EventName }

// InitRecord marks lr as an attribute bag with the given times (zero times are
// left unset) and reserves room for n attributes, so that filling it does not
// grow the attribute slice again.
func InitRecord(lr plog.LogRecord, ts, observed time.Time, n int) pcommon.Map {
	lr.SetEventName(EventName)
	if !ts.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	}
	if !observed.IsZero() {
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
	}
	m := lr.Attributes()
	m.EnsureCapacity(n)
	return m
}

// PutString stores a STRING, DNS_NAME, EMAIL_ADDRESS or URI attribute.
func PutString(m pcommon.Map, name, v string) { m.PutStr(name, v) }

// PutInt64 stores an INT64 attribute.
func PutInt64(m pcommon.Map, name string, v int64) { m.PutInt(name, v) }

// PutDouble stores a DOUBLE attribute.
func PutDouble(m pcommon.Map, name string, v float64) { m.PutDouble(name, v) }

// PutBool stores a BOOL attribute.
func PutBool(m pcommon.Map, name string, v bool) { m.PutBool(name, v) }

// PutTimestamp stores a TIMESTAMP attribute as Unix nanoseconds. A time that
// int64 nanoseconds cannot hold (before 1678 or after 2262, such as Mixer's
// zero time in year 1) is stored as an RFC 3339 Str instead, which Decode
// reads back exactly.
func PutTimestamp(m pcommon.Map, name string, t time.Time) {
	if t.Before(minTime) || t.After(maxTime) {
		m.PutStr(name, t.UTC().Format(time.RFC3339Nano))
		return
	}
	m.PutInt(name, t.UnixNano())
}

// PutTimestampNanos stores a TIMESTAMP attribute already in Unix nanoseconds.
func PutTimestampNanos(m pcommon.Map, name string, ns int64) { m.PutInt(name, ns) }

// PutDuration stores a DURATION attribute as nanoseconds.
func PutDuration(m pcommon.Map, name string, d time.Duration) { m.PutInt(name, int64(d)) }

// PutIP stores an IP_ADDRESS attribute as its raw 4 or 16 bytes.
func PutIP(m pcommon.Map, name string, ip []byte) { m.PutEmptyBytes(name).FromRaw(ip) }

// PutStringMap stores an empty STRING_MAP attribute with room for n entries
// and returns it for the caller to fill with PutStr.
func PutStringMap(m pcommon.Map, name string, n int) pcommon.Map {
	sm := m.PutEmptyMap(name)
	sm.EnsureCapacity(n)
	return sm
}

var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// TimeToNanos converts t to Unix nanoseconds, clamping to the int64 range.
func TimeToNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return -1 << 63
	case t.After(maxTime):
		return 1<<63 - 1
	}
	return t.UnixNano()
}

// PutValue stores a typed attribute value with the canonical encoding.
func PutValue(m pcommon.Map, name string, v attribute.Value) {
	switch v.Type() {
	case attribute.TypeString, attribute.TypeDNSName, attribute.TypeEmailAddress, attribute.TypeURI:
		PutString(m, name, v.Str())
	case attribute.TypeInt64:
		PutInt64(m, name, v.Int64())
	case attribute.TypeDouble:
		PutDouble(m, name, v.Double())
	case attribute.TypeBool:
		PutBool(m, name, v.Bool())
	case attribute.TypeTimestamp:
		PutTimestamp(m, name, v.Time())
	case attribute.TypeDuration:
		PutDuration(m, name, v.Duration())
	case attribute.TypeIPAddress:
		PutIP(m, name, v.IP())
	case attribute.TypeStringMap:
		sm := v.StringMap()
		dst := PutStringMap(m, name, sm.Len())
		sm.Range(func(k, val string) bool {
			dst.PutStr(k, val)
			return true
		})
	}
}
