package mixerreceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

var alsStart = time.Date(2024, 11, 5, 10, 0, 0, 0, time.UTC)

func ratingsNode(t *testing.T) *corev3.Node {
	md, err := structpb.NewStruct(map[string]any{
		"NAME": "ratings-v1-5c8f7b9c6-q2w4e", "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1",
		"ISTIO_VERSION": "1.24.2", "INSTANCE_IPS": "10.44.0.17",
		"LABELS": map[string]any{"app": "ratings", "version": "v1"},
	})
	require.NoError(t, err)
	return &corev3.Node{Id: "sidecar~10.44.0.17~ratings-v1-5c8f7b9c6-q2w4e.default~default.svc.cluster.local", Metadata: md}
}

func addr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func httpEntry(t *testing.T, id string) *alsdata.HTTPAccessLogEntry {
	peer, err := structpb.NewStruct(map[string]any{
		"type": "deployment", "workload": "mongodb-v1", "name": "mongodb-v1-x", "namespace": "default", "app": "mongodb",
	})
	require.NoError(t, err)
	pa, err := anypb.New(peer)
	require.NoError(t, err)
	return &alsdata.HTTPAccessLogEntry{
		CommonProperties: &alsdata.AccessLogCommon{
			DownstreamRemoteAddress: addr("10.44.0.17", 40000),
			DownstreamLocalAddress:  addr("10.96.0.40", 8080),
			UpstreamRemoteAddress:   addr("10.44.0.18", 8080),
			UpstreamCluster:         "outbound|8080||mongodb.default.svc.cluster.local",
			StartTime:               timestamppb.New(alsStart),
			Duration:                durationpb.New(3 * time.Millisecond),
			ResponseFlags:           &alsdata.ResponseFlags{UpstreamConnectionFailure: true},
			FilterStateObjects:      map[string]*anypb.Any{"upstream_peer": pa},
		},
		Request: &alsdata.HTTPRequestProperties{
			RequestMethod: corev3.RequestMethod_GET, Path: "/ratings/" + id, Authority: "mongodb:8080", RequestId: id,
		},
		Response: &alsdata.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(503)},
	}
}

func tcpEntry(typ alsdata.AccessLogType, recv, sent uint64, d time.Duration) *alsdata.TCPAccessLogEntry {
	return &alsdata.TCPAccessLogEntry{
		CommonProperties: &alsdata.AccessLogCommon{
			DownstreamRemoteAddress: addr("10.44.0.17", 40001),
			UpstreamRemoteAddress:   addr("10.44.0.18", 27017),
			UpstreamCluster:         "outbound|27017||mongodb.default.svc.cluster.local",
			StartTime:               timestamppb.New(alsStart),
			Duration:                durationpb.New(d),
			StreamId:                "conn-1",
			AccessLogType:           typ,
		},
		ConnectionProperties: &alsdata.ConnectionProperties{ReceivedBytes: recv, SentBytes: sent},
	}
}

func httpMsg(id *alsv3.StreamAccessLogsMessage_Identifier, entries ...*alsdata.HTTPAccessLogEntry) *alsv3.StreamAccessLogsMessage {
	return &alsv3.StreamAccessLogsMessage{Identifier: id, LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries},
	}}
}

func tcpMsg(id *alsv3.StreamAccessLogsMessage_Identifier, entries ...*alsdata.TCPAccessLogEntry) *alsv3.StreamAccessLogsMessage {
	return &alsv3.StreamAccessLogsMessage{Identifier: id, LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{
		TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{LogEntry: entries},
	}}
}

