package runtime

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/stdiofmt"
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

// BenchmarkAccessLogLine is the stdio path of one report end to end, without
// I/O: Dispatch through the default config, then the accesslog line written
// from the record as istio_stdio writes it, with the record in each form.
// ns/op is per bag.
func BenchmarkAccessLogLine(b *testing.B) {
	for _, enc := range []string{instancerecord.EncodingAttributes, instancerecord.EncodingPacked} {
		b.Run(enc, func(b *testing.B) {
			snap := benchSnapshot(b, true)
			e := New(snap, Options{PackedRecords: enc == instancerecord.EncodingPacked})
			g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true})
			var batches []plog.Logs
			for range 8 {
				for _, bag := range g.Next() {
					batches = append(batches, bagLogs(bag))
				}
			}
			for _, ld := range batches {
				e.Dispatch(ld, plog.NewLogs())
			}
			var w stdiofmt.Encoder
			var line []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out := plog.NewLogs()
				e.Dispatch(batches[i%len(batches)], out)
				sl := out.ResourceLogs().At(0).ScopeLogs().At(0)
				params := snap.Handlers[sl.Scope().Name()].Stdio
				for _, lr := range sl.LogRecords().All() {
					line = w.AppendRecord(line[:0], lr, stdiofmt.LogEntry, params)
				}
			}
		})
	}
}
