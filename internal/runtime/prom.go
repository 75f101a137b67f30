package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// errNegativeCounter rejects a negative value on a COUNTER. Mixer's client
// library panicked on it and lost the rest of the batch; we drop the instance.
var errNegativeCounter = errors.New("counter cannot decrease in value")

// promMetric is one exported metric of a prometheus handler and its series.
type promMetric struct {
	handler    string // handler FQN: the scope the metric is exported under
	instance   string // instance FQN it records
	name       string // full Prometheus name, e.g. istio_requests_total
	help       string
	kind       istioconfig.MetricKind
	labelNames []string
	bounds     []float64 // DISTRIBUTION only
	identity   string    // what must stay equal for series to survive a reload
	expiry     *expiryPolicy
	maxSeries  int
	series     map[string]*series // by encoded label values (see seriesKey)
}

// series is one label set of a metric.
type series struct {
	labels   []string
	value    float64  // COUNTER and GAUGE
	counts   []uint64 // DISTRIBUTION: per bucket, not cumulative; len(bounds)+1
	sum      float64
	count    uint64
	start    pcommon.Timestamp
	deadline time.Time // expires at the first check at or after it
}

// expiryPolicy tracks a handler's metricsExpirationPolicy. As observed on
// Mixer, an update is stamped with the time of the latest check plus the
// expiry, and the series goes at the first check at or after that stamp.
type expiryPolicy struct {
	expiry    time.Duration
	interval  time.Duration
	lastCheck time.Time
	nextCheck time.Time
}

// latestCheck is the time of the latest check scheduled at or before now,
// whether or not it has run yet.
func (p *expiryPolicy) latestCheck(now time.Time) time.Time {
	if now.Before(p.nextCheck) {
		return p.lastCheck
	}
	return p.nextCheck.Add(now.Sub(p.nextCheck) / p.interval * p.interval)
}

func newPromMetric(handler string, mi *istioconfig.MetricInfo, expiry *expiryPolicy, maxSeries int) *promMetric {
	name, help := mi.PrometheusName(), mi.Help()
	m := &promMetric{
		handler:    handler,
		instance:   mi.InstanceName,
		name:       name,
		help:       help,
		labelNames: mi.SanitizedLabelNames(),
		kind:       mi.Kind,
		expiry:     expiry,
		maxSeries:  maxSeries,
		series:     map[string]*series{},
	}
	if m.kind == istioconfig.MetricKindDistribution {
		m.bounds = mi.Buckets.Bounds()
	}
	var id strings.Builder
	fmt.Fprintf(&id, "%s|%s|%s|%s|%v", name, help, m.kind, strings.Join(m.labelNames, ","), m.bounds)
	m.identity = id.String()
	return m
}

// seriesKey appends one label value to a series key. Values are length
// prefixed, so distinct label sets never encode alike.
func seriesKey(dst []byte, value []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

func splitSeriesKey(key string, n int) []string {
	out := make([]string, 0, n)
	for len(key) > 0 {
		l, w := binary.Uvarint([]byte(key[:min(len(key), binary.MaxVarintLen64)]))
		key = key[w:]
		out = append(out, key[:l])
		key = key[l:]
	}
	return out
}

// outcome of recording one instance in a metric.
type recordOutcome int

const (
	recorded recordOutcome = iota
	recordedNew
	droppedOverflow
)

// record applies value v to the series whose encoded labels are key.
func (m *promMetric) record(key []byte, v float64, now time.Time) (recordOutcome, error) {
	if m.kind == istioconfig.MetricKindCounter && v < 0 {
		return recorded, errNegativeCounter
	}
	s, ok := m.series[string(key)] // no allocation for the lookup
	out := recorded
	if !ok {
		if m.maxSeries > 0 && len(m.series) >= m.maxSeries {
			return droppedOverflow, nil
		}
		k := string(key)
		s = &series{labels: splitSeriesKey(k, len(m.labelNames)), start: pcommon.NewTimestampFromTime(now)}
		if m.kind == istioconfig.MetricKindDistribution {
			s.counts = make([]uint64, len(m.bounds)+1)
		}
		m.series[k] = s
		out = recordedNew
	}
	switch m.kind {
	case istioconfig.MetricKindCounter:
		s.value += v
	case istioconfig.MetricKindGauge:
		s.value = v
	case istioconfig.MetricKindDistribution:
		s.counts[sort.SearchFloat64s(m.bounds, v)]++ // bucket i holds bounds[i-1] < v <= bounds[i]
		s.sum += v
		s.count++
	}
	if m.expiry != nil {
		s.deadline = m.expiry.latestCheck(now).Add(m.expiry.expiry)
	}
	return out, nil
}

// expire removes the series whose deadline has passed at now and reports how
// many went.
func (m *promMetric) expire(now time.Time) int {
	n := 0
	for k, s := range m.series {
		if !now.Before(s.deadline) {
			delete(m.series, k)
			n++
		}
	}
	return n
}

// appendTo writes the metric and all its series into sm.
func (m *promMetric) appendTo(sm pmetric.MetricSlice, now pcommon.Timestamp) {
	if len(m.series) == 0 {
		return // Mixer's registry exposes a metric only once it has a series
	}
	keys := make([]string, 0, len(m.series))
	for k := range m.series {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable order makes outputs comparable
	out := sm.AppendEmpty()
	out.SetName(m.name)
	out.SetDescription(m.help)
	switch m.kind {
	case istioconfig.MetricKindCounter:
		sum := out.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dps := sum.DataPoints()
		dps.EnsureCapacity(len(keys))
		for _, k := range keys {
			s := m.series[k]
			dp := dps.AppendEmpty()
			m.putLabels(dp.Attributes(), s)
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(now)
			dp.SetDoubleValue(s.value)
		}
	case istioconfig.MetricKindGauge:
		dps := out.SetEmptyGauge().DataPoints()
		dps.EnsureCapacity(len(keys))
		for _, k := range keys {
			s := m.series[k]
			dp := dps.AppendEmpty()
			m.putLabels(dp.Attributes(), s)
			dp.SetTimestamp(now)
			dp.SetDoubleValue(s.value)
		}
	case istioconfig.MetricKindDistribution:
		h := out.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dps := h.DataPoints()
		dps.EnsureCapacity(len(keys))
		for _, k := range keys {
			s := m.series[k]
			dp := dps.AppendEmpty()
			m.putLabels(dp.Attributes(), s)
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(now)
			dp.ExplicitBounds().FromRaw(m.bounds)
			dp.BucketCounts().FromRaw(s.counts)
			dp.SetCount(s.count)
			dp.SetSum(s.sum)
		}
	}
}

func (m *promMetric) putLabels(attrs pcommon.Map, s *series) {
	attrs.EnsureCapacity(len(m.labelNames))
	for i, n := range m.labelNames {
		if i < len(s.labels) {
			attrs.PutStr(n, s.labels[i])
		}
	}
}
