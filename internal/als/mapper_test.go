package als

import (
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
)

var (
	start    = time.Date(2024, 11, 5, 10, 0, 0, 123456789, time.UTC)
	observed = time.Date(2024, 11, 5, 10, 0, 1, 0, time.UTC)
)

// Test fixtures: Bookinfo on Istio 1.24, productpage calling reviews.

func mustStruct(t testing.TB, m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return s
}

func node(t testing.TB, id string, md map[string]any) *corev3.Node {
	return &corev3.Node{Id: id, Cluster: "x.default", Metadata: mustStruct(t, md)}
}

func productpageNode(t testing.TB) *corev3.Node {
	return node(t, "sidecar~10.44.0.11~productpage-v1-6c886ff494-hm7zk.default~default.svc.cluster.local", map[string]any{
		"NAME":            "productpage-v1-6c886ff494-hm7zk",
		"NAMESPACE":       "default",
		"WORKLOAD_NAME":   "productpage-v1",
		"OWNER":           "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
		"SERVICE_ACCOUNT": "bookinfo-productpage",
		"ISTIO_VERSION":   "1.24.0",
		"INSTANCE_IPS":    "10.44.0.11,fe80::1",
		"CLUSTER_ID":      "Kubernetes",
		"LABELS":          map[string]any{"app": "productpage", "version": "v1", "pod-template-hash": "6c886ff494"},
	})
}

func reviewsNode(t testing.TB) *corev3.Node {
	return node(t, "sidecar~10.44.0.14~reviews-v2-7bf8c9648f-xcvd4.default~default.svc.cluster.local", map[string]any{
		"NAME":          "reviews-v2-7bf8c9648f-xcvd4",
		"NAMESPACE":     "default",
		"WORKLOAD_NAME": "reviews-v2",
		"OWNER":         "kubernetes://apis/apps/v1/namespaces/default/deployments/reviews-v2",
		"ISTIO_VERSION": "1.24.0",
		"INSTANCE_IPS":  "10.44.0.14",
		"LABELS":        map[string]any{"app": "reviews", "version": "v2"},
	})
}

func peerAny(t testing.TB, m map[string]any) *anypb.Any {
	a, err := anypb.New(mustStruct(t, m))
	require.NoError(t, err)
	return a
}

