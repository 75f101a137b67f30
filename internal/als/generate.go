package als

// The inverse of the mapper: attribute bags (the Bookinfo reports of
// internal/bookinfo) written as a modern Istio sidecar (Istio 1.24, Envoy
// ≥ 1.28) logs the same requests through the Access Log Service, so that
// the ALS path can be driven and checked with the traffic the Mixer path
// gets. The mapper reads back what is written here; what a bag holds that
// Envoy has no field for is not invented.

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/envoycluster"
)

// Log names Istio gives its ALS providers by default (envoyHttpAls,
// envoyTcpAls). Envoy's HTTP and TCP loggers are separate, so each has a
// stream of its own.
const (
	HTTPLogName = "http_envoy_accesslog"
	TCPLogName  = "tcp_envoy_accesslog"
)

const (
	defaultIstioVersion = "1.24.0" // the first release with Struct peer metadata
	defaultClusterID    = "Kubernetes"
	defaultBufferBytes  = 16384 // Envoy's buffer_size_bytes default

	// Bounds of the generator's caches, as for the mapper's.
	maxGeneratedNodes = 1024
	maxGeneratedParts = 1024 // peers, addresses, TLS properties

	tlsAES128GCMSHA256 = 0x1301 // the cipher suite TLS 1.3 negotiates between Envoys
)

// GenerateOptions describe the proxies a Generator speaks for.
type GenerateOptions struct {
	// IstioVersion is the proxies' ISTIO_VERSION; "" is 1.24.0.
	IstioVersion string
	// ClusterID is the proxies' CLUSTER_ID and the peers' cluster; ""
	// is "Kubernetes", Istio's default.
	ClusterID string
	// BufferBytes is Envoy's buffer_size_bytes: a stream's message is
	// complete once its entries reach this size. 0 is Envoy's default,
	// 16384.
	BufferBytes int
	// V2 writes the entries as the Envoys of Istio 1.3 and 1.4 sent them
	// on ALS v2 (enableEnvoyAccessLogService): none of the fields v3 added
	// (the duration is time_to_last_downstream_tx_byte; no log type, stream
	// id or wire byte counts), no peer metadata in the filter state (which
	// metadata exchange brought in 1.5), and a TCP connection once, when it
	// closes. v2's messages have v3's field numbers, so the same message
	// types carry them.
	V2 bool
}

// Stream names one ALS stream: one logger of one proxy.
type Stream struct {
	Reporter string // context.reporter.uid of the proxy
	LogName  string // HTTPLogName or TCPLogName
}

// Entry is one bag as its reporting proxy logs it: exactly one of HTTP and
// TCP is set.
type Entry struct {
	Stream Stream
	Node   *corev3.Node // the reporting proxy; shared, do not modify
	HTTP   *alsdata.HTTPAccessLogEntry
	TCP    *alsdata.TCPAccessLogEntry
}

// StreamMessage is one message of a stream, without the identifier: Envoy
// sends that in a stream's first message only (see Identifier).
type StreamMessage struct {
	Stream  Stream
	Node    *corev3.Node // shared, do not modify
	Message *alsv3.StreamAccessLogsMessage
	Entries int
	bytes   int
}

// Identifier returns the identifier of m's stream, for its first message.
func (m *StreamMessage) Identifier() *alsv3.StreamAccessLogsMessage_Identifier {
	return &alsv3.StreamAccessLogsMessage_Identifier{Node: m.Node, LogName: m.Stream.LogName}
}

// Generator writes bags as ALS entries. A workload's node and peer
// metadata come from the first bag that names it and are kept; the caches
// are bounded. Not safe for concurrent use.
type Generator struct {
	opts   GenerateOptions
	nodes  map[string]*corev3.Node // by context.reporter.uid
	peers  map[string]*anypb.Any   // by workload uid
	totals map[string]tcpTotals    // running byte totals for bags without them, by reporter and connection
	port   uint32                  // last ephemeral port handed out

	// Parts that repeat from entry to entry, shared by the entries (they
	// are never modified once made).
	addrs map[addrPort]*corev3.Address
	ips   map[netip.Addr]string
	tls   map[tlsKey]*alsdata.TLSProperties
}

type addrPort struct {
	ip   netip.Addr
	port uint32
}

type tlsKey struct{ sni, local, peer string }

