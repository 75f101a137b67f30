package als

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"testing"
	"time"

	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"go.opentelemetry.io/collector/pdata/plog"
)

// One HTTP entry of a client-side sidecar (peer metadata cached after the
// first entry, as on a long-lived stream), into a fresh record.
func BenchmarkALSHTTPEntry(b *testing.B) {
	benchEntry(b, outboundHTTP(b), productpageNode)
}

func BenchmarkALSHTTPEntryInboundMTLS(b *testing.B) {
	benchEntry(b, inboundGRPC(b), reviewsNode)
}

// benchEntry maps batches of 100 copies of e, into bag records of the
// attribute form and of the packed form.
func benchEntry(b *testing.B, e *alsdata.HTTPAccessLogEntry, n func(testing.TB) *corev3.Node) {
	for _, packed := range []bool{false, true} {
		name := "attributes"
		if packed {
			name = "packed"
		}
		b.Run(name, func(b *testing.B) {
			m := NewPackingMapper(packed)
			m.SetIdentifier(&alsv3.StreamAccessLogsMessage_Identifier{Node: n(b)})
			now := time.Now()
			const batch = 100
			b.ReportAllocs()
			for b.Loop() {
				ld := plog.NewLogs()
				out := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
				out.EnsureCapacity(batch)
				m.w.Reset(batch)
				for range batch {
					m.AppendHTTP(e, out, now)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
		})
	}
}