func sock(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func outboundHTTP(t testing.TB) *alsdata.HTTPAccessLogEntry {
	return &alsdata.HTTPAccessLogEntry{
		CommonProperties: &alsdata.AccessLogCommon{
			DownstreamRemoteAddress: sock("10.44.0.11", 43210),
			DownstreamLocalAddress:  sock("10.96.0.20", 9080),
			UpstreamRemoteAddress:   sock("10.44.0.14", 9080),
			UpstreamLocalAddress:    sock("10.44.0.11", 51234),
			UpstreamCluster:         "outbound|9080|v2|reviews.default.svc.cluster.local",
			RouteName:               "default",
			StartTime:               timestamppb.New(start),
			Duration:                durationpb.New(12 * time.Millisecond),
			ResponseFlags:           &alsdata.ResponseFlags{},
			StreamId:                "s-1",
			FilterStateObjects: map[string]*anypb.Any{UpstreamPeerKey: peerAny(t, map[string]any{
				"type": "deployment", "workload": "reviews-v2", "name": "reviews-v2-7bf8c9648f-xcvd4",
				"namespace": "default", "cluster": "Kubernetes", "service": "reviews", "revision": "v2",
				"app": "reviews", "version": "v2",
			})},
		},
		ProtocolVersion: alsdata.HTTPAccessLogEntry_HTTP11,
		Request: &alsdata.HTTPRequestProperties{
			RequestMethod:       corev3.RequestMethod_GET,
			Scheme:              "http",
			Authority:           "reviews:9080",
			Path:                "/reviews/0?a=1&b=&a=2&c",
			UserAgent:           "python-requests/2.21.0",
			ForwardedFor:        "10.44.0.2",
			RequestId:           "6f1c3b2a-0000-4c7e-9d2b-0a1b2c3d4e5f",
			RequestHeadersBytes: 300,
			RequestBodyBytes:    12,
			RequestHeaders:      map[string]string{"x-b3-traceid": "0a1b2c3d4e5f6071"},
		},
		Response: &alsdata.HTTPResponseProperties{
			ResponseCode:         wrapperspb.UInt32(200),
			ResponseHeadersBytes: 120,
			ResponseBodyBytes:    295,
			ResponseHeaders:      map[string]string{"content-type": "application/json"},
		},
	}
}

func inboundGRPC(t testing.TB) *alsdata.HTTPAccessLogEntry {
	return &alsdata.HTTPAccessLogEntry{
		CommonProperties: &alsdata.AccessLogCommon{
			DownstreamRemoteAddress:    sock("10.44.0.11", 43210),
			DownstreamLocalAddress:     sock("10.44.0.14", 9080),
			UpstreamRemoteAddress:      sock("10.44.0.14", 9080),
			UpstreamCluster:            "inbound|9080||",
			StartTime:                  timestamppb.New(start),
			TimeToLastDownstreamTxByte: durationpb.New(7 * time.Millisecond),
			ResponseFlags:              &alsdata.ResponseFlags{UpstreamRequestTimeout: true, UpstreamRetryLimitExceeded: true},
			TlsProperties: &alsdata.TLSProperties{
				TlsSniHostname: "outbound_.9080_.v2_.reviews.default.svc.cluster.local",
				PeerCertificateProperties: &alsdata.TLSProperties_CertificateProperties{
					SubjectAltName: []*alsdata.TLSProperties_CertificateProperties_SubjectAltName{
						{San: &alsdata.TLSProperties_CertificateProperties_SubjectAltName_Dns{Dns: "x"}},
						{San: &alsdata.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"}},
					},
				},
				LocalCertificateProperties: &alsdata.TLSProperties_CertificateProperties{
					SubjectAltName: []*alsdata.TLSProperties_CertificateProperties_SubjectAltName{
						{San: &alsdata.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"}},
					},
				},
			},
			FilterStateObjects: map[string]*anypb.Any{DownstreamPeerKey: peerAny(t, map[string]any{
				"type": "deployment", "workload": "productpage-v1", "name": "productpage-v1-6c886ff494-hm7zk",
				"namespace": "default", "app": "productpage", "version": "v1",
				"labels": map[string]any{"team": "a", "app": "from-labels"},
			})},
		},
		Request: &alsdata.HTTPRequestProperties{
			RequestMethod:  corev3.RequestMethod_POST,
			Scheme:         "http",
			Authority:      "reviews:9080",
			Path:           "/reviews.Reviews/Get",
			OriginalPath:   "/api/reviews",
			RequestHeaders: map[string]string{"content-type": "application/grpc", "x-request-id": "from-header"},
			RequestId:      "other",
		},
		Response: &alsdata.HTTPResponseProperties{
			ResponseCode:     wrapperspb.UInt32(200),
			ResponseTrailers: map[string]string{"grpc-status": "14", "grpc-message": "unavailable"},
		},
	}
}

func mapOne(t *testing.T, n *corev3.Node, http *alsdata.HTTPAccessLogEntry, tcp *alsdata.TCPAccessLogEntry) plog.LogRecord {
	t.Helper()
	m := NewMapper()
	m.SetIdentifier(&alsv3.StreamAccessLogsMessage_Identifier{Node: n, LogName: "x"})
	out := plog.NewLogRecordSlice()
	if http != nil {
		m.AppendHTTP(http, out, observed)
	} else {
		m.AppendTCP(tcp, out, observed)
	}
	require.Equal(t, 1, out.Len())
	lr := out.At(0)
	assert.True(t, bagrecord.IsBag(lr))
	assert.Equal(t, pcommon.NewTimestampFromTime(observed), lr.ObservedTimestamp())

	// The packed form carries the same bag.
	pm := NewPackingMapper(true)
	pm.SetIdentifier(&alsv3.StreamAccessLogsMessage_Identifier{Node: n, LogName: "x"})
	pout := plog.NewLogRecordSlice()
	if http != nil {
		pm.AppendHTTP(http, pout, observed)
	} else {
		pm.AppendTCP(tcp, pout, observed)
	}
	require.NoError(t, samePacked(out, pout))
	return lr
}

// samePacked checks that the packed records of packed carry the bags of the
// attribute-form records of want.
func samePacked(want, packed plog.LogRecordSlice) error {
	if want.Len() != packed.Len() {
		return fmt.Errorf("%d packed records, %d in the attribute form", packed.Len(), want.Len())
	}
	for i := range want.Len() {
		w, p := want.At(i), plog.NewLogRecord()
		packed.At(i).CopyTo(p)
		if !bagrecord.IsPacked(p) {
			return fmt.Errorf("record %d is not packed", i)
		}
		if err := bagrecord.Unpack(p); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if p.EventName() != w.EventName() || p.Timestamp() != w.Timestamp() || p.ObservedTimestamp() != w.ObservedTimestamp() {
			return fmt.Errorf("record %d: packed %s %v %v, attribute form %s %v %v", i,
				p.EventName(), p.Timestamp(), p.ObservedTimestamp(), w.EventName(), w.Timestamp(), w.ObservedTimestamp())
		}
		if !reflect.DeepEqual(p.Attributes().AsRaw(), w.Attributes().AsRaw()) {
			return fmt.Errorf("record %d: packed %v, attribute form %v", i, p.Attributes().AsRaw(), w.Attributes().AsRaw())
		}
	}
	return nil
}

func TestOutboundHTTP(t *testing.T) {
	lr := mapOne(t, productpageNode(t), outboundHTTP(t), nil)
	assert.Equal(t, pcommon.NewTimestampFromTime(start), lr.Timestamp())
	assert.Equal(t, map[string]any{
		"context.reporter.kind":    "outbound",
		"context.reporter.uid":     "kubernetes://productpage-v1-6c886ff494-hm7zk.default",
		"context.proxy_version":    "1.24.0",
		"context.proxy_error_code": "-",
		"context.protocol":         "http",
		"context.time":             start.UnixNano(),
		"connection.id":            "s-1",

		"source.ip":                 []byte{10, 44, 0, 11},
		"source.name":               "productpage-v1-6c886ff494-hm7zk",
		"source.namespace":          "default",
		"source.uid":                "kubernetes://productpage-v1-6c886ff494-hm7zk.default",
		"source.workload.name":      "productpage-v1",
		"source.workload.namespace": "default",
		"source.workload.uid":       "istio://default/workloads/productpage-v1",
		"source.owner":              "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
		"source.serviceAccount":     "bookinfo-productpage",
		"source.labels":             map[string]any{"app": "productpage", "version": "v1", "pod-template-hash": "6c886ff494"},

		"destination.ip":                 []byte{10, 44, 0, 14},
		"destination.port":               int64(9080),
		"destination.name":               "reviews-v2-7bf8c9648f-xcvd4",
		"destination.namespace":          "default",
		"destination.uid":                "kubernetes://reviews-v2-7bf8c9648f-xcvd4.default",
		"destination.workload.name":      "reviews-v2",
		"destination.workload.namespace": "default",
		"destination.workload.uid":       "istio://default/workloads/reviews-v2",
		"destination.owner":              "kubernetes://apis/apps/v1/namespaces/default/deployments/reviews-v2",
		"destination.labels": map[string]any{
			"app": "reviews", "version": "v2",
			"service.istio.io/canonical-name": "reviews", "service.istio.io/canonical-revision": "v2",
		},
		"destination.service.host":      "reviews.default.svc.cluster.local",
		"destination.service.name":      "reviews",
		"destination.service.namespace": "default",
		"destination.service.uid":       "istio://default/services/reviews",

		"request.time":         start.UnixNano(),
		"request.method":       "GET",
		"request.scheme":       "http",
		"request.host":         "reviews:9080",
		"request.path":         "/reviews/0?a=1&b=&a=2&c",
		"request.url_path":     "/reviews/0",
		"request.query_params": map[string]any{"a": "1", "b": "", "c": ""},
		"request.useragent":    "python-requests/2.21.0",
		"request.id":           "6f1c3b2a-0000-4c7e-9d2b-0a1b2c3d4e5f",
		"request.headers": map[string]any{
			"x-b3-traceid": "0a1b2c3d4e5f6071", "x-forwarded-for": "10.44.0.2",
			"x-request-id": "6f1c3b2a-0000-4c7e-9d2b-0a1b2c3d4e5f",
		},
		"request.size":        int64(12),
		"request.total_size":  int64(312),
		"response.time":       start.Add(12 * time.Millisecond).UnixNano(),
		"response.duration":   int64(12 * time.Millisecond),
		"response.code":       int64(200),
		"response.size":       int64(295),
		"response.total_size": int64(415),
		"response.headers":    map[string]any{"content-type": "application/json"},
	}, lr.Attributes().AsRaw())
}

func TestInboundGRPC(t *testing.T) {
	lr := mapOne(t, reviewsNode(t), inboundGRPC(t), nil)
	assert.Equal(t, map[string]any{
		"context.reporter.kind":            "inbound",
		"context.reporter.uid":             "kubernetes://reviews-v2-7bf8c9648f-xcvd4.default",
		"context.proxy_version":            "1.24.0",
		"context.proxy_error_code":         "UT,URX",
		"context.protocol":                 "grpc",
		"context.time":                     start.UnixNano(),
		"connection.requested_server_name": "outbound_.9080_.v2_.reviews.default.svc.cluster.local",
		"connection.mtls":                  true,

		"source.ip":                 []byte{10, 44, 0, 11},
		"source.name":               "productpage-v1-6c886ff494-hm7zk",
		"source.namespace":          "default",
		"source.uid":                "kubernetes://productpage-v1-6c886ff494-hm7zk.default",
		"source.workload.name":      "productpage-v1",
		"source.workload.namespace": "default",
		"source.workload.uid":       "istio://default/workloads/productpage-v1",
		"source.owner":              "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
		"source.labels":             map[string]any{"app": "from-labels", "version": "v1", "team": "a"},
		"source.principal":          "cluster.local/ns/default/sa/bookinfo-productpage",

		"destination.ip":                 []byte{10, 44, 0, 14},
		"destination.port":               int64(9080),
		"destination.name":               "reviews-v2-7bf8c9648f-xcvd4",
		"destination.namespace":          "default",
		"destination.uid":                "kubernetes://reviews-v2-7bf8c9648f-xcvd4.default",
		"destination.workload.name":      "reviews-v2",
		"destination.workload.namespace": "default",
		"destination.workload.uid":       "istio://default/workloads/reviews-v2",
		"destination.owner":              "kubernetes://apis/apps/v1/namespaces/default/deployments/reviews-v2",
		"destination.labels":             map[string]any{"app": "reviews", "version": "v2"},
		"destination.principal":          "cluster.local/ns/default/sa/bookinfo-reviews",
		"destination.service.host":       "reviews.default.svc.cluster.local",
		"destination.service.name":       "reviews",
		"destination.service.namespace":  "default",
		"destination.service.uid":        "istio://default/services/reviews",

		"request.time":          start.UnixNano(),
		"request.method":        "POST",
		"request.scheme":        "http",
		"request.host":          "reviews:9080",
		"request.path":          "/api/reviews",
		"request.url_path":      "/api/reviews",
		"request.id":            "other",
		"request.headers":       map[string]any{"content-type": "application/grpc", "x-request-id": "from-header"},
		"request.size":          int64(0),
		"request.total_size":    int64(0),
		"response.time":         start.Add(7 * time.Millisecond).UnixNano(),
		"response.duration":     int64(7 * time.Millisecond),
		"response.code":         int64(200),
		"response.size":         int64(0),
		"response.total_size":   int64(0),
		"response.headers":      map[string]any{},
		"response.grpc_status":  "14",
		"response.grpc_message": "unavailable",
	}, lr.Attributes().AsRaw())
}

// Server side without peer metadata: principal, namespace from the SPIFFE
// id, io.istio.peer_principal preferred, the service from the authority.
func TestInboundWithoutPeer(t *testing.T) {
	e := inboundGRPC(t)
	c := e.CommonProperties
	c.TlsProperties.TlsSniHostname = ""
	c.TlsProperties.LocalCertificateProperties = nil
	principal, err := anypb.New(wrapperspb.String("spiffe://td/ns/shop/sa/cart"))
	require.NoError(t, err)
	c.FilterStateObjects = map[string]*anypb.Any{PeerPrincipalKey: principal}
	e.Request.Authority = "ratings.prod.svc.cluster.local:9080"
	got := mapOne(t, reviewsNode(t), e, nil).Attributes().AsRaw()
	assert.Equal(t, "td/ns/shop/sa/cart", got["source.principal"], "Mixer's principals have no scheme")
	assert.Equal(t, "shop", got["source.namespace"])
	assert.Equal(t, false, got["connection.mtls"])
	assert.NotContains(t, got, "destination.principal")
	assert.NotContains(t, got, "source.workload.name")
	assert.Equal(t, "ratings.prod.svc.cluster.local", got["destination.service.host"])
	assert.Equal(t, "ratings", got["destination.service.name"])
	assert.Equal(t, "prod", got["destination.service.namespace"])
}

func TestDirection(t *testing.T) {
	sidecar := newReporter(productpageNode(t))
	router := newReporter(node(t, "router~10.44.0.2~istio-ingressgateway-x.istio-system~istio-system.svc.cluster.local", nil))
	bare := newReporter(&corev3.Node{})
	tests := []struct {
		name    string
		rep     *reporter
		cluster string
		route   string
		local   string
		want    string
	}{
		{"outbound cluster", &sidecar, "outbound|9080||reviews.default.svc.cluster.local", "", "", "outbound"},
		{"outbound SNI form", &sidecar, "outbound_.9080_._.reviews.default.svc.cluster.local", "", "", "outbound"},
		{"passthrough", &sidecar, "PassthroughCluster", "", "", "outbound"},
		{"blackhole", &sidecar, "BlackHoleCluster", "", "", "outbound"},
		{"allow_any route, no cluster", &sidecar, "", "allow_any", "", "outbound"},
		{"block_all route", &sidecar, "", "block_all", "", "outbound"},
		{"inbound cluster", &sidecar, "inbound|9080||", "", "", "inbound"},
		{"old inbound cluster", &sidecar, "inbound|8000|http|httpbin.default.svc.cluster.local", "", "", "inbound"},
		{"inbound passthrough", &sidecar, "InboundPassthroughClusterIpv4", "", "", "inbound"},
		{"gateway", &router, "", "", "10.44.0.2", "outbound"},
		{"own IP is inbound", &sidecar, "", "", "10.44.0.11", "inbound"},
		{"own IPv6 is inbound", &sidecar, "", "", "fe80::1", "inbound"},
		{"other IP is outbound", &sidecar, "", "", "10.96.0.20", "outbound"},
		{"unknown", &bare, "", "", "10.96.0.20", ""},
		{"no address", &sidecar, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var local ipOrNone
			if tt.local != "" {
				local = addr(sock(tt.local, 1))
			}
			assert.Equal(t, tt.want, tt.rep.direction(tt.cluster, tt.route, local))
		})
	}
}

func TestReporterFromNodeID(t *testing.T) {
	r := newReporter(&corev3.Node{Id: "sidecar~10.1.2.3~ratings-v1-abc.shop~shop.svc.cluster.local"})
	assert.Equal(t, "ratings-v1-abc", r.name)
	assert.Equal(t, "shop", r.namespace)
	assert.Equal(t, "sidecar", r.nodeType)
	assert.Equal(t, "kubernetes://ratings-v1-abc.shop", r.uid)
	assert.True(t, r.isInstanceIP(addr(sock("10.1.2.3", 1)).addr))

	// A pod name may have dots, a namespace not.
	r = newReporter(&corev3.Node{Id: "sidecar~10.1.2.4~web.v2-0.shop~shop.svc.cluster.local"})
	assert.Equal(t, "web.v2-0", r.name)
	assert.Equal(t, "shop", r.namespace)
}

func TestResponseFlags(t *testing.T) {
	assert.Equal(t, "-", responseFlags(nil))
	assert.Equal(t, "-", responseFlags(&alsdata.ResponseFlags{}))
	assert.Equal(t, "NR", responseFlags(&alsdata.ResponseFlags{NoRouteFound: true}))
	assert.Equal(t, "UH,UF,UAEX,DR", responseFlags(&alsdata.ResponseFlags{
		DownstreamRemoteReset: true, UpstreamConnectionFailure: true, NoHealthyUpstream: true,
		UnauthorizedDetails: &alsdata.ResponseFlags_Unauthorized{},
	}))
}

// The identifier comes only with the first message of a stream; later
// messages map with it.
func TestStreamIdentifierKept(t *testing.T) {
	m := NewMapper()
	out := plog.NewLogRecordSlice()
	assert.False(t, m.HasIdentifier())
	n := m.Map(&alsv3.StreamAccessLogsMessage{
		Identifier: &alsv3.StreamAccessLogsMessage_Identifier{Node: productpageNode(t), LogName: "http_envoy_accesslog"},
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{
			LogEntry: []*alsdata.HTTPAccessLogEntry{outboundHTTP(t)},
		}},
	}, out, observed)
	assert.Equal(t, 1, n)
	assert.True(t, m.HasIdentifier())
	assert.Equal(t, "http_envoy_accesslog", m.LogName())
	n = m.Map(&alsv3.StreamAccessLogsMessage{
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{
			LogEntry: []*alsdata.HTTPAccessLogEntry{outboundHTTP(t), outboundHTTP(t)},
		}},
	}, out, observed)
	assert.Equal(t, 2, n)
	require.Equal(t, 3, out.Len())
	for i := range 3 {
		v, ok := out.At(i).Attributes().Get("source.workload.name")
		require.True(t, ok, "record %d", i)
		assert.Equal(t, "productpage-v1", v.Str())
	}
	assert.Equal(t, out.At(0).Attributes().AsRaw(), out.At(2).Attributes().AsRaw())
}

