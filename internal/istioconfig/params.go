package istioconfig

import "time"

// This file holds the typed params of the adapters the distribution
// implements (mixer-semantics.md §d.7, §d.8). Handler params are decoded on
// top of the adapter defaults: scalars not mentioned keep their defaults, a map
// given in config replaces the default map as a whole.

// MetricKind is a prometheus metric kind (adapter.prometheus.config.Params).
type MetricKind int32

const (
	MetricKindUnspecified  MetricKind = 0
	MetricKindGauge        MetricKind = 1
	MetricKindCounter      MetricKind = 2
	MetricKindDistribution MetricKind = 3
)

func (k MetricKind) String() string {
	switch k {
	case MetricKindGauge:
		return "GAUGE"
	case MetricKindCounter:
		return "COUNTER"
	case MetricKindDistribution:
		return "DISTRIBUTION"
	}
	return "UNSPECIFIED"
}

// PrometheusParams are the params of a `prometheus` handler.
type PrometheusParams struct {
	Metrics []MetricInfo
	// MetricsExpirationPolicy is nil when the handler has none: its series
	// then never expire.
	MetricsExpirationPolicy *MetricsExpirationPolicy
}

// MetricInfo describes one exported metric of a prometheus handler.
type MetricInfo struct {
	Namespace    string // "" means "istio"
	Name         string // "" means the instance name
	InstanceName string // FQN of the metric instance it exports
	Description  string
	Kind         MetricKind
	Buckets      *BucketsDefinition // nil: Prometheus' default buckets
	LabelNames   []string
}

// BucketsDefinition holds exactly one of its fields.
type BucketsDefinition struct {
	Linear      *LinearBuckets
	Exponential *ExponentialBuckets
	Explicit    *ExplicitBuckets
}

// LinearBuckets: offset + width·i for i = 0..NumFiniteBuckets.
type LinearBuckets struct {
	NumFiniteBuckets int32
	Width            float64
	Offset           float64
}

// ExponentialBuckets: scale·growthFactor^i for i = 0..NumFiniteBuckets.
type ExponentialBuckets struct {
	NumFiniteBuckets int32
	GrowthFactor     float64
	Scale            float64
}

// ExplicitBuckets lists the finite bucket bounds.
type ExplicitBuckets struct {
	Bounds []float64
}

// MetricsExpirationPolicy removes series that were not updated for
// MetricsExpiryDuration, checked every ExpiryCheckIntervalDuration (0: half
// the expiry).
type MetricsExpirationPolicy struct {
	MetricsExpiryDuration       time.Duration
	ExpiryCheckIntervalDuration time.Duration
}

// StdioStream is where a stdio handler writes (adapter.stdio.config.Params).
type StdioStream int32

const (
	StreamStdout      StdioStream = 0
	StreamStderr      StdioStream = 1
	StreamFile        StdioStream = 2
	StreamRotatedFile StdioStream = 3
)

func (s StdioStream) String() string {
	switch s {
	case StreamStderr:
		return "STDERR"
	case StreamFile:
		return "FILE"
	case StreamRotatedFile:
		return "ROTATED_FILE"
	}
	return "STDOUT"
}

// StdioLevel is a stdio log level.
type StdioLevel int32

const (
	LevelInfo    StdioLevel = 0
	LevelWarning StdioLevel = 1
	LevelError   StdioLevel = 2
)

// String gives the level as the stdio adapter writes it in `"level"`.
func (l StdioLevel) String() string {
	switch l {
	case LevelWarning:
		return "warn"
	case LevelError:
		return "error"
	}
	return "info"
}

// StdioParams are the params of a `stdio` handler.
type StdioParams struct {
	LogStream      StdioStream
	SeverityLevels map[string]StdioLevel
	MetricLevel    StdioLevel
	OutputAsJSON   bool
	// OutputLevel is decoded and validated but, as in Mixer, filters nothing.
	OutputLevel                StdioLevel
	OutputPath                 string
	MaxMegabytesBeforeRotation int32
	MaxDaysBeforeRotation      int32
	MaxRotatedFiles            int32
}

// DefaultStdioParams returns the stdio adapter's defaults.
func DefaultStdioParams() StdioParams {
	return StdioParams{
		LogStream: StreamStdout,
		SeverityLevels: map[string]StdioLevel{
			"INFORMATIONAL": LevelInfo, "informational": LevelInfo, "INFO": LevelInfo, "info": LevelInfo,
			"WARNING": LevelWarning, "warning": LevelWarning, "WARN": LevelWarning, "warn": LevelWarning,
			"ERROR": LevelError, "error": LevelError, "ERR": LevelError, "err": LevelError,
			"FATAL": LevelError, "fatal": LevelError,
		},
		MetricLevel:  LevelInfo,
		OutputAsJSON: true,
		OutputLevel:  LevelInfo,
		// Mixer's code uses 100*1024*1024 although its documentation says 100 MB.
		MaxMegabytesBeforeRotation: 100 * 1024 * 1024,
		MaxDaysBeforeRotation:      30,
		MaxRotatedFiles:            1000,
	}
}

// Level maps a logentry severity to a level; an unknown severity logs at info.
func (p *StdioParams) Level(severity string) StdioLevel {
	if l, ok := p.SeverityLevels[severity]; ok {
		return l
	}
	return LevelInfo
}
