package istioconfig

import (
	"slices"
	"testing"
)

// The Telemetry v2 standard metrics as shared/reference/envoy-sources.md
// lists them ("Telemetry v2 (in-proxy) standard metrics", from Istio's
// istio_stats.cc): names, kinds, labels and Envoy's default buckets. The
// gRPC message counters are left out of the profile on purpose (no attribute
// counts messages); the profile's header says so.
var (
	v2HTTPLabels = []string{
		"reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
		"source_workload_namespace", "source_principal", "source_app", "source_version",
		"source_cluster", "destination_workload", "destination_workload_namespace",
		"destination_principal", "destination_app", "destination_version", "destination_service",
		"destination_canonical_service", "destination_canonical_revision",
		"destination_service_name", "destination_service_namespace", "destination_cluster",
		"request_protocol", "response_code", "grpc_response_status", "response_flags",
		"connection_security_policy",
	}
	v2TCPLabels = slices.DeleteFunc(slices.Clone(v2HTTPLabels), func(l string) bool {
		return l == "response_code" || l == "grpc_response_status"
	})
	v2Buckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
		60000, 300000, 600000, 1800000, 3600000}
)

func TestTelemetryV2ProfileMatchesReference(t *testing.T) {
	want := []struct {
		name    string
		kind    MetricKind
		labels  []string
		buckets []float64 // nil for counters
	}{
		{"istio_requests_total", MetricKindCounter, v2HTTPLabels, nil},
		{"istio_request_duration_milliseconds", MetricKindDistribution, v2HTTPLabels, v2Buckets},
		{"istio_request_bytes", MetricKindDistribution, v2HTTPLabels, v2Buckets},
		{"istio_response_bytes", MetricKindDistribution, v2HTTPLabels, v2Buckets},
		{"istio_tcp_sent_bytes_total", MetricKindCounter, v2TCPLabels, nil},
		{"istio_tcp_received_bytes_total", MetricKindCounter, v2TCPLabels, nil},
		{"istio_tcp_connections_opened_total", MetricKindCounter, v2TCPLabels, nil},
		{"istio_tcp_connections_closed_total", MetricKindCounter, v2TCPLabels, nil},
	}
	if len(v2HTTPLabels) != 25 || len(v2TCPLabels) != 23 {
		t.Fatalf("reference label sets: %d HTTP, %d TCP; want 25 and 23", len(v2HTTPLabels), len(v2TCPLabels))
	}

	s := buildProfile(t, "istio-telemetry-v2")
	h := s.Handlers["handler.prometheus.istio-system"]
	if h == nil || h.Prometheus == nil {
		t.Fatalf("no prometheus handler handler.prometheus.istio-system; handlers: %v", sortedKeys(s.Handlers))
	}
	got := map[string]MetricInfo{}
	for _, m := range h.Prometheus.Metrics {
		ns := m.Namespace
		if ns == "" {
			ns = "istio"
		}
		got[ns+"_"+m.Name] = m
	}
	if len(got) != len(want) {
		t.Errorf("the handler exports %d metrics (%v), want %d", len(got), sortedKeys(got), len(want))
	}
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			m, ok := got[w.name]
			if !ok {
				t.Fatalf("metric %s is missing", w.name)
			}
			if m.Kind != w.kind {
				t.Errorf("kind %v, want %v", m.Kind, w.kind)
			}
			if !sameSet(m.LabelNames, w.labels) {
				t.Errorf("labels %v, want %v", m.LabelNames, w.labels)
			}
			var bounds []float64
			if m.Buckets != nil {
				bounds = m.Buckets.Bounds()
			}
			if !slices.Equal(bounds, w.buckets) {
				t.Errorf("buckets %v, want %v", bounds, w.buckets)
			}
			inst := s.Instances[m.InstanceName]
			if inst == nil {
				t.Fatalf("instance %s is missing", m.InstanceName)
			}
		})
	}
}

// TestTelemetryV2ProfileLoadsClean: no problems, every metric routed by a
// rule, and the vocabulary is Istio 1.1's plus the two cluster ids.
func TestTelemetryV2ProfileLoadsClean(t *testing.T) {
	s := buildProfile(t, "istio-telemetry-v2")
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	// The kubernetesenv resources are istio-1.1's, so whatever istio-1.1
	// leaves unsupported, this profile does too, and nothing else.
	v1 := buildProfile(t, "istio-1.1")
	if got, want := unsupportedRefs(s), unsupportedRefs(v1); !slices.Equal(got, want) {
		t.Errorf("unsupported = %v, want istio-1.1's %v", got, want)
	}
	routed := map[string]bool{}
	for _, r := range s.Rules {
		for _, a := range r.Actions {
			for _, i := range a.Instances {
				routed[i.FQN] = true
			}
		}
	}
	for _, m := range s.Handlers["handler.prometheus.istio-system"].Prometheus.Metrics {
		if !routed[m.InstanceName] {
			t.Errorf("instance %s (metric %s) is not routed by any rule", m.InstanceName, m.Name)
		}
	}
	if s.Vocabulary.Len() != v1.Vocabulary.Len()+2 {
		t.Errorf("vocabulary has %d attributes, want istio-1.1's %d plus source.cluster.id and destination.cluster.id",
			s.Vocabulary.Len(), v1.Vocabulary.Len())
	}
	for _, name := range []string{"source.cluster.id", "destination.cluster.id"} {
		if _, _, ok := s.Vocabulary.Lookup(name); !ok {
			t.Errorf("attribute %s is not declared", name)
		}
	}
}

func TestProfileNames(t *testing.T) {
	if got, want := ProfileNames(), []string{"istio-1.1", "istio-telemetry-v2"}; !slices.Equal(got, want) {
		t.Errorf("ProfileNames() = %v, want %v", got, want)
	}
	if _, err := Profile("istio-2"); err == nil || err.Error() != `unknown embedded profile "istio-2" (known: istio-1.1, istio-telemetry-v2)` {
		t.Errorf("Profile(istio-2) error = %v", err)
	}
}

func buildProfile(t *testing.T, name string) *Snapshot {
	t.Helper()
	src, err := NewEmbeddedSource(name)
	if err != nil {
		t.Fatal(err)
	}
	in, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	return Build(in, BuildOptions{})
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}