// Entries logged before their request ended would count it twice.
func TestIntermediateHTTPEntriesSkipped(t *testing.T) {
	m := NewMapper()
	out := plog.NewLogRecordSlice()
	var entries []*alsdata.HTTPAccessLogEntry
	for _, typ := range []alsdata.AccessLogType{
		alsdata.AccessLogType_DownstreamStart, alsdata.AccessLogType_DownstreamPeriodic,
		alsdata.AccessLogType_DownstreamEnd, alsdata.AccessLogType_NotSet, alsdata.AccessLogType_UpstreamPeriodic,
	} {
		e := outboundHTTP(t)
		e.CommonProperties.AccessLogType = typ
		entries = append(entries, e)
	}
	legacy := outboundHTTP(t)
	//lint:ignore SA1019 what older Envoys send
	legacy.CommonProperties.IntermediateLogEntry = true
	entries = append(entries, legacy)
	n := m.Map(&alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries},
	}}, out, observed)
	assert.Equal(t, 2, n)
	assert.Equal(t, 2, out.Len())
}

func TestTCPConnection(t *testing.T) {
	m := NewMapper()
	m.SetIdentifier(&alsv3.StreamAccessLogsMessage_Identifier{Node: productpageNode(t)})
	entry := func(typ alsdata.AccessLogType, id string, recv, sent uint64, d time.Duration) *alsdata.TCPAccessLogEntry {
		return &alsdata.TCPAccessLogEntry{
			CommonProperties: &alsdata.AccessLogCommon{
				DownstreamRemoteAddress: sock("10.44.0.11", 40000),
				DownstreamLocalAddress:  sock("10.96.0.30", 27017),
				UpstreamRemoteAddress:   sock("10.44.0.18", 27017),
				UpstreamCluster:         "outbound|27017||mongodb.default.svc.cluster.local",
				StartTime:               timestamppb.New(start),
				Duration:                durationpb.New(d),
				StreamId:                id,
				AccessLogType:           typ,
			},
			ConnectionProperties: &alsdata.ConnectionProperties{ReceivedBytes: recv, SentBytes: sent},
		}
	}
	out := plog.NewLogRecordSlice()
	m.AppendTCP(entry(alsdata.AccessLogType_TcpUpstreamConnected, "c1", 0, 0, 0), out, observed)
	m.AppendTCP(entry(alsdata.AccessLogType_TcpPeriodic, "c1", 100, 1000, 10*time.Second), out, observed)
	m.AppendTCP(entry(alsdata.AccessLogType_TcpPeriodic, "c2", 7, 8, time.Second), out, observed)
	m.AppendTCP(entry(alsdata.AccessLogType_TcpConnectionEnd, "c1", 150, 1800, 15*time.Second), out, observed)
	m.AppendTCP(entry(alsdata.AccessLogType_NotSet, "c1", 5, 6, time.Second), out, observed) // id reused after close
	require.Equal(t, 5, out.Len())

	type row struct {
		event                  string
		recv, sent, rTot, sTot int64
		dur                    any
	}
	var got []row
	for _, r := range recordsRaw(out) {
		got = append(got, row{r["connection.event"].(string), r["connection.received.bytes"].(int64), r["connection.sent.bytes"].(int64),
			r["connection.received.bytes_total"].(int64), r["connection.sent.bytes_total"].(int64), r["connection.duration"]})
		assert.Equal(t, "tcp", r["context.protocol"])
		assert.Equal(t, start.UnixNano(), r["context.time"])
		assert.NotContains(t, r, "request.time")
		assert.Equal(t, "mongodb", r["destination.service.name"])
		assert.Equal(t, int64(27017), r["destination.port"])
		assert.Equal(t, "outbound", r["context.reporter.kind"])
	}
	assert.Equal(t, []row{
		{"open", 0, 0, 0, 0, nil},
		{"continue", 100, 1000, 100, 1000, nil},
		{"continue", 7, 8, 7, 8, nil},
		{"close", 50, 800, 150, 1800, int64(15 * time.Second)},
		{"close", 5, 6, 5, 6, int64(time.Second)},
	}, got)
	assert.Len(t, m.tcpTotal, 1, "c2 is still open")
}

