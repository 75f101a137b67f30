package runtime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

func key(vals ...string) []byte {
	var b []byte
	for _, v := range vals {
		b = seriesKey(b, []byte(v))
	}
	return b
}

func TestPromMetricRecord(t *testing.T) {
	now := time.Unix(1000, 0)
	counter := newPromMetric("h.handler.istio-system", &istioconfig.MetricInfo{Name: "c", Kind: istioconfig.MetricKindCounter, LabelNames: []string{"a", "b"}}, nil, 2)
	for _, v := range []float64{0.1, 0.2, 0.30000000000000004} {
		_, err := counter.record(key("x", "y"), v, now)
		require.NoError(t, err)
	}
	_, err := counter.record(key("x", "y"), -1, now)
	assert.ErrorIs(t, err, errNegativeCounter)
	out, err := counter.record(key("xy", ""), 0, now)
	require.NoError(t, err)
	assert.Equal(t, recordedNew, out)
	out, _ = counter.record(key("z", ""), 1, now)
	assert.Equal(t, droppedOverflow, out, "the third series exceeds the cap of 2")

	gauge := newPromMetric("h", &istioconfig.MetricInfo{Name: "g", Kind: istioconfig.MetricKindGauge, LabelNames: []string{"a"}}, nil, 0)
	for _, v := range []float64{3, 1, 2} {
		_, err := gauge.record(key("x"), v, now)
		require.NoError(t, err)
	}
	hist := newPromMetric("h", &istioconfig.MetricInfo{Name: "d", Kind: istioconfig.MetricKindDistribution,
		Buckets: &istioconfig.BucketsDefinition{Explicit: &istioconfig.ExplicitBuckets{Bounds: []float64{1, 5}}}}, nil, 0)
	for _, v := range []float64{0.5, 1, 3, 7} {
		_, err := hist.record(key(), v, now)
		require.NoError(t, err)
	}

	ms := pmetric.NewMetricSlice()
	ts := pcommonTS(now)
	for _, m := range []*promMetric{counter, gauge, hist} {
		m.appendTo(ms, ts)
	}
	require.Equal(t, 3, ms.Len())
	c := ms.At(0)
	assert.Equal(t, "istio_c", c.Name())
	assert.True(t, c.Sum().IsMonotonic())
	require.Equal(t, 2, c.Sum().DataPoints().Len())
	dp := c.Sum().DataPoints().At(0)
	assert.Equal(t, map[string]any{"a": "x", "b": "y"}, dp.Attributes().AsRaw())
	assert.Equal(t, 0.6000000000000001, dp.DoubleValue(), "doubles add up exactly as on Mixer")
	assert.Equal(t, map[string]any{"a": "xy", "b": ""}, c.Sum().DataPoints().At(1).Attributes().AsRaw())

	assert.Equal(t, 2.0, ms.At(1).Gauge().DataPoints().At(0).DoubleValue(), "a gauge keeps the last value")

	h := ms.At(2).Histogram().DataPoints().At(0)
	assert.Equal(t, []float64{1, 5}, h.ExplicitBounds().AsRaw())
	assert.Equal(t, []uint64{2, 1, 1}, h.BucketCounts().AsRaw(), "le is inclusive")
	assert.Equal(t, uint64(4), h.Count())
	assert.Equal(t, 11.5, h.Sum())
}

func TestPromMetricExpiry(t *testing.T) {
	start := time.Unix(1000, 0)
	pol := &expiryPolicy{expiry: 2 * time.Second, interval: time.Second, lastCheck: start, nextCheck: start.Add(time.Second)}
	m := newPromMetric("h", &istioconfig.MetricInfo{Name: "c", Kind: istioconfig.MetricKindCounter, LabelNames: []string{"a"}}, pol, 0)
	_, err := m.record(key("x"), 1, start.Add(900*time.Millisecond))
	require.NoError(t, err)
	// The deadline is the latest check plus the expiry, not the update time.
	assert.Equal(t, 0, m.expire(start.Add(1999*time.Millisecond)))
	assert.Equal(t, 1, m.expire(start.Add(2*time.Second)))
	assert.Empty(t, m.series)
	ms := pmetric.NewMetricSlice()
	m.appendTo(ms, pcommonTS(start))
	assert.Equal(t, 0, ms.Len(), "a metric without series is not exported")
}

func TestSplitSeriesKey(t *testing.T) {
	long := string(make([]byte, 300))
	assert.Equal(t, []string{"a", "", long, "b"}, splitSeriesKey(string(key("a", "", long, "b")), 4))
	assert.NotEqual(t, string(key("a", "bc")), string(key("ab", "c")))
}

func pcommonTS(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }
