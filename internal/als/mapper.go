// Package als maps Envoy Access Log Service (v3) entries to attribute-bag
// records (DESIGN §3.1) in Mixer's vocabulary, following the table of
// shared/reference/envoy-sources.md §1b:
//
//   - the reporting workload comes from the stream identifier's node
//     metadata (only the first message of a stream carries it, so a Mapper
//     keeps it per stream), the peer from the filter-state objects
//     upstream_peer (client side) or downstream_peer (server side) in the
//     Struct form of Istio ≥ 1.24, else wasm.upstream_peer /
//     wasm.downstream_peer (Istio 1.7–1.23) or
//     envoy.wasm.metadata_exchange.upstream / .downstream (1.5–1.6) in the
//     FlatBuffer form (flatnode.go);
//   - context.reporter.kind from the cluster name, the route name, the node
//     type and the node's instance IPs;
//   - destination.service.* from the outbound cluster name, or on the
//     server side from an Istio SNI, an old inbound cluster name or the
//     HTTP authority;
//   - principals and connection.mtls from the downstream TLS properties
//     (server side only: the client side's downstream is the plaintext app);
//   - context.proxy_error_code from the response flags, in Envoy's short
//     codes;
//   - times, durations, sizes and headers from the entry; TCP byte deltas
//     from the previous entry of the same connection on the stream;
//   - HTTP entries logged before the request ended are skipped, so that a
//     request makes one bag as with Mixer.
//
// What an entry does not tell is left out rather than guessed.
package als // import "github.com/otelcol-istio/otelcol-istio/internal/als"

import (
	"math"
	"net/netip"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/envoycluster"
)

// Filter-state keys Istio logs (envoy-sources.md §1b).
const (
	UpstreamPeerKey   = "upstream_peer"
	DownstreamPeerKey = "downstream_peer"
	// The keys of the FlatBuffer generation: Istio 1.7–1.23, then 1.5–1.6.
	WasmUpstreamPeerKey     = "wasm.upstream_peer"
	WasmDownstreamPeerKey   = "wasm.downstream_peer"
	LegacyUpstreamPeerKey   = "envoy.wasm.metadata_exchange.upstream"
	LegacyDownstreamPeerKey = "envoy.wasm.metadata_exchange.downstream"
	PeerPrincipalKey        = "io.istio.peer_principal"
)

const (
	structTypeURL      = "type.googleapis.com/google.protobuf.Struct"
	stringValueTypeURL = "type.googleapis.com/google.protobuf.StringValue"
	bytesValueTypeURL  = "type.googleapis.com/google.protobuf.BytesValue"

	// Bounds of the per-stream state, so that a stream cannot grow it
	// without limit.
	maxCachedPeers        = 256
	maxCachedServices     = 256
	maxTrackedConnections = 4096

	// attributes a typical entry yields, to size the record once.
	typicalAttributes = 48
)

// Mapper maps the messages of one ALS stream. It keeps the stream's
// identifier, a cache of decoded peer metadata and the byte counts of open
// TCP connections; all of it is bounded. Not safe for concurrent use: one
// Mapper per stream.
type Mapper struct {
	hasIdentifier bool
	logName       string
	rep           reporter

	peers    map[string]*workload            // by the raw bytes of the filter-state Any
	services map[string]envoycluster.Service // by host
	scratch  structpb.Struct
	tcpTotal map[string]tcpTotals // by connection (stream_id)

	w *bagrecord.Writer
}

type tcpTotals struct{ received, sent uint64 }

// NewMapper returns a Mapper for a new stream that writes bag records in the
// attribute form.
func NewMapper() *Mapper { return NewPackingMapper(false) }

// NewPackingMapper returns a Mapper for a new stream that writes bag records
// in the packed form when packed is true (internal/bagrecord).
func NewPackingMapper(packed bool) *Mapper {
	return &Mapper{
		peers: make(map[string]*workload), services: make(map[string]envoycluster.Service),
		tcpTotal: make(map[string]tcpTotals), w: bagrecord.NewWriter(packed),
	}
}

// SetIdentifier records the stream identifier (node and log name).
func (m *Mapper) SetIdentifier(id *alsv3.StreamAccessLogsMessage_Identifier) {
	m.hasIdentifier = true
	m.logName = id.GetLogName()
	m.rep = newReporter(id.GetNode())
}