// NewGenerator returns a Generator.
func NewGenerator(o GenerateOptions) *Generator {
	if o.IstioVersion == "" {
		o.IstioVersion = defaultIstioVersion
	}
	if o.ClusterID == "" {
		o.ClusterID = defaultClusterID
	}
	if o.BufferBytes <= 0 {
		o.BufferBytes = defaultBufferBytes
	}
	return &Generator{
		opts: o, nodes: make(map[string]*corev3.Node), peers: make(map[string]*anypb.Any),
		totals: make(map[string]tcpTotals), addrs: make(map[addrPort]*corev3.Address),
		ips: make(map[netip.Addr]string), tls: make(map[tlsKey]*alsdata.TLSProperties),
	}
}

// Messages writes bags as the messages their proxies' loggers send: one
// stream per proxy and logger, entries in bag order, a message complete
// once it reaches BufferBytes as Envoy batches them. Messages appear in the
// order of their first entry.
func (g *Generator) Messages(bags []bookinfo.Bag) ([]StreamMessage, error) {
	out := make([]StreamMessage, 0, 8)
	filling := make(map[Stream]int, 8) // index in out of each stream's open message
	for i, b := range bags {
		e, err := g.Entry(b)
		if err != nil {
			return nil, fmt.Errorf("bag %d: %w", i, err)
		}
		if g.opts.V2 && !e.toV2() {
			continue
		}
		j, ok := filling[e.Stream]
		if !ok {
			out = append(out, StreamMessage{Stream: e.Stream, Node: e.Node, Message: &alsv3.StreamAccessLogsMessage{}})
			j = len(out) - 1
			filling[e.Stream] = j
		}
		m := &out[j]
		m.add(e)
		if m.bytes >= g.opts.BufferBytes {
			delete(filling, e.Stream)
		}
	}
	return out, nil
}

// toV2 makes e what an Envoy of the v2 API logged (GenerateOptions.V2),
// or reports that it logged nothing: a TCP connection's open or periodic
// entry.
func (e *Entry) toV2() bool {
	var c *alsdata.AccessLogCommon
	if e.TCP != nil {
		c = e.TCP.CommonProperties
		if t := c.GetAccessLogType(); t != alsdata.AccessLogType_TcpConnectionEnd && t != alsdata.AccessLogType_NotSet {
			return false
		}
	} else {
		c = e.HTTP.CommonProperties
		c.TimeToLastDownstreamTxByte = c.Duration
	}
	c.Duration = nil
	c.AccessLogType = alsdata.AccessLogType_NotSet
	c.StreamId = ""
	c.DownstreamWireBytesReceived, c.DownstreamWireBytesSent = 0, 0
	c.FilterStateObjects = nil
	return true
}

func (m *StreamMessage) add(e Entry) {
	m.Entries++
	if e.HTTP != nil {
		l, ok := m.Message.LogEntries.(*alsv3.StreamAccessLogsMessage_HttpLogs)
		if !ok {
			l = &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{}}
			m.Message.LogEntries = l
		}
		l.HttpLogs.LogEntry = append(l.HttpLogs.LogEntry, e.HTTP)
		m.bytes += proto.Size(e.HTTP)
		return
	}
	l, ok := m.Message.LogEntries.(*alsv3.StreamAccessLogsMessage_TcpLogs)
	if !ok {
		l = &alsv3.StreamAccessLogsMessage_TcpLogs{TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{}}
		m.Message.LogEntries = l
	}
	l.TcpLogs.LogEntry = append(l.TcpLogs.LogEntry, e.TCP)
	m.bytes += proto.Size(e.TCP)
}

// Entry writes one bag as the entry its reporting proxy logs: context.protocol
// "tcp" gives a TCP entry, "http" and "grpc" an HTTP one.
func (g *Generator) Entry(b bookinfo.Bag) (Entry, error) {
	var v bagView
	if err := v.read(b); err != nil {
		return Entry{}, err
	}
	outbound := v.kind == "outbound"
	rep := &v.dst
	if outbound {
		rep = &v.src
	}
	uid := v.reporterUID
	if uid == "" {
		uid = rep.uid
	}
	if uid == "" && rep.name != "" && rep.namespace != "" {
		uid = "kubernetes://" + rep.name + "." + rep.namespace
	}
	if uid == "" {
		return Entry{}, errors.New("no context.reporter.uid: the reporting proxy is unknown")
	}
	e := Entry{Stream: Stream{Reporter: uid}, Node: g.node(uid, rep)}
	c, err := g.common(&v, outbound)
	if err != nil {
		return Entry{}, err
	}
	switch v.protocol {
	case "tcp":
		e.Stream.LogName = TCPLogName
		e.TCP, err = g.tcp(&v, c)
	case "http", "grpc", "":
		e.Stream.LogName = HTTPLogName
		e.HTTP = httpEntry(&v, c)
	default:
		err = fmt.Errorf("context.protocol %q: ALS logs http, grpc and tcp", v.protocol)
	}
	return e, err
}