// The identifier comes only with the first message; every record of the
// stream still carries the reporting workload. One plog.Logs per message.
func TestALSHTTPStream(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink)
	stream, err := alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(context.Background())
	require.NoError(t, err)
	id := &alsv3.StreamAccessLogsMessage_Identifier{Node: ratingsNode(t), LogName: "http_envoy_accesslog"}
	require.NoError(t, stream.Send(httpMsg(id, httpEntry(t, "1"))))
	require.NoError(t, stream.Send(httpMsg(nil, httpEntry(t, "2"), httpEntry(t, "3"))))
	require.NoError(t, stream.Send(httpMsg(nil)))
	_, err = stream.CloseAndRecv()
	require.NoError(t, err)

	require.Len(t, sink.AllLogs(), 2, "the empty message produces nothing")
	assert.Equal(t, 1, sink.AllLogs()[0].LogRecordCount())
	assert.Equal(t, 2, sink.AllLogs()[1].LogRecordCount())
	recs := allRecords(sink)
	require.Len(t, recs, 3)
	for i, lr := range recs {
		assert.True(t, bagrecord.IsBag(lr))
		assert.Equal(t, pcommon.NewTimestampFromTime(alsStart), lr.Timestamp())
		assert.NotZero(t, lr.ObservedTimestamp())
		a := lr.Attributes().AsRaw()
		want := map[string]any{
			"context.reporter.kind":          "outbound",
			"context.reporter.uid":           "kubernetes://ratings-v1-5c8f7b9c6-q2w4e.default",
			"context.proxy_version":          "1.24.2",
			"context.proxy_error_code":       "UF",
			"context.protocol":               "http",
			"context.time":                   alsStart.UnixNano(),
			"request.time":                   alsStart.UnixNano(),
			"response.time":                  alsStart.Add(3 * time.Millisecond).UnixNano(),
			"response.duration":              int64(3 * time.Millisecond),
			"response.code":                  int64(503),
			"response.size":                  int64(0),
			"response.total_size":            int64(0),
			"response.headers":               map[string]any{},
			"request.method":                 "GET",
			"request.host":                   "mongodb:8080",
			"request.path":                   "/ratings/" + []string{"1", "2", "3"}[i],
			"request.url_path":               "/ratings/" + []string{"1", "2", "3"}[i],
			"request.id":                     []string{"1", "2", "3"}[i],
			"request.headers":                map[string]any{"x-request-id": []string{"1", "2", "3"}[i]},
			"request.size":                   int64(0),
			"request.total_size":             int64(0),
			"source.ip":                      []byte{10, 44, 0, 17},
			"source.name":                    "ratings-v1-5c8f7b9c6-q2w4e",
			"source.namespace":               "default",
			"source.uid":                     "kubernetes://ratings-v1-5c8f7b9c6-q2w4e.default",
			"source.workload.name":           "ratings-v1",
			"source.workload.namespace":      "default",
			"source.workload.uid":            "istio://default/workloads/ratings-v1",
			"source.labels":                  map[string]any{"app": "ratings", "version": "v1"},
			"destination.ip":                 []byte{10, 44, 0, 18},
			"destination.port":               int64(8080),
			"destination.name":               "mongodb-v1-x",
			"destination.namespace":          "default",
			"destination.uid":                "kubernetes://mongodb-v1-x.default",
			"destination.workload.name":      "mongodb-v1",
			"destination.workload.namespace": "default",
			"destination.workload.uid":       "istio://default/workloads/mongodb-v1",
			"destination.owner":              "kubernetes://apis/apps/v1/namespaces/default/deployments/mongodb-v1",
			"destination.labels":             map[string]any{"app": "mongodb"},
			"destination.service.host":       "mongodb.default.svc.cluster.local",
			"destination.service.name":       "mongodb",
			"destination.service.namespace":  "default",
			"destination.service.uid":        "istio://default/services/mongodb",
		}
		assert.Equal(t, want, a, "record %d", i)
	}
}

// TCP: open, periodic and close entries of one connection arrive in
// separate messages of one stream.
func TestALSTCPConnection(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink)
	stream, err := alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(context.Background())
	require.NoError(t, err)
	id := &alsv3.StreamAccessLogsMessage_Identifier{Node: ratingsNode(t), LogName: "tcp_envoy_accesslog"}
	require.NoError(t, stream.Send(tcpMsg(id, tcpEntry(alsdata.AccessLogType_TcpUpstreamConnected, 0, 0, 0))))
	require.NoError(t, stream.Send(tcpMsg(nil, tcpEntry(alsdata.AccessLogType_TcpPeriodic, 300, 2000, 10*time.Second))))
	require.NoError(t, stream.Send(tcpMsg(nil, tcpEntry(alsdata.AccessLogType_TcpConnectionEnd, 350, 2600, 12*time.Second))))
	_, err = stream.CloseAndRecv()
	require.NoError(t, err)

	recs := allRecords(sink)
	require.Len(t, recs, 3)
	want := []struct {
		event            string
		recv, sent       int64
		recvTot, sentTot int64
	}{{"open", 0, 0, 0, 0}, {"continue", 300, 2000, 300, 2000}, {"close", 50, 600, 350, 2600}}
	for i, w := range want {
		a := recs[i].Attributes().AsRaw()
		assert.Equal(t, "tcp", a["context.protocol"])
		assert.Equal(t, "outbound", a["context.reporter.kind"])
		assert.Equal(t, "ratings-v1", a["source.workload.name"])
		assert.Equal(t, "mongodb", a["destination.service.name"])
		assert.Equal(t, int64(27017), a["destination.port"])
		assert.Equal(t, "conn-1", a["connection.id"])
		assert.Equal(t, alsStart.UnixNano(), a["context.time"])
		assert.Equal(t, w.event, a["connection.event"], "record %d", i)
		assert.Equal(t, w.recv, a["connection.received.bytes"], "record %d", i)
		assert.Equal(t, w.sent, a["connection.sent.bytes"], "record %d", i)
		assert.Equal(t, w.recvTot, a["connection.received.bytes_total"], "record %d", i)
		assert.Equal(t, w.sentTot, a["connection.sent.bytes_total"], "record %d", i)
	}
	assert.Equal(t, int64(12*time.Second), recs[2].Attributes().AsRaw()["connection.duration"])
	assert.NotContains(t, recs[1].Attributes().AsRaw(), "connection.duration")
}

