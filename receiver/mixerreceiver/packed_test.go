package mixerreceiver

import (
	"context"
	"sync"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

// With record_encoding packed, a proxy batch arrives as packed bag records
// that carry what the attribute form carries. The first two of three RPCs
// on one connection are of one size, so that the second is copied over the
// first in the same buffer (see requestBuffers), and the third is smaller:
// the records of the first call are still what was sent once the later
// calls have overwritten its bytes. With attribute records, which point
// into the request, no buffer is reused.
func TestReportPacked(t *testing.T) {
	for _, enc := range []string{EncodingPacked, EncodingAttributes} {
		t.Run(enc, func(t *testing.T) {
			sink := new(consumertest.LogsSink)
			r, conn := started(t, sink, func(c *Config) { c.RecordEncoding = enc })
			bags := proxyBatch(t)
			client := mixerpb.NewMixerClient(conn)
			for _, part := range [][]mixerreport.Bag{bags[:40], bags[40:80], bags[80:]} {
				req, err := mixerreport.NewDefaultEncoder().Encode(part, mixerreport.ProxyLayout(221))
				require.NoError(t, err)
				_, err = client.Report(context.Background(), req)
				require.NoError(t, err)
			}
			records := allRecords(sink)
			require.Len(t, records, len(bags))
			for i, lr := range records {
				require.True(t, bagrecord.IsBag(lr))
				if enc == EncodingAttributes {
					require.False(t, bagrecord.IsPacked(lr), "record %d", i)
					assert.Equal(t, bags[i].RecordRaw(), lr.Attributes().AsRaw(), "report %d", i)
					continue
				}
				require.True(t, bagrecord.IsPacked(lr), "record %d", i)
				assert.Zero(t, lr.Attributes().Len())
				require.NoError(t, bagrecord.Unpack(lr))
				assert.Equal(t, bags[i].RecordRaw(), lr.Attributes().AsRaw(), "report %d", i)
				rt, ok := lr.Attributes().Get("request.time")
				require.True(t, ok)
				assert.Equal(t, rt.Int(), int64(lr.Timestamp()), "Timestamp = request.time")
			}
			// The packed receiver kept its buffers for the next calls.
			reused := 0
			if r.bufs != nil {
				reused = len(r.bufs.free)
			}
			if enc == EncodingPacked {
				assert.Equal(t, 1, reused, "buffers kept after three calls in a row")
			} else {
				assert.Zero(t, reused)
			}
		})
	}
}

// Calls on several connections at once share the packed receiver's
// buffers: every record still carries the bag that was sent.
func TestReportPackedConcurrent(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r, _ := started(t, sink, func(c *Config) { c.RecordEncoding = EncodingPacked })
	bags := proxyBatch(t)
	const clients, calls = 4, 10
	var wg sync.WaitGroup
	for c := range clients {
		conn, err := grpc.NewClient(r.addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		wg.Go(func() {
			client := mixerpb.NewMixerClient(conn)
			for i := range calls {
				// Each call of a client sends another slice of the batch.
				part := bags[(c*calls+i)%len(bags):]
				part = part[:min(len(part), 10+i)]
				req, err := mixerreport.NewDefaultEncoder().Encode(part, mixerreport.ProxyLayout(221))
				if !assert.NoError(t, err) {
					return
				}
				_, err = client.Report(context.Background(), req)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	want := map[string]map[string]any{}
	for _, b := range bags {
		raw := b.RecordRaw()
		want[raw["request.id"].(string)] = raw
	}
	records := allRecords(sink)
	require.NotEmpty(t, records)
	for i, lr := range records {
		require.NoError(t, bagrecord.Unpack(lr))
		got := lr.Attributes().AsRaw()
		id, _ := got["request.id"].(string)
		require.Contains(t, want, id, "record %d", i)
		assert.Equal(t, want[id], got, "record %d", i)
	}
}

func TestRequestBuffers(t *testing.T) {
	var none *requestBuffers
	none.put(make([]byte, 10)) // no pooling: dropped

	p := newRequestBuffers()
	b := p.get(100)
	require.Len(t, b, 100)
	assert.Equal(t, minRequestBuffer, cap(b), "rounded up")
	p.put(b)
	again := p.get(5000)
	assert.Len(t, again, 5000)
	assert.Same(t, &b[:1][0], &again[:1][0], "the buffer put back is reused")

	// A buffer too small for the request is dropped for a new one.
	p.put(again)
	big := p.get(minRequestBuffer + 1)
	assert.Equal(t, 2*minRequestBuffer, cap(big))
	assert.Empty(t, p.free)

	// Bounded: in count and in size.
	for range pooledRequests + 3 {
		p.put(make([]byte, 1))
	}
	assert.Len(t, p.free, pooledRequests)
	p = newRequestBuffers()
	p.put(make([]byte, 0, maxPooledRequest+1))
	assert.Empty(t, p.free)
}

// ALS entries too: a packed receiver's records unpack to what an attribute
// receiver writes for the same stream. The first message carries the
// identifier (protobuf-go reads it, copying); the second and third are of
// one shape, so that the third is read into the second's memory.
func TestALSPacked(t *testing.T) {
	send := func(packed bool) []plog.LogRecord {
		sink := new(consumertest.LogsSink)
		_, conn := started(t, sink, func(c *Config) {
			if packed {
				c.RecordEncoding = EncodingPacked
			}
		})
		stream, err := alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(context.Background())
		require.NoError(t, err)
		id := &alsv3.StreamAccessLogsMessage_Identifier{Node: ratingsNode(t), LogName: "http_envoy_accesslog"}
		require.NoError(t, stream.Send(httpMsg(id, httpEntry(t, "1"))))
		require.NoError(t, stream.Send(httpMsg(nil, httpEntry(t, "2"), httpEntry(t, "3"))))
		require.NoError(t, stream.Send(httpMsg(nil, httpEntry(t, "4"), httpEntry(t, "5"))))
		_, err = stream.CloseAndRecv()
		require.NoError(t, err)
		return allRecords(sink)
	}
	want, got := send(false), send(true)
	require.Len(t, got, len(want))
	for i, lr := range got {
		require.True(t, bagrecord.IsPacked(lr), "record %d", i)
		require.NoError(t, bagrecord.Unpack(lr))
		assert.Equal(t, want[i].Attributes().AsRaw(), lr.Attributes().AsRaw(), "record %d", i)
		assert.Equal(t, want[i].Timestamp(), lr.Timestamp())
	}
}