// common fills what HTTP and TCP entries share: addresses, the cluster, the
// peer's metadata, the downstream TLS properties and the response flags.
func (g *Generator) common(v *bagView, outbound bool) (*alsdata.AccessLogCommon, error) {
	flags, err := responseFlagsOf(v.proxyErrorCode)
	if err != nil {
		return nil, err
	}
	c := &alsdata.AccessLogCommon{ResponseFlags: flags}
	port := uint32(v.port)
	if v.src.ip.IsValid() {
		c.DownstreamRemoteAddress = g.clientAddress(v.src.ip)
	}
	if outbound {
		// The app dialed the service; the sidecar picked the endpoint.
		if v.svcHost != "" {
			c.UpstreamCluster = "outbound|" + strconv.FormatUint(uint64(port), 10) + "||" + v.svcHost
			c.DownstreamLocalAddress = g.address(serviceVIP(v.svcHost), port)
		} else {
			c.UpstreamCluster = envoycluster.Passthrough
		}
		if v.dst.ip.IsValid() {
			c.UpstreamRemoteAddress = g.address(v.dst.ip, port)
			if c.DownstreamLocalAddress == nil {
				c.DownstreamLocalAddress = c.UpstreamRemoteAddress
			}
		}
		if v.src.ip.IsValid() {
			c.UpstreamLocalAddress = g.clientAddress(v.src.ip)
		}
		if p := g.peer(&v.dst); p != nil {
			c.FilterStateObjects = map[string]*anypb.Any{UpstreamPeerKey: p}
		}
		// The client side's downstream is the plaintext app: no TLS.
		return c, nil
	}

	// Since 1.8 inbound clusters name only the (target) port.
	c.UpstreamCluster = "inbound|" + strconv.FormatUint(uint64(port), 10) + "||"
	if v.dst.ip.IsValid() {
		c.DownstreamLocalAddress = g.address(v.dst.ip, port)
		c.UpstreamRemoteAddress = c.DownstreamLocalAddress
	}
	c.UpstreamLocalAddress = g.clientAddress(inboundPassthroughSource)
	if p := g.peer(&v.src); p != nil {
		c.FilterStateObjects = map[string]*anypb.Any{DownstreamPeerKey: p}
	}
	sni := v.sni
	if sni == "" && v.mtls && v.svcHost != "" {
		// What Istio clients ask for over mTLS; the server side's only
		// clue to the destination service.
		sni = "outbound_." + strconv.FormatUint(uint64(port), 10) + "_._." + v.svcHost
	}
	if v.mtls || sni != "" {
		c.TlsProperties = g.tlsProperties(sni, v)
	}
	return c, nil
}

// tlsProperties returns the downstream TLS of a server-side entry: the SNI
// and, over mTLS, both certificates, which carry the workloads' SPIFFE ids
// (without them the mapper cannot tell mTLS, as Envoy could not).
func (g *Generator) tlsProperties(sni string, v *bagView) *alsdata.TLSProperties {
	k := tlsKey{sni: sni}
	if v.mtls {
		k.local, k.peer = v.dst.principal, v.src.principal
	}
	if t, ok := g.tls[k]; ok {
		return t
	}
	t := &alsdata.TLSProperties{TlsSniHostname: sni}
	if v.mtls {
		t.TlsVersion = alsdata.TLSProperties_TLSv1_3
		t.TlsCipherSuite = wrapperspb.UInt32(tlsAES128GCMSHA256)
		t.LocalCertificateProperties = certificate(k.local)
		t.PeerCertificateProperties = certificate(k.peer)
	}
	if len(g.tls) >= maxGeneratedParts {
		clear(g.tls)
	}
	g.tls[k] = t
	return t
}

// inboundPassthroughSource is where an inbound sidecar connects to the app
// from.
var inboundPassthroughSource = netip.AddrFrom4([4]byte{127, 0, 0, 6})

