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
func proxyBatch(tb testing.TB) *mixerpb.ReportRequest { return proxyBatchFrom(tb, 0) }

// proxyBatchFrom is proxyBatch of the bags from first on. A sidecar's
// default_words are the words of one batch (its request ids, paths,
// sizes), so consecutive batches have different lists.
func proxyBatchFrom(tb testing.TB, first int) *mixerpb.ReportRequest {
	bags := make([]Bag, batchSize)
	for i := range bags {
		bags[i] = bookinfoBag(first + i)
	}
	req, err := NewDefaultEncoder().Encode(bags, ProxyLayout(221))
	require.NoError(tb, err)
	return req
}

// proxyBatches is two consecutive batches of a sidecar as wire bytes, for
// benchmarks that alternate them as a receiver sees them.
func proxyBatches(tb testing.TB) [2][]byte {
	var out [2][]byte
	for i := range out {
		raw, err := proto.Marshal(proxyBatchFrom(tb, i*batchSize))
		require.NoError(tb, err)
		out[i] = raw
	}
	require.NotEqual(tb, out[0], out[1])
	return out
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

// The receiver's path: the request's wire bytes into a fresh plog.Logs,
// two consecutive batches in turn. Sub-benchmark packed writes packed bag
// records instead of attributes.
func BenchmarkDecodeWireProxyBatch(b *testing.B) {
	raws := proxyBatches(b)
	for _, packed := range []bool{false, true} {
		name := "attributes"
		if packed {
			name = "packed"
		}
		b.Run(name, func(b *testing.B) {
			d := NewDefaultDecoder()
			d.SetPacked(packed)
			now := time.Now()
			b.SetBytes(int64(len(raws[0])))
			n := 0
			perReport(b, batchSize, func() {
				ld := plog.NewLogs()
				lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
				n++
				if res, err := d.DecodeWire(raws[n%2], lrs, now); err != nil || res.Reports != batchSize {
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
// own share of BenchmarkDecodeWireProxyBatch, over the same two batches.
func BenchmarkResolveProxyBatch(b *testing.B) {
	raws := proxyBatches(b)
	d := NewDefaultDecoder()
	for _, raw := range raws {
		require.NoError(b, validateReport(raw))
	}
	n := 0
	perReport(b, batchSize, func() {
		n++
		d.readRequest(raws[n%2])
		d.setWords(d.defaultWords)
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