// HasIdentifier reports whether the stream has sent its identifier.
func (m *Mapper) HasIdentifier() bool { return m.hasIdentifier }

// LogName is the stream's log name (the Envoy logger's log_name).
func (m *Mapper) LogName() string { return m.logName }

// Map takes in one stream message: its identifier, if it has one, then
// one record per log entry appended to out. It returns the number of
// records appended. HTTP entries logged before a request ended (Envoy's
// periodic and start-of-request logging) are skipped: Mixer saw one report
// per request, and the rules count reports.
func (m *Mapper) Map(msg *alsv3.StreamAccessLogsMessage, out plog.LogRecordSlice, observed time.Time) int {
	if id := msg.GetIdentifier(); id != nil {
		m.SetIdentifier(id)
	}
	n := 0
	m.w.Reset(len(msg.GetHttpLogs().GetLogEntry()) + len(msg.GetTcpLogs().GetLogEntry()))
	if h := msg.GetHttpLogs(); h != nil {
		out.EnsureCapacity(out.Len() + len(h.GetLogEntry()))
		for _, e := range h.GetLogEntry() {
			if intermediate(e.GetCommonProperties()) {
				continue
			}
			m.AppendHTTP(e, out, observed)
			n++
		}
	}
	if t := msg.GetTcpLogs(); t != nil {
		out.EnsureCapacity(out.Len() + len(t.GetLogEntry()))
		for _, e := range t.GetLogEntry() {
			m.AppendTCP(e, out, observed)
			n++
		}
	}
	return n
}

// intermediate reports whether an HTTP entry was logged before its request
// ended.
func intermediate(c *alsdata.AccessLogCommon) bool {
	switch c.GetAccessLogType() {
	case alsdata.AccessLogType_DownstreamStart, alsdata.AccessLogType_DownstreamPeriodic,
		alsdata.AccessLogType_UpstreamPoolReady, alsdata.AccessLogType_UpstreamPeriodic,
		alsdata.AccessLogType_DownstreamTunnelSuccessfullyEstablished:
		return true
	}
	//lint:ignore SA1019 Envoys before access_log_type set only this flag.
	return c.GetIntermediateLogEntry()
}

