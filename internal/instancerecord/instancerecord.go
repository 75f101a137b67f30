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
package instancerecord // import "github.com/otelcol-istio/otelcol-istio/internal/instancerecord"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// TimeLayout is how Mixer's adapters print times, always in UTC with six
// fractional digits: 2018-09-15T20:46:36.009801Z.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// SetTime stores an instance's time in lr following the rule above.
func SetTime(lr plog.LogRecord, t time.Time) {
	if t.After(time.Unix(0, 0)) && t.Before(time.Unix(0, 1<<63-1)) {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
		return
	}
	lr.SetTimestamp(0)
	lr.Body().SetStr(t.UTC().Format(TimeLayout))
}

// AppendTime appends lr's instance time formatted with TimeLayout.
func AppendTime(dst []byte, lr plog.LogRecord) []byte {
	if b := lr.Body(); b.Type() == pcommon.ValueTypeStr && b.Str() != "" {
		return append(dst, b.Str()...)
	}
	if lr.Timestamp() == 0 {
		return time.Time{}.AppendFormat(dst, TimeLayout)
	}
	return lr.Timestamp().AsTime().UTC().AppendFormat(dst, TimeLayout)
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
)
