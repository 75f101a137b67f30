package runtime

import (
	"maps"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// v2Engine runs the embedded istio-telemetry-v2 profile.
func v2Engine(t *testing.T) *Engine {
	t.Helper()
	data, err := istioconfig.Profile("istio-telemetry-v2")
	if err != nil {
		t.Fatal(err)
	}
	res, probs := istioconfig.Decode("istio-telemetry-v2.yaml", data)
	snap := istioconfig.Build(istioconfig.Input{Resources: res, Problems: probs}, istioconfig.BuildOptions{})
	if err := snap.Err(); err != nil {
		t.Fatal(err)
	}
	return New(snap, Options{})
}

// with returns b with the named attributes replaced (or added); a zero
// Value removes the attribute.
func withAttrs(b bookinfo.Bag, set map[string]attribute.Value) bookinfo.Bag {
	out := bookinfo.Bag{}
	for _, a := range b {
		if _, ok := set[a.Name]; !ok {
			out = append(out, a)
		}
	}
	for n, v := range set {
		if v.Type() != attribute.TypeUnspecified {
			out = append(out, bookinfo.Attr{Name: n, Value: v})
		}
	}
	return out
}

// gatewayCall is the ingress gateway's request to productpage.
var gatewayCall = bookinfo.Call{
	Source: bookinfo.Gateway, Destination: bookinfo.ProductPage, Service: "productpage", Port: 9080,
	Path: "/productpage", Code: 200, RequestSize: 0, ResponseSize: 4415, Duration: 13601485 * time.Nanosecond,
}

// gatewayInbound are the v2 labels of gatewayCall reported by productpage's
// sidecar, enriched, with mTLS.
var gatewayInbound = map[string]string{
	"reporter":                       "destination",
	"source_workload":                "istio-ingressgateway",
	"source_canonical_service":       "istio-ingressgateway", // from the app label
	"source_canonical_revision":      "latest",               // the gateway has no version label
	"source_workload_namespace":      "istio-system",
	"source_principal":               "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
	"source_app":                     "istio-ingressgateway",
	"source_version":                 "unknown",
	"source_cluster":                 "unknown",
	"destination_workload":           "productpage-v1",
	"destination_workload_namespace": "default",
	"destination_principal":          "cluster.local/ns/default/sa/bookinfo-productpage",
	"destination_app":                "productpage",
	"destination_version":            "v1",
	"destination_service":            "productpage.default.svc.cluster.local",
	"destination_canonical_service":  "productpage",
	"destination_canonical_revision": "v1",
	"destination_service_name":       "productpage",
	"destination_service_namespace":  "default",
	"destination_cluster":            "unknown",
	"request_protocol":               "http",
	"response_code":                  "200",
	"grpc_response_status":           "",
	"response_flags":                 "-",
	"connection_security_policy":     "mutual_tls",
}

func TestTelemetryV2Labels(t *testing.T) {
	enriched := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true})
	plain := bookinfo.NewGenerator(bookinfo.Options{Seed: 1})
	canonical := attribute.StringMapValue(attribute.NewStringMap(
		"app", "productpage", "version", "v1",
		"app.kubernetes.io/name", "pp-kube", "app.kubernetes.io/version", "kv1",
		"service.istio.io/canonical-name", "pp-canonical", "service.istio.io/canonical-revision", "cr1"))
	kubeNames := attribute.StringMapValue(attribute.NewStringMap(
		"app", "productpage", "version", "v1", "app.kubernetes.io/name", "pp-kube", "app.kubernetes.io/version", "kv1"))
	cases := []struct {
		name   string
		bag    bookinfo.Bag
		change map[string]string // differences from gatewayInbound
	}{
		{"server side, enriched, mTLS", enriched.HTTP(gatewayCall, false), nil},
		{"client side", enriched.HTTP(gatewayCall, true), map[string]string{
			"reporter": "source", "connection_security_policy": "unknown",
			"source_principal": "unknown", "destination_principal": "unknown",
		}},
		{"canonical labels win", withAttrs(enriched.HTTP(gatewayCall, false), map[string]attribute.Value{"destination.labels": canonical}),
			map[string]string{"destination_canonical_service": "pp-canonical", "destination_canonical_revision": "cr1"}},
		{"app.kubernetes.io labels before app and version", withAttrs(enriched.HTTP(gatewayCall, false), map[string]attribute.Value{"destination.labels": kubeNames}),
			map[string]string{"destination_canonical_service": "pp-kube", "destination_canonical_revision": "kv1"}},
		{"no labels: the workload name", withAttrs(enriched.HTTP(gatewayCall, false), map[string]attribute.Value{"destination.labels": {}}),
			map[string]string{"destination_canonical_service": "productpage-v1", "destination_canonical_revision": "latest",
				"destination_app": "unknown", "destination_version": "unknown"}},
		{"cluster ids when a processor sets them", withAttrs(enriched.HTTP(gatewayCall, false), map[string]attribute.Value{
			"source.cluster.id": attribute.StringValue("east"), "destination.cluster.id": attribute.StringValue("west")}),
			map[string]string{"source_cluster": "east", "destination_cluster": "west"}},
		{"no response code is 0", withAttrs(enriched.HTTP(gatewayCall, false), map[string]attribute.Value{"response.code": {}}),
			map[string]string{"response_code": "0"}},
		{"gRPC status", withAttrs(enriched.HTTP(gatewayCall, false), map[string]attribute.Value{
			"context.protocol": attribute.StringValue("grpc"), "response.grpc_status": attribute.StringValue("14")}),
			map[string]string{"request_protocol": "grpc", "grpc_response_status": "14"}},
		{"no service host: the Host header", withAttrs(enriched.HTTP(gatewayCall, false), map[string]attribute.Value{"destination.service.host": {}}),
			map[string]string{"destination_service": "productpage:9080"}},
		{"not enriched, no mTLS", plain.HTTP(gatewayCall, false), map[string]string{
			"source_workload": "unknown", "source_canonical_service": "unknown", "source_workload_namespace": "unknown",
			"source_principal": "unknown", "source_app": "unknown", "destination_workload": "unknown",
			"destination_canonical_service": "unknown", "destination_canonical_revision": "latest",
			"destination_workload_namespace": "unknown", "destination_principal": "unknown",
			"destination_app": "unknown", "destination_version": "unknown", "connection_security_policy": "none",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := v2Engine(t)
			e.Dispatch(bagLogs(c.bag), plog.NewLogs())
			want := maps.Clone(gatewayInbound)
			maps.Copy(want, c.change)
			var n int
			for _, s := range samples(e.Metrics()) {
				if s.Name != "istio_requests_total" {
					continue
				}
				n++
				if !maps.Equal(s.Labels, want) {
					t.Errorf("labels\n got %v\nwant %v", s.Labels, want)
				}
				if s.Value != 1 {
					t.Errorf("value %v, want 1", s.Value)
				}
			}
			if n != 1 {
				t.Errorf("%d istio_requests_total series, want 1", n)
			}
		})
	}
}