// Streams are independent: the second stream's identifier does not leak
// into the first.
func TestALSStreamsKeepTheirOwnIdentifier(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink)
	client := alsv3.NewAccessLogServiceClient(conn)
	s1, err := client.StreamAccessLogs(context.Background())
	require.NoError(t, err)
	s2, err := client.StreamAccessLogs(context.Background())
	require.NoError(t, err)
	other := ratingsNode(t)
	other.Metadata.Fields["WORKLOAD_NAME"] = structpb.NewStringValue("other")
	require.NoError(t, s1.Send(httpMsg(&alsv3.StreamAccessLogsMessage_Identifier{Node: ratingsNode(t)}, httpEntry(t, "a"))))
	require.NoError(t, s2.Send(httpMsg(&alsv3.StreamAccessLogsMessage_Identifier{Node: other}, httpEntry(t, "b"))))
	require.NoError(t, s1.Send(httpMsg(nil, httpEntry(t, "c"))))
	_, err = s1.CloseAndRecv()
	require.NoError(t, err)
	_, err = s2.CloseAndRecv()
	require.NoError(t, err)
	got := map[string]any{}
	for _, lr := range allRecords(sink) {
		a := lr.Attributes().AsRaw()
		got[a["request.id"].(string)] = a["source.workload.name"]
	}
	assert.Equal(t, map[string]any{"a": "ratings-v1", "b": "other", "c": "ratings-v1"}, got)
}

// A refusal by the pipeline closes the stream with UNAVAILABLE.
func TestALSRefusedClosesStream(t *testing.T) {
	_, conn := started(t, consumertest.NewErr(errors.New("queue full")))
	stream, err := alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(httpMsg(&alsv3.StreamAccessLogsMessage_Identifier{Node: ratingsNode(t)}, httpEntry(t, "1"))))
	// The server ends the stream; further sends see io.EOF and the status
	// comes with CloseAndRecv.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := stream.Send(httpMsg(nil, httpEntry(t, "2"))); errors.Is(err, io.EOF) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = stream.CloseAndRecv()
	st := status.Convert(err)
	assert.Equal(t, codes.Unavailable, st.Code())
	assert.Equal(t, "Server is currently overloaded. Please try again.", st.Message())
}

// A message that is not a StreamAccessLogsMessage ends its stream with the
// error gRPC's codec gave; what came before it is kept.
func TestALSMalformedMessage(t *testing.T) {
	good, err := proto.Marshal(httpMsg(&alsv3.StreamAccessLogsMessage_Identifier{Node: ratingsNode(t), LogName: "l"}, httpEntry(t, "1")))
	require.NoError(t, err)
	later, err := proto.Marshal(httpMsg(nil, httpEntry(t, "2")))
	require.NoError(t, err)
	for name, bad := range map[string][]byte{
		"truncated":           later[:len(later)-3],
		"not UTF-8":           {0x12, 0x09, 0x0a, 0x07, 0x1a, 0x05, 0x2a, 0x03, 0x0a, 0x01, 0xff},
		"length past the end": {0x12, 0x7f, 0x01},
	} {
		t.Run(name, func(t *testing.T) {
			sink := new(consumertest.LogsSink)
			_, conn := started(t, sink)
			desc := &grpc.StreamDesc{StreamName: "StreamAccessLogs", ClientStreams: true}
			stream, err := conn.NewStream(context.Background(), desc, alsv3.AccessLogService_StreamAccessLogs_FullMethodName, grpc.ForceCodec(rawCodec{}))
			require.NoError(t, err)
			require.NoError(t, stream.SendMsg(good))
			require.NoError(t, stream.SendMsg(later))
			_ = stream.SendMsg(bad)
			_ = stream.CloseSend()
			var out []byte
			err = stream.RecvMsg(&out)
			require.Error(t, err)
			assert.Equal(t, codes.Internal, status.Code(err), err.Error())
			assert.True(t, strings.HasPrefix(status.Convert(err).Message(), "grpc: error unmarshalling request: "), err.Error())
			recs := allRecords(sink)
			require.Len(t, recs, 2)
			for i, lr := range recs {
				v, _ := lr.Attributes().Get("request.id")
				assert.Equal(t, []string{"1", "2"}[i], v.Str())
			}
		})
	}
}

