package istioconfig

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Names and bounds as Mixer's adapter exposed them (observed on mixs 1.7.8,
// case prometheus-kinds-and-buckets).
func TestMetricName(t *testing.T) {
	tests := []struct {
		mi         MetricInfo
		name, help string
	}{
		{MetricInfo{Name: "requests_total", InstanceName: "requestcount.metric.istio-system"}, "istio_requests_total", "requests_total"},
		{MetricInfo{Name: "double_request_count", Description: "d"}, "istio_double_request_count", "d"},
		// Observed on mixs 1.7.8 (case prometheus-kinds-and-buckets).
		{MetricInfo{Namespace: "istio_custom.ns-1", Name: "/my.metric-name with space"}, "istio_custom_ns1_my_metricname_with_space", "/my.metric-name with space"},
		{MetricInfo{InstanceName: "noname.instance.istio-system"}, "istio_noname_instance_istiosystem", "noname.instance.istio-system"},
	}
	for _, tt := range tests {
		name, help := tt.mi.PrometheusName(), tt.mi.Help()
		assert.Equal(t, tt.name, name)
		assert.Equal(t, tt.help, help)
	}
}

func TestBucketBounds(t *testing.T) {
	tests := []struct {
		def  *BucketsDefinition
		want []float64
	}{
		{nil, []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
		{&BucketsDefinition{Explicit: &ExplicitBuckets{Bounds: []float64{1, 5}}}, []float64{1, 5}},
		// The float steps show in `le` exactly like this on Mixer.
		{&BucketsDefinition{Linear: &LinearBuckets{NumFiniteBuckets: 4, Width: 0.1, Offset: 0.1}}, []float64{0.1, 0.2, 0.30000000000000004, 0.4, 0.5}},
		{&BucketsDefinition{Exponential: &ExponentialBuckets{NumFiniteBuckets: 3, GrowthFactor: 3, Scale: 0.1}}, []float64{0.1, 0.30000000000000004, 0.9000000000000001, 2.7}},
		{&BucketsDefinition{Exponential: &ExponentialBuckets{NumFiniteBuckets: 8, GrowthFactor: 10, Scale: 1}}, []float64{1, 10, 100, 1000, 10000, 100000, 1e6, 1e7, 1e8}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.def.Bounds())
	}
}
