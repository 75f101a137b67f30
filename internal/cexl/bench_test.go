package cexl

import (
	"net"
	"testing"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// bookinfoBag is an inbound report of reviews-v1 serving productpage, as an
// Istio 1.1 sidecar plus kubernetesenv would have filled it.
func bookinfoBag(tb testing.TB) *attribute.Bag {
	tb.Helper()
	v := attribute.DefaultVocabulary()
	b := attribute.NewBag(v)
	set := func(name string, val attribute.Value) {
		if err := b.SetByName(name, val); err != nil {
			tb.Fatal(err)
		}
	}
	str := attribute.StringValue
	now := time.Date(2019, 8, 5, 12, 0, 0, 0, time.UTC)
	set("context.reporter.kind", str("inbound"))
	set("context.reporter.uid", str("kubernetes://reviews-v1-5b7d8f5d9c-x2x7q.default"))
	set("context.protocol", str("http"))
	set("context.proxy_error_code", str("-"))
	set("source.uid", str("kubernetes://productpage-v1-6b746f74dc-9stp2.default"))
	set("source.namespace", str("default"))
	set("source.principal", str("cluster.local/ns/default/sa/bookinfo-productpage"))
	set("source.workload.name", str("productpage-v1"))
	set("source.workload.namespace", str("default"))
	set("source.labels", attribute.StringMapValue(attribute.NewStringMap(
		"app", "productpage", "version", "v1", "pod-template-hash", "6b746f74dc")))
	set("destination.uid", str("kubernetes://reviews-v1-5b7d8f5d9c-x2x7q.default"))
	set("destination.namespace", str("default"))
	set("destination.principal", str("cluster.local/ns/default/sa/bookinfo-reviews"))
	set("destination.workload.name", str("reviews-v1"))
	set("destination.service.host", str("reviews.default.svc.cluster.local"))
	set("destination.service.name", str("reviews"))
	set("destination.labels", attribute.StringMapValue(attribute.NewStringMap("app", "reviews", "version", "v1")))
	set("destination.ip", attribute.IPValue(net.ParseIP("10.44.0.12")))
	set("destination.port", attribute.Int64Value(9080))
	set("request.headers", attribute.StringMapValue(attribute.NewStringMap(
		":authority", "reviews:9080", ":method", "GET", ":path", "/reviews/0",
		"user-agent", "python-requests/2.21.0", "x-request-id", "7f0b7a1e-6d7f-4b0e-9f0a-2c5a8d4f3e21",
		"x-b3-traceid", "4f2c8e6d1a3b5c7e", "x-b3-spanid", "9a8b7c6d5e4f3a2b", "x-b3-sampled", "1")))
	set("request.host", str("reviews:9080"))
	set("request.method", str("GET"))
	set("request.path", str("/reviews/0"))
	set("request.url_path", str("/reviews/0"))
	set("request.scheme", str("http"))
	set("request.useragent", str("python-requests/2.21.0"))
	set("request.time", attribute.TimestampValue(now))
	set("request.size", attribute.Int64Value(0))
	set("request.total_size", attribute.Int64Value(589))
	set("response.code", attribute.Int64Value(200))
	set("response.size", attribute.Int64Value(295))
	set("response.total_size", attribute.Int64Value(474))
	set("response.duration", attribute.DurationValue(7*time.Millisecond))
	set("response.time", attribute.TimestampValue(now.Add(7*time.Millisecond)))
	set("connection.mtls", attribute.BoolValue(true))
	return b
}

// benchExprs are expressions of Istio's default telemetry config.
var benchExprs = []struct {
	name, expr string
	want       attribute.Value
}{
	{"source_app", `source.labels["app"] | source.workload.name | "unknown"`, attribute.StringValue("productpage")},
	{"reporter", `conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")`, attribute.StringValue("destination")},
	{"destination_service", `destination.service.host | "unknown"`, attribute.StringValue("reviews.default.svc.cluster.local")},
	{"response_code", `response.code | 200`, attribute.Int64Value(200)},
	{"promhttp_match", `(context.protocol == "http" || context.protocol == "grpc") && (match((request.useragent | "-"), "kube-probe*") == false)`, attribute.BoolValue(true)},
}

func TestBenchExpressions(t *testing.T) {
	b := bookinfoBag(t)
	for _, c := range benchExprs {
		e, err := Compile(c.expr, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := e.Eval(b)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%s = %v, %v; want %v", c.name, got, err, c.want)
		}
		// The typed fast paths must not allocate.
		var allocs float64
		switch e.Type() {
		case attribute.TypeString:
			allocs = testing.AllocsPerRun(100, func() { _, _ = e.EvalString(b) })
		case attribute.TypeInt64:
			allocs = testing.AllocsPerRun(100, func() { _, _ = e.EvalInt64(b) })
		case attribute.TypeBool:
			allocs = testing.AllocsPerRun(100, func() { _, _ = e.EvalBool(b) })
		}
		if allocs != 0 {
			t.Errorf("%s allocates %.1f times per evaluation", c.name, allocs)
		}
		if allocs = testing.AllocsPerRun(100, func() { _, _ = e.Eval(b) }); allocs != 0 {
			t.Errorf("%s: Eval allocates %.1f times per evaluation", c.name, allocs)
		}
	}
	// Absent attributes fail without allocating either.
	e, _ := Compile(`request.auth.principal == "u"`, nil)
	if allocs := testing.AllocsPerRun(100, func() { _, _ = e.EvalBool(b) }); allocs != 0 {
		t.Errorf("lookup failure allocates %.1f times", allocs)
	}
}

func BenchmarkEval(b *testing.B) {
	bag := bookinfoBag(b)
	for _, c := range benchExprs {
		e, err := Compile(c.expr, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			switch e.Type() {
			case attribute.TypeString:
				for b.Loop() {
					if _, err := e.EvalString(bag); err != nil {
						b.Fatal(err)
					}
				}
			case attribute.TypeInt64:
				for b.Loop() {
					if _, err := e.EvalInt64(bag); err != nil {
						b.Fatal(err)
					}
				}
			case attribute.TypeBool:
				for b.Loop() {
					if _, err := e.EvalBool(bag); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkEvalValue measures the generic Eval, which wraps the result in an
// attribute.Value.
func BenchmarkEvalValue(b *testing.B) {
	bag := bookinfoBag(b)
	for _, c := range benchExprs {
		e, err := Compile(c.expr, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Eval(bag); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range benchExprs {
			if _, err := Compile(c.expr, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