// AppendHTTP appends the bag record of an HTTP entry, whatever its
// access-log type.
func (m *Mapper) AppendHTTP(e *alsdata.HTTPAccessLogEntry, out plog.LogRecordSlice, observed time.Time) {
	c := e.GetCommonProperties()
	req, resp := e.GetRequest(), e.GetResponse()
	start := startTime(c)
	a := m.w
	a.Begin(out.AppendEmpty(), start, observed, typicalAttributes)
	defer a.End()
	m.common(a, c, req.GetAuthority())

	// A gRPC request shows in its content type or its grpc-status; both
	// are logged only when the Telemetry provider asks for the headers.
	grpcStatus, hasStatus := lookup2(resp.GetResponseTrailers(), resp.GetResponseHeaders(), "grpc-status")
	protocol := "http"
	if strings.HasPrefix(req.GetRequestHeaders()["content-type"], "application/grpc") || hasStatus {
		protocol = "grpc"
	}
	a.String("context.protocol", protocol)
	if !start.IsZero() {
		a.Timestamp("request.time", start)
		a.Timestamp("context.time", start)
	}
	d, hasDur := duration(c.GetDuration())
	if !hasDur {
		d, hasDur = duration(c.GetTimeToLastDownstreamTxByte())
	}
	if hasDur {
		a.Duration("response.duration", d)
		if !start.IsZero() {
			a.Timestamp("response.time", start.Add(d))
		}
	}

	if method := req.GetRequestMethod(); method != corev3.RequestMethod_METHOD_UNSPECIFIED {
		a.String("request.method", method.String())
	}
	a.StringIfSet("request.scheme", req.GetScheme())
	a.StringIfSet("request.host", req.GetAuthority())
	path := req.GetOriginalPath()
	if path == "" {
		path = req.GetPath()
	}
	if path != "" {
		a.String("request.path", path)
		urlPath, query, hasQuery := strings.Cut(path, "?")
		a.String("request.url_path", urlPath)
		if hasQuery && query != "" {
			a.QueryParams("request.query_params", query)
		}
	}
	a.StringIfSet("request.useragent", req.GetUserAgent())
	a.StringIfSet("request.referer", req.GetReferer())
	a.StringIfSet("request.id", req.GetRequestId())

	hdrs := req.GetRequestHeaders()
	a.BeginStringMap("request.headers", len(hdrs)+2)
	for k, v := range hdrs {
		a.StringMapEntry(k, v)
	}
	if xff := req.GetForwardedFor(); xff != "" {
		if _, ok := hdrs["x-forwarded-for"]; !ok {
			a.StringMapEntry("x-forwarded-for", xff)
		}
	}
	if id := req.GetRequestId(); id != "" {
		if _, ok := hdrs["x-request-id"]; !ok {
			a.StringMapEntry("x-request-id", id)
		}
	}
	a.EndStringMap()
	a.Int64("request.size", clampInt64(req.GetRequestBodyBytes()))
	a.Int64("request.total_size", clampInt64(req.GetRequestHeadersBytes()+req.GetRequestBodyBytes()))

	if code := resp.GetResponseCode(); code != nil {
		a.Int64("response.code", int64(code.GetValue()))
	}
	a.Int64("response.size", clampInt64(resp.GetResponseBodyBytes()))
	a.Int64("response.total_size", clampInt64(resp.GetResponseHeadersBytes()+resp.GetResponseBodyBytes()))
	rh := resp.GetResponseHeaders()
	a.BeginStringMap("response.headers", len(rh))
	for k, v := range rh {
		a.StringMapEntry(k, v)
	}
	a.EndStringMap()
	if hasStatus {
		a.String("response.grpc_status", grpcStatus)
	}
	if msg, ok := lookup2(resp.GetResponseTrailers(), rh, "grpc-message"); ok {
		a.String("response.grpc_message", msg)
	}
}

// AppendTCP appends the bag record of a TCP entry.
func (m *Mapper) AppendTCP(e *alsdata.TCPAccessLogEntry, out plog.LogRecordSlice, observed time.Time) {
	c := e.GetCommonProperties()
	start := startTime(c)
	a := m.w
	a.Begin(out.AppendEmpty(), start, observed, typicalAttributes)
	defer a.End()
	m.common(a, c, "")
	a.String("context.protocol", "tcp")
	if !start.IsZero() {
		a.Timestamp("context.time", start)
	}

	event := "close"
	switch c.GetAccessLogType() {
	case alsdata.AccessLogType_TcpUpstreamConnected, alsdata.AccessLogType_TcpConnectionStart:
		event = "open"
	case alsdata.AccessLogType_TcpPeriodic:
		event = "continue"
	}
	a.String("connection.event", event)

	cp := e.GetConnectionProperties()
	recv, sent := cp.GetReceivedBytes(), cp.GetSentBytes()
	a.Int64("connection.received.bytes_total", clampInt64(recv))
	a.Int64("connection.sent.bytes_total", clampInt64(sent))
	// Envoy logs running totals; Mixer's per-report counts were the bytes
	// since the connection's previous report.
	prev := tcpTotals{}
	if id := c.GetStreamId(); id != "" {
		prev = m.tcpTotal[id]
		if event == "close" {
			delete(m.tcpTotal, id)
		} else if _, known := m.tcpTotal[id]; known || len(m.tcpTotal) < maxTrackedConnections {
			// A copy: id may point into the message's bytes, which the
			// table would keep alive.
			m.tcpTotal[strings.Clone(id)] = tcpTotals{received: recv, sent: sent}
		}
	}
	a.Int64("connection.received.bytes", clampInt64(sub(recv, prev.received)))
	a.Int64("connection.sent.bytes", clampInt64(sub(sent, prev.sent)))
	if event == "close" {
		if d, ok := duration(c.GetDuration()); ok {
			a.Duration("connection.duration", d)
		}
	}
}

