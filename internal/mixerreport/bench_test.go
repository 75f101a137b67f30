package mixerreport

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

const batchSize = 100

// proxyBatch is a batch as an Istio 1.1 sidecar sends it: 100 Bookinfo
// reports of 36 attributes, INDEPENDENT_ENCODING, one default_words list.
func proxyBatch(tb testing.TB) *mixerpb.ReportRequest {
	bags := make([]Bag, batchSize)
	for i := range bags {
		bags[i] = bookinfoBag(i)
	}
	req, err := NewDefaultEncoder().Encode(bags, ProxyLayout(221))
	require.NoError(tb, err)
	return req
}

// perReport reports time and allocations per report (element) besides the
// per-request figures.
func perReport(b *testing.B, reports int, run func()) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		run()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(b.N * reports)
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/report")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/report")
}

// From mixerpb structs (marshalled first) into a fresh plog.Logs.
func BenchmarkDecodeProxyBatch(b *testing.B) {
	req := proxyBatch(b)
	d := NewDefaultDecoder()
	now := time.Now()
	perReport(b, batchSize, func() {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		if res, err := d.Decode(req, lrs, now); err != nil || res.Reports != batchSize {
			b.Fatal(err, res)
		}
	})
}

// The receiver's path: the request's wire bytes into a fresh plog.Logs.
// Sub-benchmark packed writes packed bag records instead of attributes.
func BenchmarkDecodeWireProxyBatch(b *testing.B) {
	raw, err := proto.Marshal(proxyBatch(b))
	require.NoError(b, err)
	for _, packed := range []bool{false, true} {
		name := "attributes"
		if packed {
			name = "packed"
		}
		b.Run(name, func(b *testing.B) {
			d := NewDefaultDecoder()
			d.SetPacked(packed)
			now := time.Now()
			b.SetBytes(int64(len(raw)))
			perReport(b, batchSize, func() {
				ld := plog.NewLogs()
				lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
				if res, err := d.DecodeWire(raw, lrs, now); err != nil || res.Reports != batchSize {
					b.Fatal(err, res)
				}
			})
		})
	}
}

// For comparison: protobuf-go's unmarshal into mixerpb structs alone, what
// the receiver would pay before decoding if it let gRPC unmarshal.
func BenchmarkProtoUnmarshalProxyBatch(b *testing.B) {
	raw, err := proto.Marshal(proxyBatch(b))
	require.NoError(b, err)
	b.SetBytes(int64(len(raw)))
	perReport(b, batchSize, func() {
		var req mixerpb.ReportRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			b.Fatal(err)
		}
	})
}

// Word resolution and checks alone, without writing pdata: the decoder's
// own share of BenchmarkDecodeWireProxyBatch.
func BenchmarkResolveProxyBatch(b *testing.B) {
	raw, err := proto.Marshal(proxyBatch(b))
	require.NoError(b, err)
	d := NewDefaultDecoder()
	require.NoError(b, validateReport(raw))
	d.readRequest(raw)
	perReport(b, batchSize, func() {
		d.useDefaultWords()
		for i, el := range d.elems {
			d.splitElement(el)
			if err := d.resolveFull(i, false); err != nil || len(d.entries) != 36 {
				b.Fatal(err, len(d.entries))
			}
		}
	})
}

// mixc: one DELTA request per report, words in the element.
func BenchmarkDecodeMixc(b *testing.B) {
	req, err := NewDefaultEncoder().Encode([]Bag{bookinfoBag(1)}, MixcLayout)
	require.NoError(b, err)
	d := NewDefaultDecoder()
	now := time.Now()
	perReport(b, 1, func() {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		if _, err := d.Decode(req, lrs, now); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkEncodeProxyBatch(b *testing.B) {
	bags := make([]Bag, batchSize)
	for i := range bags {
		bags[i] = bookinfoBag(i)
	}
	enc := NewDefaultEncoder()
	perReport(b, batchSize, func() {
		if _, err := enc.Encode(bags, ProxyLayout(221)); err != nil {
			b.Fatal(err)
		}
	})
}

// The structural check every request gets before it is decoded.
func BenchmarkValidateProxyBatch(b *testing.B) {
	raw, err := proto.Marshal(proxyBatch(b))
	require.NoError(b, err)
	perReport(b, batchSize, func() {
		if err := validateReport(raw); err != nil {
			b.Fatal(err)
		}
	})
}
