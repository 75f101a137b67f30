package als

import (
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// generatedWire is the loadgen's ALS traffic as wire bytes: HTTP and TCP
// messages of every reporter, with and without mTLS.
func generatedWire(t testing.TB) [][]byte {
	var out [][]byte
	for _, o := range []bookinfo.Options{{Seed: 5, Enriched: true, MTLS: true}, {Seed: 6}} {
		msgs, err := NewGenerator(GenerateOptions{}).Messages(bookinfoTraffic(o, 40, 3))
		require.NoError(t, err)
		for _, m := range msgs {
			raw, err := proto.Marshal(m.Message)
			require.NoError(t, err)
			out = append(out, raw)
		}
	}
	return out
}

// sameAsProtobuf decodes raw with the WireDecoder and with protobuf-go: when
// the decoder takes it, the messages must be equal.
func sameAsProtobuf(d *WireDecoder, raw []byte) (bool, error) {
	got, ok := d.Decode(raw)
	var want alsv3.StreamAccessLogsMessage
	perr := proto.Unmarshal(raw, &want)
	if !ok {
		return false, nil
	}
	if perr != nil {
		return true, fmt.Errorf("decoded what protobuf-go refuses (%v)", perr)
	}
	if !proto.Equal(got, &want) {
		return true, fmt.Errorf("decoded\n%v\nprotobuf-go\n%v", got, &want)
	}
	return true, nil
}

func TestWireDecoderMatchesProtobuf(t *testing.T) {
	d := NewWireDecoder()
	msgs := generatedWire(t)
	http, tcp := 0, 0
	for i, raw := range msgs {
		ok, err := sameAsProtobuf(d, raw)
		require.NoError(t, err, "message %d", i)
		require.True(t, ok, "message %d fell back", i)
		msg, _ := d.Decode(raw)
		http += len(msg.GetHttpLogs().GetLogEntry())
		tcp += len(msg.GetTcpLogs().GetLogEntry())
	}
	assert.Greater(t, http, 300)
	assert.Greater(t, tcp, 10)

	// Hand-made entries with the fields the generator leaves out.
	full := &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: []*alsdata.HTTPAccessLogEntry{outboundHTTP(t), inboundGRPC(t), {}}},
	}}
	e := full.GetHttpLogs().LogEntry[0]
	e.CommonProperties.ResponseFlags = &alsdata.ResponseFlags{NoRouteFound: true, DownstreamRemoteReset: true,
		UnauthorizedDetails: &alsdata.ResponseFlags_Unauthorized{Reason: alsdata.ResponseFlags_Unauthorized_EXTERNAL_SERVICE}}
	e.CommonProperties.CustomTags = map[string]string{"a": "b", "": ""}
	e.CommonProperties.SampleRate = 0.25
	e.CommonProperties.DownstreamLocalAddress = &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: "::1", PortSpecifier: &corev3.SocketAddress_NamedPort{NamedPort: "http"}, Ipv4Compat: true}}}
	e.Response.ResponseTrailers = map[string]string{"grpc-status": "0"}
	raw, err := proto.Marshal(full)
	require.NoError(t, err)
	ok, err := sameAsProtobuf(d, raw)
	require.NoError(t, err)
	require.True(t, ok)
}