// TestTelemetryV2Values: durations in milliseconds, sizes as whole requests
// and responses, TCP bytes and connection counts.
func TestTelemetryV2Values(t *testing.T) {
	e := v2Engine(t)
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 7, Enriched: true, MTLS: true})
	var wantMillis, wantReq, wantResp float64
	var requests, sent, received float64
	var bags []bookinfo.Bag
	for range 20 {
		for _, b := range g.Next() {
			d, _ := b.Get("response.duration")
			rq, _ := b.Get("request.total_size")
			rs, _ := b.Get("response.total_size")
			wantMillis += float64(d.Duration()) / float64(time.Millisecond)
			wantReq += float64(rq.Int64())
			wantResp += float64(rs.Int64())
			requests++
			bags = append(bags, b)
		}
	}
	tcp := g.TCPConnection()
	for _, b := range tcp {
		s, _ := b.Get("connection.sent.bytes")
		r, _ := b.Get("connection.received.bytes")
		sent += float64(s.Int64())
		received += float64(r.Int64())
	}
	bags = append(bags, tcp...)
	// A request without response.duration is observed as 0 ms.
	bags = append(bags, withAttrs(g.HTTP(gatewayCall, false), map[string]attribute.Value{"response.duration": {}}))
	requests++
	wantReq += float64(gatewayCall.RequestSize + 312)
	wantResp += float64(gatewayCall.ResponseSize + 180)
	e.Dispatch(bagLogs(bags...), plog.NewLogs())

	got := map[string]float64{}
	zeroBucket := 0.0 // requests in the le="0.5" bucket
	for _, s := range samples(e.Metrics()) {
		got[s.Name] += float64(s.Value)
		if s.Name == "istio_request_duration_milliseconds_bucket" && s.Labels["le"] == "0.5" {
			zeroBucket += float64(s.Value)
		}
	}
	for _, c := range []struct {
		name string
		want float64
	}{
		{"istio_requests_total", requests},
		{"istio_request_duration_milliseconds_count", requests},
		{"istio_request_duration_milliseconds_sum", wantMillis},
		{"istio_request_bytes_sum", wantReq},
		{"istio_response_bytes_sum", wantResp},
		{"istio_tcp_sent_bytes_total", sent},
		{"istio_tcp_received_bytes_total", received},
		{"istio_tcp_connections_opened_total", 2}, // one open report per side
		{"istio_tcp_connections_closed_total", 2},
	} {
		if math.Abs(got[c.name]-c.want) > 1e-9*math.Max(1, c.want) {
			t.Errorf("%s = %v, want %v", c.name, got[c.name], c.want)
		}
	}
	if zeroBucket != 1 {
		t.Errorf("%v requests at or below 0.5 ms, want the one without a duration", zeroBucket)
	}
	if sent == 0 || received == 0 || wantMillis == 0 {
		t.Fatalf("the generated traffic has no bytes or durations: %v %v %v", sent, received, wantMillis)
	}
}