func httpEntry(v *bagView, c *alsdata.AccessLogCommon) *alsdata.HTTPAccessLogEntry {
	c.RouteName = "default"
	c.AccessLogType = alsdata.AccessLogType_DownstreamEnd
	start := v.reqTime
	if start.IsZero() {
		start = v.contextTime
	}
	if !start.IsZero() {
		c.StartTime = timestamppb.New(start)
	}
	switch {
	case v.hasDuration:
		c.Duration = durationpb.New(v.duration)
	case !start.IsZero() && !v.respTime.IsZero():
		c.Duration = durationpb.New(v.respTime.Sub(start))
	}

	req := &alsdata.HTTPRequestProperties{
		RequestMethod:       corev3.RequestMethod(corev3.RequestMethod_value[v.method]),
		Scheme:              v.scheme,
		Authority:           v.host,
		Path:                v.path,
		UserAgent:           v.userAgent,
		Referer:             v.referer,
		RequestId:           v.requestID,
		RequestBodyBytes:    nonNegative(v.reqSize),
		RequestHeadersBytes: nonNegative(v.reqTotal - v.reqSize),
	}
	if req.Path == "" {
		req.Path = v.urlPath
	}
	// Envoy logs the request id and X-Forwarded-For in fields of their own,
	// other headers only when the provider lists them in
	// additionalRequestHeadersToLog: as if it listed every header the bag has.
	if v.reqHeaders != nil {
		n := v.reqHeaders.Len()
		for i := range n {
			k, val := v.reqHeaders.At(i)
			switch {
			case k == "x-request-id" && (req.RequestId == "" || req.RequestId == val):
				req.RequestId = val
			case k == "x-forwarded-for" && req.ForwardedFor == "":
				req.ForwardedFor = val
			default:
				if req.RequestHeaders == nil {
					req.RequestHeaders = make(map[string]string, n)
				}
				req.RequestHeaders[k] = val
			}
		}
	}
	version := alsdata.HTTPAccessLogEntry_HTTP11
	if v.protocol == "grpc" {
		version = alsdata.HTTPAccessLogEntry_HTTP2
		if _, ok := req.RequestHeaders["content-type"]; !ok {
			if req.RequestHeaders == nil {
				req.RequestHeaders = make(map[string]string, 1)
			}
			req.RequestHeaders["content-type"] = "application/grpc"
		}
	}
	// Envoy's HTTP stream id follows the request id.
	c.StreamId = req.RequestId
	c.DownstreamWireBytesReceived = nonNegative(v.reqTotal)

	resp := &alsdata.HTTPResponseProperties{
		ResponseBodyBytes:    nonNegative(v.respSize),
		ResponseHeadersBytes: nonNegative(v.respTotal - v.respSize),
	}
	c.DownstreamWireBytesSent = nonNegative(v.respTotal)
	if v.hasCode && v.code >= 0 && v.code <= 1<<32-1 {
		resp.ResponseCode = wrapperspb.UInt32(uint32(v.code))
		if v.proxyErrorCode == "" || v.proxyErrorCode == "-" {
			resp.ResponseCodeDetails = "via_upstream"
		}
	}
	if v.respHeaders != nil && v.respHeaders.Len() > 0 {
		resp.ResponseHeaders = v.respHeaders.Map()
	}
	if v.hasGRPCStatus || v.hasGRPCMessage {
		resp.ResponseTrailers = make(map[string]string, 2)
		if v.hasGRPCStatus {
			resp.ResponseTrailers["grpc-status"] = v.grpcStatus
		}
		if v.hasGRPCMessage {
			resp.ResponseTrailers["grpc-message"] = v.grpcMessage
		}
	}
	return &alsdata.HTTPAccessLogEntry{CommonProperties: c, ProtocolVersion: version, Request: req, Response: resp}
}