func TestTCPStateIsBounded(t *testing.T) {
	m := NewMapper()
	out := plog.NewLogRecordSlice()
	for i := range maxTrackedConnections + 10 {
		m.AppendTCP(&alsdata.TCPAccessLogEntry{CommonProperties: &alsdata.AccessLogCommon{
			StreamId: string(rune(i)) + "x", AccessLogType: alsdata.AccessLogType_TcpPeriodic,
		}}, out, observed)
	}
	assert.Len(t, m.tcpTotal, maxTrackedConnections)
	for i := range maxCachedPeers + 10 {
		m.peer(peerAny(t, map[string]any{"workload": string(rune(i))}))
	}
	assert.LessOrEqual(t, len(m.peers), maxCachedPeers)
}

// An entry with nothing in it still yields a bag, without panicking.
func TestEmptyEntries(t *testing.T) {
	m := NewMapper()
	out := plog.NewLogRecordSlice()
	m.AppendHTTP(&alsdata.HTTPAccessLogEntry{}, out, observed)
	m.AppendTCP(&alsdata.TCPAccessLogEntry{}, out, observed)
	assert.Equal(t, 0, m.Map(&alsv3.StreamAccessLogsMessage{}, out, observed))
	require.Equal(t, 2, out.Len())
	assert.Equal(t, pcommon.Timestamp(0), out.At(0).Timestamp())
	assert.Equal(t, map[string]any{
		"context.proxy_error_code": "-", "context.protocol": "http",
		"request.headers": map[string]any{}, "request.size": int64(0), "request.total_size": int64(0),
		"response.size": int64(0), "response.total_size": int64(0), "response.headers": map[string]any{},
	}, out.At(0).Attributes().AsRaw())
	assert.Equal(t, map[string]any{
		"context.proxy_error_code": "-", "context.protocol": "tcp", "connection.event": "close",
		"connection.received.bytes": int64(0), "connection.sent.bytes": int64(0),
		"connection.received.bytes_total": int64(0), "connection.sent.bytes_total": int64(0),
	}, out.At(1).Attributes().AsRaw())
}