// common writes what HTTP and TCP entries share and returns the direction
// ("outbound", "inbound" or "" when unknown).
func (m *Mapper) common(a *bagrecord.Writer, c *alsdata.AccessLogCommon, authority string) string {
	local := addr(c.GetDownstreamLocalAddress())
	upstreamCluster := c.GetUpstreamCluster()
	dir := m.rep.direction(upstreamCluster, c.GetRouteName(), local)
	if dir != "" {
		a.String("context.reporter.kind", dir)
	}
	if m.rep.uid != "" {
		a.String("context.reporter.uid", m.rep.uid)
	}
	if m.rep.proxyVersion != "" {
		a.String("context.proxy_version", m.rep.proxyVersion)
	}
	a.String("context.proxy_error_code", responseFlags(c.GetResponseFlags()))
	a.StringIfSet("connection.id", c.GetStreamId())

	tls := c.GetTlsProperties()
	sni := tls.GetTlsSniHostname()
	a.StringIfSet("connection.requested_server_name", sni)

	if remote := addr(c.GetDownstreamRemoteAddress()); remote.ok {
		a.Addr("source.ip", remote.addr)
	}

	fs := c.GetFilterStateObjects()
	outbound := dir == "outbound"
	if outbound {
		m.rep.workload.put(a, &sourceSide)
		peer := m.peerOf(fs, UpstreamPeerKey, WasmUpstreamPeerKey, LegacyUpstreamPeerKey)
		if peer != nil {
			peer.put(a, &destinationSide)
		}
		if up := addr(c.GetUpstreamRemoteAddress()); up.ok {
			a.Addr("destination.ip", up.addr)
		}
		cl, ok := envoycluster.Parse(upstreamCluster)
		switch {
		case ok && cl.Direction == "outbound":
			if cl.Port > 0 {
				a.Int64("destination.port", cl.Port)
			}
			putService(a, m.service(cl.Host))
		case upstreamCluster == envoycluster.Passthrough || upstreamCluster == envoycluster.BlackHole:
			putService(a, envoycluster.Service{Host: upstreamCluster, Name: upstreamCluster})
		default:
			if up := addr(c.GetUpstreamRemoteAddress()); up.ok && up.port > 0 {
				a.Int64("destination.port", int64(up.port))
			}
		}
		return dir
	}

	// Server side (or unknown, read the way Mixer's default reporter
	// expression reads it: as inbound).
	m.rep.workload.put(a, &destinationSide)
	peer := m.peerOf(fs, DownstreamPeerKey, WasmDownstreamPeerKey, LegacyDownstreamPeerKey)
	if peer != nil {
		peer.put(a, &sourceSide)
	}
	if local.ok {
		a.Addr("destination.ip", local.addr)
		if local.port > 0 {
			a.Int64("destination.port", int64(local.port))
		}
	}
	peerSAN := firstURISAN(tls.GetPeerCertificateProperties())
	if p := stringFilterState(fs[PeerPrincipalKey]); p != "" {
		peerSAN = principal(p)
	}
	localSAN := firstURISAN(tls.GetLocalCertificateProperties())
	if peerSAN != "" && (peer == nil || peer.principal == "") {
		a.String("source.principal", peerSAN)
		if peer == nil || peer.namespace == "" {
			if ns := spiffeField(peerSAN, "ns"); ns != "" {
				a.String("source.namespace", ns)
			}
		}
	}
	if localSAN != "" {
		a.String("destination.principal", localSAN)
	}
	if dir != "" {
		a.Bool("connection.mtls", peerSAN != "" && localSAN != "")
	}

	// The destination service: Istio clients send the SNI
	// outbound_.<port>_.<subset>_.<host> over mTLS; proxies before 1.8
	// named inbound clusters inbound|<port>|<name>|<host>; else the host
	// the client asked for.
	if cl, ok := envoycluster.Parse(sni); ok && cl.Direction == "outbound" && cl.Host != "" {
		putService(a, m.service(cl.Host))
	} else if cl, ok := envoycluster.Parse(upstreamCluster); ok && cl.Host != "" {
		putService(a, m.service(cl.Host))
	} else if authority != "" {
		putService(a, m.service(envoycluster.HostFromAuthority(authority)))
	}
	return dir
}