// tcp writes a TCP entry. Envoy logs running byte totals and, in every
// entry of a connection, the connection's start; the duration only once
// the connection has ended.
func (g *Generator) tcp(v *bagView, c *alsdata.AccessLogCommon) (*alsdata.TCPAccessLogEntry, error) {
	switch v.event {
	case "open":
		c.AccessLogType = alsdata.AccessLogType_TcpUpstreamConnected
	case "continue":
		c.AccessLogType = alsdata.AccessLogType_TcpPeriodic
	case "close", "":
		c.AccessLogType = alsdata.AccessLogType_TcpConnectionEnd
	default:
		return nil, fmt.Errorf("connection.event %q: ALS logs open, continue and close", v.event)
	}
	if !v.contextTime.IsZero() {
		// A Mixer report was stamped when sent, an ALS entry with the
		// connection's start.
		start := v.contextTime
		if v.hasConnDuration {
			start = start.Add(-v.connDuration)
		}
		c.StartTime = timestamppb.New(start)
	}
	if c.AccessLogType == alsdata.AccessLogType_TcpConnectionEnd && v.hasConnDuration {
		c.Duration = durationpb.New(v.connDuration)
	}
	c.StreamId = v.connID

	recv, sent := v.recvTotal, v.sentTotal
	if !v.hasRecvTotal || !v.hasSentTotal {
		// Only the bytes since the previous report: keep the running sums.
		key := c.StreamId + "\x00" + v.reporterUID
		t := g.totals[key]
		t.received += nonNegative(v.recv)
		t.sent += nonNegative(v.sent)
		if c.AccessLogType == alsdata.AccessLogType_TcpConnectionEnd || c.StreamId == "" {
			delete(g.totals, key)
		} else if _, known := g.totals[key]; known || len(g.totals) < maxTrackedConnections {
			g.totals[key] = t
		}
		if !v.hasRecvTotal {
			recv = clampInt64(t.received)
		}
		if !v.hasSentTotal {
			sent = clampInt64(t.sent)
		}
	}
	return &alsdata.TCPAccessLogEntry{
		CommonProperties:     c,
		ConnectionProperties: &alsdata.ConnectionProperties{ReceivedBytes: nonNegative(recv), SentBytes: nonNegative(sent)},
	}, nil
}

// node returns the reporting proxy's node, with the metadata istiod's
// injector gives a sidecar (pkg/model/proxy.go keys).
func (g *Generator) node(uid string, w *sideView) *corev3.Node {
	if n, ok := g.nodes[uid]; ok {
		return n
	}
	pod, ns := w.pod(uid)
	md := map[string]any{
		"CLUSTER_ID":    g.opts.ClusterID,
		"ISTIO_VERSION": g.opts.IstioVersion,
		"MESH_ID":       "cluster.local",
	}
	putAny(md, "NAME", pod)
	putAny(md, "NAMESPACE", ns)
	putAny(md, "WORKLOAD_NAME", w.workloadName)
	putAny(md, "OWNER", w.owner)
	putAny(md, "SERVICE_ACCOUNT", w.serviceAccount)
	ip := ""
	if w.ip.IsValid() {
		ip = w.ip.String()
		md["INSTANCE_IPS"] = ip
	}
	if w.labels != nil && w.labels.Len() > 0 {
		labels := make(map[string]any, w.labels.Len())
		w.labels.Range(func(k, v string) bool { labels[k] = v; return true })
		md["LABELS"] = labels
	}
	nodeType := "sidecar"
	if w.gateway() {
		nodeType = "router"
	} else {
		md["INTERCEPTION_MODE"] = "REDIRECT"
	}
	st, err := structpb.NewStruct(md)
	if err != nil {
		// Only strings and string maps go in: cannot happen.
		panic(fmt.Sprintf("node metadata of %s: %v", uid, err))
	}
	n := &corev3.Node{
		Id:            nodeType + "~" + ip + "~" + pod + "." + ns + "~" + ns + ".svc.cluster.local",
		Cluster:       w.canonicalName() + "." + ns,
		Metadata:      st,
		UserAgentName: "envoy",
	}
	if len(g.nodes) >= maxGeneratedNodes {
		clear(g.nodes)
	}
	g.nodes[uid] = n
	return n
}

// peer returns the peer metadata Istio ≥ 1.24 logs in filter state: a
// Struct of flat strings. It has no labels beyond app and version and no
// service account. Nil when the bag says nothing of the workload.
func (g *Generator) peer(w *sideView) *anypb.Any {
	pod, ns := w.pod(w.uid)
	key := w.uid
	if key == "" {
		key = pod + "." + ns
	}
	if p, ok := g.peers[key]; ok {
		return p
	}
	if pod == "" && w.workloadName == "" {
		return nil
	}
	f := make(map[string]*structpb.Value, 9)
	put := func(k, v string) {
		if v != "" {
			f[k] = structpb.NewStringValue(v)
		}
	}
	put("type", w.ownerKind())
	put("workload", w.workloadName)
	put("name", pod)
	put("cluster", g.opts.ClusterID)
	put("namespace", ns)
	put("service", w.canonicalName())
	put("revision", w.canonicalRevision())
	put("app", w.label("app"))
	put("version", w.label("version"))
	a := &anypb.Any{}
	// Deterministic bytes: the mapper caches peers by them.
	if err := anypb.MarshalFrom(a, &structpb.Struct{Fields: f}, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(fmt.Sprintf("peer metadata of %s: %v", key, err)) // a Struct of strings always marshals
	}
	if len(g.peers) >= maxGeneratedParts {
		clear(g.peers)
	}
	g.peers[key] = a
	return a
}