func recordsRaw(lrs plog.LogRecordSlice) []map[string]any {
	out := make([]map[string]any, lrs.Len())
	for i := range out {
		out[i] = lrs.At(i).Attributes().AsRaw()
	}
	return out
}

// The stream's caches keep copies of the keys they take from entries: an
// entry's strings may point into a whole received message, which a cache
// entry would otherwise keep alive.
func TestCachesCopyTheirKeys(t *testing.T) {
	m := NewMapper()
	m.SetIdentifier(&alsv3.StreamAccessLogsMessage_Identifier{Node: productpageNode(t)})
	msgBytes := []byte("...c9|reviews.default.svc.cluster.local...")
	id := unsafe.String(&msgBytes[3], 2)
	host := unsafe.String(&msgBytes[6], len("reviews.default.svc.cluster.local"))
	e := &alsdata.TCPAccessLogEntry{
		CommonProperties: &alsdata.AccessLogCommon{
			DownstreamRemoteAddress: sock("10.44.0.11", 40000),
			UpstreamRemoteAddress:   sock("10.44.0.18", 27017),
			UpstreamCluster:         "outbound|27017||mongodb.default.svc.cluster.local",
			StartTime:               timestamppb.New(start),
			StreamId:                id,
			AccessLogType:           alsdata.AccessLogType_TcpPeriodic,
		},
		ConnectionProperties: &alsdata.ConnectionProperties{ReceivedBytes: 1, SentBytes: 2},
	}
	m.AppendTCP(e, plog.NewLogRecordSlice(), observed)
	m.service(host)
	inMessage := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		lo := uintptr(unsafe.Pointer(&msgBytes[0]))
		return p >= lo && p < lo+uintptr(len(msgBytes))
	}
	require.Len(t, m.tcpTotal, 1)
	for k := range m.tcpTotal {
		assert.False(t, inMessage(k), "tcpTotal keeps the entry's stream id")
	}
	require.Contains(t, m.services, host)
	for k, s := range m.services {
		assert.False(t, inMessage(k), "services keeps the entry's host")
		assert.False(t, inMessage(s.Host), "the cached service keeps the entry's host")
	}
}
