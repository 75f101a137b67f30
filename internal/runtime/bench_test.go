package runtime

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// benchSnapshot is the embedded default telemetry config, optionally without
// its stdio (accesslog) rules.
func benchSnapshot(b testing.TB, withLogs bool) *istioconfig.Snapshot {
	data, err := istioconfig.Profile("istio-1.1")
	if err != nil {
		b.Fatal(err)
	}
	res, probs := istioconfig.Decode("istio-1.1.yaml", data)
	if !withLogs {
		kept := res[:0]
		for _, r := range res {
			if r.Kind == "rule" && (r.Name == "stdio" || r.Name == "stdiotcp") {
				continue
			}
			kept = append(kept, r)
		}
		res = kept
	}
	return istioconfig.Build(istioconfig.Input{Resources: res, Problems: probs}, istioconfig.BuildOptions{})
}

// BenchmarkDispatch sends one realistic Bookinfo HTTP report at a time through
// the default config: promhttp's 4 metrics, plus the accesslog entry in the
// Logs variants (as attributes, or packed). ns/op is per bag.
func BenchmarkDispatch(b *testing.B) {
	for _, tc := range []struct {
		name         string
		logs, packed bool
	}{{"PrometheusRules", false, false}, {"WithAccessLog", true, false}, {"WithAccessLogPacked", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			e := New(benchSnapshot(b, tc.logs), Options{PackedRecords: tc.packed})
			g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true})
			var batches []plog.Logs
			for range 8 {
				for _, bag := range g.Next() {
					batches = append(batches, bagLogs(bag))
				}
			}
			out := plog.NewLogs()
			for _, ld := range batches { // create the series first: steady state
				e.Dispatch(ld, out)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if tc.logs && i%64 == 0 {
					out = plog.NewLogs() // the consumer takes each batch
				}
				e.Dispatch(batches[i%len(batches)], out)
			}
		})
	}
}

// BenchmarkMetricsFlush measures emitting the full series state.
func BenchmarkMetricsFlush(b *testing.B) {
	e := New(benchSnapshot(b, false), Options{})
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true})
	for range 50 {
		e.Dispatch(bagLogs(g.Next()...), plog.NewLogs())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = e.Metrics()
	}
	b.ReportMetric(float64(e.ActiveSeries()), "series")
	_ = time.Second
}