// Open ALS streams hold the receiver's stream workers for as long as they
// last. With more of them open than there are workers, Reports and new
// streams are still served.
func TestALSStreamsDoNotStarveOtherCalls(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink)
	client := alsv3.NewAccessLogServiceClient(conn)
	var open []alsv3.AccessLogService_StreamAccessLogsClient
	for i := range runtime.GOMAXPROCS(0) + 2 {
		s, err := client.StreamAccessLogs(context.Background())
		require.NoError(t, err)
		// A first message, so that the stream's handler is running.
		id := &alsv3.StreamAccessLogsMessage_Identifier{Node: ratingsNode(t)}
		require.NoError(t, s.Send(httpMsg(id, httpEntry(t, fmt.Sprintf("open-%d", i)))))
		open = append(open, s)
	}
	require.Eventually(t, func() bool { return sink.LogRecordCount() == len(open) }, 10*time.Second, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := mixerreport.NewDefaultEncoder().Encode(proxyBatch(t)[:3], mixerreport.ProxyLayout(221))
	require.NoError(t, err)
	_, err = mixerpb.NewMixerClient(conn).Report(ctx, req)
	require.NoError(t, err)
	require.Equal(t, len(open)+3, sink.LogRecordCount())

	for i, s := range open {
		require.NoError(t, s.Send(httpMsg(nil, httpEntry(t, fmt.Sprintf("more-%d", i)))))
		_, err := s.CloseAndRecv()
		require.NoError(t, err)
	}
	assert.Equal(t, 2*len(open)+3, sink.LogRecordCount())
}

// ALS v2, as the Envoys of Istio 1.3 to 1.8 stream it, on its own method:
// the entries carry only v2's fields (the duration as
// time_to_last_downstream_tx_byte, a TCP connection logged once with no log
// type or stream id, no peer metadata). They become the same bag records as
// the same messages on the v3 method, with the duration, the byte counts
// and the workloads the node metadata names.
func TestALSv2Stream(t *testing.T) {
	v2Entries := func() (*alsdata.HTTPAccessLogEntry, *alsdata.TCPAccessLogEntry) {
		h := httpEntry(t, "1")
		h.CommonProperties.TimeToLastDownstreamTxByte, h.CommonProperties.Duration = h.CommonProperties.Duration, nil
		h.CommonProperties.FilterStateObjects = nil
		c := tcpEntry(alsdata.AccessLogType_NotSet, 300, 500, 0)
		c.CommonProperties.StreamId = ""
		return h, c
	}
	records := func(method string) []map[string]any {
		sink := new(consumertest.LogsSink)
		_, conn := started(t, sink)
		desc := &grpc.StreamDesc{StreamName: "StreamAccessLogs", ClientStreams: true}
		for _, log := range []string{"http_envoy_accesslog", "tcp_envoy_accesslog"} {
			stream, err := conn.NewStream(context.Background(), desc, method)
			require.NoError(t, err)
			id := &alsv3.StreamAccessLogsMessage_Identifier{Node: ratingsNode(t), LogName: log}
			h, c := v2Entries()
			msg := httpMsg(id, h)
			if strings.HasPrefix(log, "tcp") {
				msg = tcpMsg(id, c)
			}
			require.NoError(t, stream.SendMsg(msg))
			require.NoError(t, stream.CloseSend())
			require.NoError(t, stream.RecvMsg(&alsv3.StreamAccessLogsResponse{}), method)
		}
		var out []map[string]any
		for _, lr := range allRecords(sink) {
			assert.Equal(t, pcommon.NewTimestampFromTime(alsStart), lr.Timestamp())
			out = append(out, lr.Attributes().AsRaw())
		}
		return out
	}
	v2 := records("/envoy.service.accesslog.v2.AccessLogService/StreamAccessLogs")
	require.Len(t, v2, 2)
	assert.Equal(t, records(alsv3.AccessLogService_StreamAccessLogs_FullMethodName), v2)
	h, c := v2[0], v2[1]
	assert.Equal(t, int64(3*time.Millisecond), h["response.duration"])
	assert.Equal(t, "ratings-v1", h["source.workload.name"])
	assert.Equal(t, "mongodb.default.svc.cluster.local", h["destination.service.host"])
	assert.NotContains(t, h, "destination.workload.name", "no peer metadata")
	assert.Equal(t, "close", c["connection.event"])
	assert.Equal(t, int64(300), c["connection.received.bytes"])
	assert.Equal(t, int64(500), c["connection.sent.bytes"])
}
