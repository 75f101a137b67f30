package mixerreport

import (
	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// FromValue converts a typed attribute value into the attribute as it
// travels: STRING, DNS_NAME, EMAIL_ADDRESS and URI as strings, IP_ADDRESS as
// its bytes, STRING_MAP as a string map.
func FromValue(name string, v attribute.Value) Attr {
	switch v.Type() {
	case attribute.TypeInt64:
		return Int64(name, v.Int64())
	case attribute.TypeDouble:
		return Double(name, v.Double())
	case attribute.TypeBool:
		return Bool(name, v.Bool())
	case attribute.TypeTimestamp:
		return Timestamp(name, v.Time())
	case attribute.TypeDuration:
		return Duration(name, v.Duration())
	case attribute.TypeIPAddress:
		return Bytes(name, v.IP())
	case attribute.TypeStringMap:
		return StringMap(name, v.StringMap().Map())
	}
	return String(name, v.Str())
}