// What the decoder does not cover falls back, whole.
func TestWireDecoderFallsBack(t *testing.T) {
	entries := func(e ...*alsdata.HTTPAccessLogEntry) *alsv3.StreamAccessLogsMessage_HttpLogs {
		return &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: e}}
	}
	withMetadata := outboundHTTP(t)
	withMetadata.CommonProperties.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"x": {}}}
	withPipe := outboundHTTP(t)
	withPipe.CommonProperties.UpstreamRemoteAddress = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/s"}}}
	for name, m := range map[string]*alsv3.StreamAccessLogsMessage{
		"identifier": {Identifier: &alsv3.StreamAccessLogsMessage_Identifier{LogName: "l"}, LogEntries: entries(outboundHTTP(t))},
		"metadata":   {LogEntries: entries(withMetadata)},
		"pipe":       {LogEntries: entries(withPipe)},
	} {
		raw, err := proto.Marshal(m)
		require.NoError(t, err)
		_, ok := NewWireDecoder().Decode(raw)
		assert.False(t, ok, name)
	}
	bad := map[string][]byte{
		"cut":                 {0x12, 0x05, 0x0a, 0x03},
		"not UTF-8":           {0x12, 0x09, 0x0a, 0x07, 0x1a, 0x05, 0x2a, 0x03, 0x0a, 0x01, 0xff},
		"unknown field":       {0x12, 0x04, 0x0a, 0x02, 0x78, 0x01},
		"group":               {0x13, 0x14},
		"message given twice": {0x12, 0x06, 0x0a, 0x04, 0x0a, 0x00, 0x0a, 0x00},
	}
	for name, raw := range bad {
		_, ok := NewWireDecoder().Decode(raw)
		assert.False(t, ok, name)
	}
}

// Mapping a decoded message gives the records mapping protobuf-go's gives,
// in both forms, message after message on one stream.
func TestWireDecoderMapping(t *testing.T) {
	d := NewWireDecoder()
	for _, packed := range []bool{false, true} {
		fast, slow := NewPackingMapper(packed), NewPackingMapper(packed)
		id := &alsv3.StreamAccessLogsMessage_Identifier{Node: productpageNode(t), LogName: "l"}
		fast.SetIdentifier(id)
		slow.SetIdentifier(id)
		var kept []plog.LogRecordSlice
		var want []plog.LogRecordSlice
		for _, raw := range generatedWire(t) {
			msg, ok := d.Decode(raw)
			require.True(t, ok)
			got := plog.NewLogRecordSlice()
			fast.Map(msg, got, time.Unix(1, 0))
			var pm alsv3.StreamAccessLogsMessage
			require.NoError(t, proto.Unmarshal(raw, &pm))
			w := plog.NewLogRecordSlice()
			slow.Map(&pm, w, time.Unix(1, 0))
			kept, want = append(kept, got), append(want, w)
		}
		// Compared after every message is decoded: records must not
		// change when the decoder reuses its messages.
		for i := range kept {
			require.Equal(t, want[i].Len(), kept[i].Len())
			for j := range kept[i].Len() {
				g, w := kept[i].At(j), want[i].At(j)
				if packed {
					require.NoError(t, bagrecord.Unpack(g))
					require.NoError(t, bagrecord.Unpack(w))
				}
				require.Equal(t, w.Attributes().AsRaw(), g.Attributes().AsRaw(), "message %d record %d", i, j)
			}
		}
	}
}

func TestWireDecoderAllocations(t *testing.T) {
	d := NewWireDecoder()
	msgs := generatedWire(t)
	for _, raw := range msgs { // warm up the pools
		_, ok := d.Decode(raw)
		require.True(t, ok)
	}
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		d.Decode(msgs[i%len(msgs)])
		i++
	})
	assert.Zero(t, allocs)
}

func FuzzWireDecoder(f *testing.F) {
	for _, raw := range generatedWire(f)[:20] {
		f.Add(raw)
	}
	d := NewWireDecoder()
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := sameAsProtobuf(d, raw); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkWireDecoder(b *testing.B) {
	msgs := generatedWire(b)
	entries := 0
	for _, raw := range msgs {
		var m alsv3.StreamAccessLogsMessage
		require.NoError(b, proto.Unmarshal(raw, &m))
		entries += len(m.GetHttpLogs().GetLogEntry()) + len(m.GetTcpLogs().GetLogEntry())
	}
	b.Run("WireDecoder", func(b *testing.B) {
		d := NewWireDecoder()
		b.ReportAllocs()
		for b.Loop() {
			for _, raw := range msgs {
				d.Decode(raw)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*entries), "ns/entry")
	})
	b.Run("protobuf-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, raw := range msgs {
				var m alsv3.StreamAccessLogsMessage
				_ = proto.Unmarshal(raw, &m)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*entries), "ns/entry")
	})
}
