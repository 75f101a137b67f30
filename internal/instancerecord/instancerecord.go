// Package instancerecord names the parts of the log records that carry
// evaluated Istio instances (DESIGN §3.3) from the rules engine to exporters.
//
// Records are grouped in one ScopeLogs per handler and template: the scope
// name is the handler FQN and the scope attributes say the handler's adapter
// and the instances' template. Each record is one instance: EventName is the
// instance FQN (`newlog.logentry.istio-system`); for logentry instances
// Timestamp is the evaluated `timestamp`, SeverityText the evaluated
// `severity`, and the attributes are the variables; for metric instances
// Timestamp is the dispatch time and the attributes are `value` followed by
// the dimensions. INT64, DOUBLE and BOOL values are pdata natives; every other
// type arrives as the string Mixer's adapters printed for it.
//
// pdata timestamps are unsigned nanoseconds since 1970, so they cannot carry
// an entry time at or before the epoch, nor Mixer's zero time (year 1, what a
// logentry without `timestamp` gets). For such times Timestamp stays 0 and the
// record's Body holds the time already formatted with TimeLayout; a consumer
// uses a Str Body in preference to Timestamp.
//
// # Packed form
//
// Producers may write the fields in the packed form instead (the rules
// engine does on request): EventName, Timestamp, SeverityText,
// SeverityNumber and the scopes are as above, but the fields are one Bytes
// Body encoded with internal/kvpack, in the order a stdio line prints them
// (logentry variables sorted byte-wise by name; a metric's `value`, then its
// dimensions sorted), with the same value kinds as the attributes. Storing
// 40 attributes in pdata costs an allocation and a scan of the keys already
// present for each; the packed Body is one append to a buffer.
//
// A time that Timestamp cannot carry is then the first pair, with the empty
// key and the time formatted with TimeLayout as a Str; that pair is there
// exactly when Timestamp is 0, so a field with the empty key stays a field
// otherwise. A record is packed when its Body is Bytes starting with
// kvpack.Version. Exporters other than istio_stdio see only an opaque Bytes
// Body, which is why the attribute form is the default.
package instancerecord // import "github.com/otelcol-istio/otelcol-istio/internal/instancerecord"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// TimeLayout is how Mixer's adapters print times, always in UTC with six
// fractional digits: 2018-09-15T20:46:36.009801Z.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// fitsTimestamp reports whether a pdata Timestamp can carry t (0 means
// unset, so the epoch itself cannot).
func fitsTimestamp(t time.Time) bool {
	return t.After(time.Unix(0, 0)) && t.Before(time.Unix(0, 1<<63-1))
}

// SetTime stores an instance's time in lr following the rule above.
func SetTime(lr plog.LogRecord, t time.Time) {
	if fitsTimestamp(t) {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
		return
	}
	lr.SetTimestamp(0)
	lr.Body().SetStr(string(AppendTimeText(nil, t)))
}

// AppendTime appends lr's instance time formatted with TimeLayout, from
// either form.
func AppendTime(dst []byte, lr plog.LogRecord) []byte {
	if b := lr.Body(); b.Type() == pcommon.ValueTypeStr && b.Str() != "" {
		return append(dst, b.Str()...)
	}
	if ts := lr.Timestamp(); ts != 0 {
		return AppendTimeText(dst, ts.AsTime())
	}
	if buf := kvpack.BytesOf(lr.Body()); kvpack.IsPacked(buf) {
		r := kvpack.NewReader(buf)
		var p kvpack.Pair
		if r.Next(&p) && isTimePair(&p) {
			return append(dst, p.Text...)
		}
	}
	return AppendTimeText(dst, time.Time{})
}

func isTimePair(p *kvpack.Pair) bool { return p.Key == "" && p.Kind == kvpack.Str }

// IsPacked reports whether lr carries its fields in the packed form.
func IsPacked(lr plog.LogRecord) bool { return kvpack.IsPacked(kvpack.BytesOf(lr.Body())) }

// BeginPacked stores the instance time t in lr and starts its packed Body at
// the end of dst: t goes into Timestamp or, when that cannot carry it, into
// the time pair. The fields follow with the kvpack Append functions, then
// SetPacked.
func BeginPacked(dst []byte, lr plog.LogRecord, t time.Time) []byte {
	dst = kvpack.Begin(dst)
	if fitsTimestamp(t) {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
		return dst
	}
	lr.SetTimestamp(0)
	// Formatted on the stack: a time is far shorter than the array.
	var tmp [64]byte
	return kvpack.AppendStr(dst, "", string(AppendTimeText(tmp[:0], t)))
}

// SetPacked makes buf, begun with BeginPacked, the Body of lr without copying
// it: buf must not change afterwards.
func SetPacked(lr plog.LogRecord, buf []byte) { kvpack.SetBytes(lr.Body(), buf) }

// PackedFields returns a reader over the fields of a packed record, the time
// pair left out; ok is false when lr is not packed. The pairs' strings point
// into lr's Body.
func PackedFields(lr plog.LogRecord) (r kvpack.Reader, ok bool) {
	buf := kvpack.BytesOf(lr.Body())
	if !kvpack.IsPacked(buf) {
		return kvpack.Reader{}, false
	}
	r = kvpack.NewReader(buf)
	if lr.Timestamp() == 0 {
		next := r
		var p kvpack.Pair
		if next.Next(&p) && isTimePair(&p) {
			r = next
		}
	}
	return r, true
}

const (
	// ScopeAttrAdapter is the scope attribute holding the handler's adapter
	// (`stdio`, `prometheus`, …).
	ScopeAttrAdapter = "istio.adapter"
	// ScopeAttrTemplate is the scope attribute holding the instances'
	// template (`logentry`, `metric`).
	ScopeAttrTemplate = "istio.template"
	// MetricValueKey is the attribute that holds a metric instance's value.
	MetricValueKey = "value"

	TemplateLogEntry = "logentry"
	TemplateMetric   = "metric"

	// EncodingAttributes and EncodingPacked name the two forms as the
	// components' record_encoding setting spells them.
	EncodingAttributes = kvpack.EncodingAttributes
	EncodingPacked     = kvpack.EncodingPacked
)
