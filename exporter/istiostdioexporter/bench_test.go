package istiostdioexporter

import (
	"context"
	"fmt"
	"io"
	"testing"

	"go.uber.org/zap"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// BenchmarkPushLogs measures one batch of 100 accesslog-sized records (41
// variables, 1.85 kB a line) through grouping, encoding and the write.
func BenchmarkPushLogs(b *testing.B) { benchmarkPushLogs(b, instancerecord.EncodingAttributes) }

// BenchmarkPushLogsPacked is the same batch with the records packed, as the
// rules engine writes them with record_encoding: packed.
func BenchmarkPushLogsPacked(b *testing.B) { benchmarkPushLogs(b, instancerecord.EncodingPacked) }

func benchmarkPushLogs(b *testing.B, enc string) {
	recs := make([]record, 100)
	for i := range recs {
		r := record{instance: "accesslog.logentry.istio-system", severity: "Info", time: t0}
		for k := range 41 {
			if k%8 == 0 {
				r.attrs = append(r.attrs, kv{fmt.Sprintf("variable%02d", k), 4415 + k})
			} else {
				r.attrs = append(r.attrs, kv{fmt.Sprintf("variable%02d", k), "productpage-v1-6c886ff494-hm7zk"})
			}
		}
		recs[i] = r
	}
	recordEncoding = enc
	defer func() { recordEncoding = instancerecord.EncodingAttributes }()
	ld := buildLogs(stdioScope("handler.stdio.istio-system", recs...))
	e := newStdioExporter(createDefaultConfig().(*Config), zap.NewNop())
	e.stdout = io.Discard
	e.source = fakeSource{"handler.stdio.istio-system": istioconfig.DefaultStdioParams()}
	ctx := context.Background()
	if err := e.pushLogs(ctx, ld); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.pushLogs(ctx, ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