// ephemeralPort hands out client ports from Linux's default range, in turn.
func (g *Generator) ephemeralPort() uint32 {
	const lo, hi = 32768, 60999
	if g.port < lo || g.port >= hi {
		g.port = lo
	} else {
		g.port++
	}
	return g.port
}

// serviceVIP makes up a stable ClusterIP in 10.96.0.0/16 for a service
// host: a bag has no VIP, and an outbound entry always has one.
func serviceVIP(host string) netip.Addr {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(host); i++ {
		h = (h ^ uint32(host[i])) * 16777619
	}
	return netip.AddrFrom4([4]byte{10, 96, byte(h >> 8), byte(h)})
}

// address returns the (shared) socket address of a listening port.
func (g *Generator) address(ip netip.Addr, port uint32) *corev3.Address {
	k := addrPort{ip, port}
	if a, ok := g.addrs[k]; ok {
		return a
	}
	a := g.socketAddress(ip, port)
	if len(g.addrs) >= maxGeneratedParts {
		clear(g.addrs)
	}
	g.addrs[k] = a
	return a
}

// clientAddress returns a new client socket address on ip.
func (g *Generator) clientAddress(ip netip.Addr) *corev3.Address {
	return g.socketAddress(ip, g.ephemeralPort())
}

func (g *Generator) socketAddress(ip netip.Addr, port uint32) *corev3.Address {
	s, ok := g.ips[ip]
	if !ok {
		s = ip.String()
		if len(g.ips) >= maxGeneratedParts {
			clear(g.ips)
		}
		g.ips[ip] = s
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: s, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// certificate is a workload certificate: its URI SAN is the SPIFFE id.
// Istio 1.1 principals dropped the scheme; certificates have it.
func certificate(principal string) *alsdata.TLSProperties_CertificateProperties {
	if principal == "" {
		return nil
	}
	if !strings.Contains(principal, "://") {
		principal = "spiffe://" + principal
	}
	return &alsdata.TLSProperties_CertificateProperties{
		SubjectAltName: []*alsdata.TLSProperties_CertificateProperties_SubjectAltName{
			{San: &alsdata.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: principal}},
		},
	}
}

// flagSetters inverts responseFlags: Envoy's short code to its field.
var flagSetters = map[string]func(*alsdata.ResponseFlags){
	"LH":    func(f *alsdata.ResponseFlags) { f.FailedLocalHealthcheck = true },
	"UH":    func(f *alsdata.ResponseFlags) { f.NoHealthyUpstream = true },
	"UT":    func(f *alsdata.ResponseFlags) { f.UpstreamRequestTimeout = true },
	"LR":    func(f *alsdata.ResponseFlags) { f.LocalReset = true },
	"UR":    func(f *alsdata.ResponseFlags) { f.UpstreamRemoteReset = true },
	"UF":    func(f *alsdata.ResponseFlags) { f.UpstreamConnectionFailure = true },
	"UC":    func(f *alsdata.ResponseFlags) { f.UpstreamConnectionTermination = true },
	"UO":    func(f *alsdata.ResponseFlags) { f.UpstreamOverflow = true },
	"NR":    func(f *alsdata.ResponseFlags) { f.NoRouteFound = true },
	"DI":    func(f *alsdata.ResponseFlags) { f.DelayInjected = true },
	"FI":    func(f *alsdata.ResponseFlags) { f.FaultInjected = true },
	"RL":    func(f *alsdata.ResponseFlags) { f.RateLimited = true },
	"UAEX":  func(f *alsdata.ResponseFlags) { f.UnauthorizedDetails = &alsdata.ResponseFlags_Unauthorized{} },
	"RLSE":  func(f *alsdata.ResponseFlags) { f.RateLimitServiceError = true },
	"DC":    func(f *alsdata.ResponseFlags) { f.DownstreamConnectionTermination = true },
	"URX":   func(f *alsdata.ResponseFlags) { f.UpstreamRetryLimitExceeded = true },
	"SI":    func(f *alsdata.ResponseFlags) { f.StreamIdleTimeout = true },
	"IH":    func(f *alsdata.ResponseFlags) { f.InvalidEnvoyRequestHeaders = true },
	"DPE":   func(f *alsdata.ResponseFlags) { f.DownstreamProtocolError = true },
	"UMSDR": func(f *alsdata.ResponseFlags) { f.UpstreamMaxStreamDurationReached = true },
	"RFCF":  func(f *alsdata.ResponseFlags) { f.ResponseFromCacheFilter = true },
	"NFCF":  func(f *alsdata.ResponseFlags) { f.NoFilterConfigFound = true },
	"DT":    func(f *alsdata.ResponseFlags) { f.DurationTimeout = true },
	"UPE":   func(f *alsdata.ResponseFlags) { f.UpstreamProtocolError = true },
	"NC":    func(f *alsdata.ResponseFlags) { f.NoClusterFound = true },
	"OM":    func(f *alsdata.ResponseFlags) { f.OverloadManager = true },
	"DF":    func(f *alsdata.ResponseFlags) { f.DnsResolutionFailure = true },
	"DR":    func(f *alsdata.ResponseFlags) { f.DownstreamRemoteReset = true },
}

// responseFlagsOf parses Envoy's %RESPONSE_FLAGS% string ("-" or short
// codes joined by ","). Envoy always logs the flags, set or not.
func responseFlagsOf(s string) (*alsdata.ResponseFlags, error) {
	f := &alsdata.ResponseFlags{}
	if s == "" || s == "-" {
		return f, nil
	}
	for code := range strings.SplitSeq(s, ",") {
		set, ok := flagSetters[code]
		if !ok {
			return nil, fmt.Errorf("context.proxy_error_code %q: %q is not a response flag ALS has a field for", s, code)
		}
		set(f)
	}
	return f, nil
}

func nonNegative(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

func putAny(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// bagView is what the generator reads of a bag, found in one pass.
type bagView struct {
	protocol, kind, reporterUID, proxyErrorCode string

	method, scheme, host, path, urlPath, userAgent, referer, requestID string
	reqHeaders, respHeaders                                            *attribute.StringMap
	reqSize, reqTotal, respSize, respTotal, code                       int64
	hasCode, hasDuration, hasGRPCStatus, hasGRPCMessage                bool
	grpcStatus, grpcMessage                                            string
	reqTime, respTime, contextTime                                     time.Time
	duration                                                           time.Duration

	svcHost, svcName, svcNamespace string
	port                           int64
	mtls                           bool
	sni                            string

	event, connID                               string
	connDuration                                time.Duration
	hasConnDuration, hasRecvTotal, hasSentTotal bool
	recv, sent, recvTotal, sentTotal            int64

	src, dst sideView
}

// sideView is one side's workload.
type sideView struct {
	uid, name, namespace, workloadName, owner, serviceAccount, principal string
	labels                                                               *attribute.StringMap
	ip                                                                   netip.Addr
}

func (v *bagView) read(b bookinfo.Bag) error {
	for _, a := range b {
		x := a.Value
		if side, field, ok := strings.Cut(a.Name, "."); ok && (side == "source" || side == "destination") {
			w := &v.src
			if side == "destination" {
				w = &v.dst
			}
			if w.read(field, x) {
				continue
			}
		}
		switch a.Name {
		case "context.protocol":
			v.protocol = x.Str()
		case "context.reporter.kind":
			v.kind = x.Str()
		case "context.reporter.uid":
			v.reporterUID = x.Str()
		case "context.proxy_error_code":
			v.proxyErrorCode = x.Str()
		case "context.time":
			v.contextTime = x.Time()
		case "request.method":
			v.method = x.Str()
		case "request.scheme":
			v.scheme = x.Str()
		case "request.host":
			v.host = x.Str()
		case "request.path":
			v.path = x.Str()
		case "request.url_path":
			v.urlPath = x.Str()
		case "request.useragent":
			v.userAgent = x.Str()
		case "request.referer":
			v.referer = x.Str()
		case "request.id":
			v.requestID = x.Str()
		case "request.headers":
			v.reqHeaders = x.StringMap()
		case "request.size":
			v.reqSize = x.Int64()
		case "request.total_size":
			v.reqTotal = x.Int64()
		case "request.time":
			v.reqTime = x.Time()
		case "response.code":
			v.code, v.hasCode = x.Int64(), true
		case "response.size":
			v.respSize = x.Int64()
		case "response.total_size":
			v.respTotal = x.Int64()
		case "response.time":
			v.respTime = x.Time()
		case "response.duration":
			v.duration, v.hasDuration = x.Duration(), true
		case "response.headers":
			v.respHeaders = x.StringMap()
		case "response.grpc_status":
			v.grpcStatus, v.hasGRPCStatus = x.Str(), true
		case "response.grpc_message":
			v.grpcMessage, v.hasGRPCMessage = x.Str(), true
		case "destination.service.host":
			v.svcHost = x.Str()
		case "destination.service.name":
			v.svcName = x.Str()
		case "destination.service.namespace":
			v.svcNamespace = x.Str()
		case "destination.port":
			v.port = x.Int64()
		case "connection.mtls":
			v.mtls = x.Bool()
		case "connection.requested_server_name":
			v.sni = x.Str()
		case "connection.event":
			v.event = x.Str()
		case "connection.id":
			v.connID = x.Str()
		case "connection.duration":
			v.connDuration, v.hasConnDuration = x.Duration(), true
		case "connection.received.bytes":
			v.recv = x.Int64()
		case "connection.sent.bytes":
			v.sent = x.Int64()
		case "connection.received.bytes_total":
			v.recvTotal, v.hasRecvTotal = x.Int64(), true
		case "connection.sent.bytes_total":
			v.sentTotal, v.hasSentTotal = x.Int64(), true
		}
	}
	if v.svcHost == "" && v.svcName != "" && v.svcNamespace != "" {
		v.svcHost = v.svcName + "." + v.svcNamespace + ".svc.cluster.local"
	}
	if v.port < 0 || v.port > 65535 {
		return fmt.Errorf("destination.port %d is not a port", v.port)
	}
	return nil
}

// read takes one attribute of the side; false when it is not one.
func (w *sideView) read(field string, x attribute.Value) bool {
	switch field {
	case "uid":
		w.uid = x.Str()
	case "name":
		w.name = x.Str()
	case "namespace":
		w.namespace = x.Str()
	case "workload.name":
		w.workloadName = x.Str()
	case "workload.namespace":
		if w.namespace == "" {
			w.namespace = x.Str()
		}
	case "owner":
		w.owner = x.Str()
	case "serviceAccount":
		w.serviceAccount = x.Str()
	case "principal":
		w.principal = x.Str()
	case "labels":
		w.labels = x.StringMap()
	case "ip":
		if ip, ok := netip.AddrFromSlice(x.IP()); ok {
			w.ip = ip.Unmap()
		}
	default:
		return false
	}
	return true
}

// pod returns the pod name and namespace, from the uid
// (kubernetes://<pod>.<namespace>) where the bag has no name.
func (w *sideView) pod(uid string) (pod, ns string) {
	pod, ns = w.name, w.namespace
	if rest, ok := strings.CutPrefix(uid, "kubernetes://"); ok {
		p, n, _ := strings.Cut(rest, ".")
		if pod == "" {
			pod = p
		}
		if ns == "" {
			ns = n
		}
	}
	return pod, ns
}

func (w *sideView) label(k string) string {
	if w.labels == nil {
		return ""
	}
	v, _ := w.labels.Get(k)
	return v
}

// canonicalName and canonicalRevision follow Istio's defaults for the
// service.istio.io/canonical-* labels.
func (w *sideView) canonicalName() string {
	for _, k := range [...]string{"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"} {
		if v := w.label(k); v != "" {
			return v
		}
	}
	return w.workloadName
}

func (w *sideView) canonicalRevision() string {
	for _, k := range [...]string{"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"} {
		if v := w.label(k); v != "" {
			return v
		}
	}
	if w.workloadName == "" {
		return ""
	}
	return "latest"
}

// ownerKind is the workload type of Istio's peer metadata, from the owner
// URI kubernetes://apis/<group>/<version>/namespaces/<ns>/<kinds>/<name>.
func (w *sideView) ownerKind() string {
	_, rest, ok := strings.Cut(w.owner, "/namespaces/")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return ""
	}
	return strings.TrimSuffix(parts[1], "s")
}

// gateway reports whether the workload is an Istio gateway, whose proxy
// registers as a router.
func (w *sideView) gateway() bool {
	return strings.HasSuffix(w.label("istio"), "gateway") || strings.HasSuffix(w.label("app"), "gateway")
}