// peer decodes (once per distinct value on the stream) the peer metadata
// of a filter-state object.
// peerOf returns the peer of the first of keys the entry's filter state has.
func (m *Mapper) peerOf(fs map[string]*anypb.Any, keys ...string) *workload {
	for _, k := range keys {
		if v, ok := fs[k]; ok {
			return m.peer(v)
		}
	}
	return nil
}

func (m *Mapper) peer(v *anypb.Any) *workload {
	if v == nil || (v.GetTypeUrl() != structTypeURL && v.GetTypeUrl() != bytesValueTypeURL) {
		return nil
	}
	if w, ok := m.peers[string(v.GetValue())]; ok {
		return w
	}
	var w workload
	if v.GetTypeUrl() == structTypeURL {
		if err := (proto.UnmarshalOptions{}).Unmarshal(v.GetValue(), &m.scratch); err != nil {
			return nil
		}
		w = peerFromStruct(&m.scratch)
	} else {
		var bv wrapperspb.BytesValue
		if err := (proto.UnmarshalOptions{}).Unmarshal(v.GetValue(), &bv); err != nil {
			return nil
		}
		var ok bool
		if w, ok = peerFromFlatNode(bv.GetValue()); !ok {
			return nil
		}
	}
	if len(m.peers) >= maxCachedPeers {
		clear(m.peers)
	}
	p := &w
	if w.empty() {
		p = nil
	}
	m.peers[string(v.GetValue())] = p
	return p
}

// stringFilterState reads a filter-state object holding a string.
func stringFilterState(v *anypb.Any) string {
	switch v.GetTypeUrl() {
	case stringValueTypeURL:
		var s wrapperspb.StringValue
		if proto.Unmarshal(v.GetValue(), &s) == nil {
			return s.GetValue()
		}
	case bytesValueTypeURL:
		var b wrapperspb.BytesValue
		if proto.Unmarshal(v.GetValue(), &b) == nil {
			return string(b.GetValue())
		}
	}
	return ""
}

func firstURISAN(p *alsdata.TLSProperties_CertificateProperties) string {
	for _, san := range p.GetSubjectAltName() {
		if u := san.GetUri(); u != "" {
			return principal(u)
		}
	}
	return ""
}

// principal turns a SPIFFE identity into Mixer's principal attribute, which
// had no scheme: cluster.local/ns/default/sa/bookinfo-details (as the 1.1
// proxy reported it, and as the access-log parser gives it).
func principal(id string) string { return strings.TrimPrefix(id, "spiffe://") }

func putService(a *bagrecord.Writer, s envoycluster.Service) {
	a.StringIfSet("destination.service.host", s.Host)
	a.StringIfSet("destination.service.name", s.Name)
	a.StringIfSet("destination.service.namespace", s.Namespace)
	a.StringIfSet("destination.service.uid", s.UID)
}

// service returns the destination service of a host, from the stream's
// cache: hosts repeat, and deriving one allocates.
func (m *Mapper) service(host string) envoycluster.Service {
	if s, ok := m.services[host]; ok {
		return s
	}
	host = strings.Clone(host) // as tcpTotal's keys; s holds parts of it
	s := envoycluster.ServiceFromHost(host)
	if len(m.services) >= maxCachedServices {
		clear(m.services)
	}
	m.services[host] = s
	return s
}

type ipOrNone struct {
	addr netip.Addr
	port uint32
	ok   bool
}

func addr(a *corev3.Address) ipOrNone {
	sa := a.GetSocketAddress()
	if sa == nil {
		return ipOrNone{}
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return ipOrNone{}
	}
	return ipOrNone{addr: ip, port: sa.GetPortValue(), ok: true}
}

func startTime(c *alsdata.AccessLogCommon) time.Time {
	ts := c.GetStartTime()
	if ts == nil || ts.CheckValid() != nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func duration(d *durationpb.Duration) (time.Duration, bool) {
	if d == nil || d.CheckValid() != nil {
		return 0, false
	}
	return d.AsDuration(), true
}

func lookup2(first, second map[string]string, k string) (string, bool) {
	if v, ok := first[k]; ok {
		return v, true
	}
	v, ok := second[k]
	return v, ok
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func sub(a, b uint64) uint64 {
	if b > a {
		return a // a new connection reusing an id: count from zero
	}
	return a - b
}
