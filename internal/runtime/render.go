package runtime

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// This file renders evaluated values the way Mixer's adapters did
// (mixer-semantics.md §e "Label values", §f "Value rendering").

// appendLabel appends v rendered as a Prometheus label value.
func appendLabel(dst []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.TypeString, attribute.TypeDNSName, attribute.TypeEmailAddress, attribute.TypeURI:
		return append(dst, v.Str()...)
	case attribute.TypeInt64:
		return strconv.AppendInt(dst, v.Int64(), 10)
	case attribute.TypeDouble:
		return strconv.AppendFloat(dst, v.Double(), 'f', -1, 64)
	case attribute.TypeBool:
		return strconv.AppendBool(dst, v.Bool())
	case attribute.TypeTimestamp:
		return instancerecord.AppendTimeText(dst, v.Time())
	case attribute.TypeDuration:
		return append(dst, v.Duration().String()...)
	case attribute.TypeIPAddress:
		return append(dst, net.IP(v.IP()).String()...)
	case attribute.TypeStringMap:
		return append(dst, v.StringMap().String()...)
	}
	return dst
}

// putVariable stores v as a logentry variable in m: INT64, DOUBLE and BOOL as
// pdata natives, everything else as the string the stdio adapter printed.
func putVariable(m pcommon.Map, key string, v attribute.Value) {
	switch v.Type() {
	case attribute.TypeString, attribute.TypeDNSName, attribute.TypeEmailAddress, attribute.TypeURI:
		m.PutStr(key, v.Str())
	case attribute.TypeInt64:
		m.PutInt(key, v.Int64())
	case attribute.TypeDouble:
		m.PutDouble(key, v.Double())
	case attribute.TypeBool:
		m.PutBool(key, v.Bool())
	case attribute.TypeTimestamp:
		m.PutStr(key, variableTime(v.Time()))
	case attribute.TypeDuration:
		m.PutStr(key, v.Duration().String())
	case attribute.TypeIPAddress:
		m.PutStr(key, net.IP(v.IP()).String())
	case attribute.TypeStringMap:
		m.PutStr(key, v.StringMap().String())
	}
}

// putDimension stores v as a dimension (or the value) of a metric instance
// sent to a non-prometheus handler. As in Mixer, only logentry variables get
// the dotted IP conversion: IP dimensions are the base64 of their bytes.
func putDimension(m pcommon.Map, key string, v attribute.Value) {
	if v.Type() == attribute.TypeIPAddress {
		m.PutStr(key, base64.StdEncoding.EncodeToString(v.IP()))
		return
	}
	putVariable(m, key, v)
}

// variableTime renders a TIMESTAMP variable. Mixer's stdio adapter stored it
// in zap as int64 nanoseconds, so times outside about 1678–2262 wrap around
// (year 1 prints as 1754-08-30T22:43:41.128654Z); the entry time does not.
func variableTime(t time.Time) string {
	var buf [64]byte
	return string(appendVariableTime(buf[:0], t))
}

func appendVariableTime(dst []byte, t time.Time) []byte {
	sec, nsec := t.Unix(), int64(t.Nanosecond())
	wrapped := sec*1e9 + nsec // overflow wraps, as in Mixer
	return instancerecord.AppendTimeText(dst, time.Unix(0, wrapped))
}

// appendIP appends ip as net.IP.String renders it, which allocates: dotted
// for 4 bytes and IPv4-mapped 16 bytes, RFC 5952 for other 16 bytes,
// "<nil>" for none and "?" and the hex of the bytes for other lengths.
func appendIP(dst, ip []byte) []byte {
	switch len(ip) {
	case 0:
		return append(dst, "<nil>"...)
	case net.IPv4len, net.IPv6len:
	default:
		return hex.AppendEncode(append(dst, '?'), ip)
	}
	if p4 := net.IP(ip).To4(); p4 != nil {
		ip = p4
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.AppendTo(dst)
}

// packer appends evaluated values to a packed record as putVariable and
// putDimension store them in attributes: the same kinds and the same text,
// without allocating. Text whose length is known only once rendered goes
// through scratch.
type packer struct {
	scratch []byte
}

// variable appends v as a logentry variable (putVariable).
func (pk *packer) variable(dst []byte, key string, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.TypeString, attribute.TypeDNSName, attribute.TypeEmailAddress, attribute.TypeURI:
		return kvpack.AppendStr(dst, key, v.Str())
	case attribute.TypeInt64:
		return kvpack.AppendInt(dst, key, v.Int64())
	case attribute.TypeDouble:
		return kvpack.AppendDouble(dst, key, v.Double())
	case attribute.TypeBool:
		return kvpack.AppendBool(dst, key, v.Bool())
	case attribute.TypeTimestamp:
		return pk.rendered(dst, key, appendVariableTime(pk.scratch[:0], v.Time()))
	case attribute.TypeDuration:
		// Duration.String is inlined and renders into an array on the stack
		// that does not escape here: no allocation.
		return kvpack.AppendStr(dst, key, v.Duration().String())
	case attribute.TypeIPAddress:
		return pk.rendered(dst, key, appendIP(pk.scratch[:0], v.IP()))
	case attribute.TypeStringMap:
		return pk.rendered(dst, key, v.StringMap().AppendString(pk.scratch[:0]))
	}
	return dst
}

// dimension appends v as a metric dimension or value (putDimension).
func (pk *packer) dimension(dst []byte, key string, v attribute.Value) []byte {
	if v.Type() == attribute.TypeIPAddress {
		return pk.rendered(dst, key, base64.StdEncoding.AppendEncode(pk.scratch[:0], v.IP()))
	}
	return pk.variable(dst, key, v)
}

// rendered appends a Str pair whose text was rendered into pk.scratch and
// keeps the grown scratch for the next value.
func (pk *packer) rendered(dst []byte, key string, text []byte) []byte {
	pk.scratch = text
	// AppendStr copies the text before scratch is written again.
	return kvpack.AppendStr(dst, key, unsafe.String(unsafe.SliceData(text), len(text)))
}

// numericValue converts a metric instance's value for the prometheus adapter:
// numbers as they are, DURATION in seconds, strings parsed as floats.
func numericValue(v attribute.Value) (float64, error) {
	switch v.Type() {
	case attribute.TypeDouble:
		return v.Double(), nil
	case attribute.TypeInt64:
		return float64(v.Int64()), nil
	case attribute.TypeDuration:
		return v.Duration().Seconds(), nil
	case attribute.TypeString:
		f, err := strconv.ParseFloat(v.Str(), 64)
		if err != nil {
			return 0, err
		}
		return f, nil
	}
	return 0, fmt.Errorf("could not extract numeric value for %s", v.String())
}
