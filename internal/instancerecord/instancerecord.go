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
package instancerecord // import "github.com/otelcol-istio/otelcol-istio/internal/instancerecord"

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
