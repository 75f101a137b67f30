package mixerreceiver

import (
	"context"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

// With record_encoding packed, a proxy batch arrives as packed bag records
// that carry what the attribute form carries, over two RPCs on one
// connection (each request gets its own buffer).
func TestReportPacked(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink, func(c *Config) { c.RecordEncoding = EncodingPacked })
	bags := proxyBatch(t)
	client := mixerpb.NewMixerClient(conn)
	for _, part := range [][]mixerreport.Bag{bags[:60], bags[60:]} {
		req, err := mixerreport.NewDefaultEncoder().Encode(part, mixerreport.ProxyLayout(221))
		require.NoError(t, err)
		_, err = client.Report(context.Background(), req)
		require.NoError(t, err)
	}
	records := allRecords(sink)
	require.Len(t, records, len(bags))
	for i, lr := range records {
		require.True(t, bagrecord.IsBag(lr))
		require.True(t, bagrecord.IsPacked(lr), "record %d", i)
		assert.Zero(t, lr.Attributes().Len())
		require.NoError(t, bagrecord.Unpack(lr))
		assert.Equal(t, bags[i].RecordRaw(), lr.Attributes().AsRaw(), "report %d", i)
		rt, ok := lr.Attributes().Get("request.time")
		require.True(t, ok)
		assert.Equal(t, rt.Int(), int64(lr.Timestamp()), "Timestamp = request.time")
	}
}

// ALS entries too: a packed receiver's records unpack to what an attribute
// receiver writes for the same stream.
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
