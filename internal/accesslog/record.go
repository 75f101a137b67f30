package accesslog

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/envoycluster"
)

// typicalAttributes is about what a default-format line yields, to size
// the record once.
const typicalAttributes = 36

// Bounds of the Mapper's caches, so that a mesh with many pods or hosts
// cannot grow them without limit.
const (
	maxCachedReporters = 4096
	maxCachedServices  = 1024
)

// MapperOptions shape the mapping.
type MapperOptions struct {
	// WorkloadFromPodName derives the reporting workload's name from its
	// pod's name the way Kubernetes names the pods of Deployments
	// (<name>-<template hash>-<suffix>), DaemonSets and Jobs
	// (<name>-<suffix>) and StatefulSets (<name>-<ordinal>). A guess: the
	// log line itself does not say.
	WorkloadFromPodName bool
}

// Mapper turns parsed lines into attribute-bag records. It caches what
// repeats from line to line (reporters, destination services); it is safe
// for concurrent use.
type Mapper struct {
	opts MapperOptions

	mu        sync.RWMutex
	reporters map[[2]string]*Reporter
	services  map[string]envoycluster.Service
}

// NewMapper returns a Mapper.
func NewMapper(o MapperOptions) *Mapper {
	return &Mapper{opts: o, reporters: map[[2]string]*Reporter{}, services: map[string]envoycluster.Service{}}
}

// Reporter is the proxy that logged a line: the pod whose istio-proxy
// container wrote it, known from the pod-log path.
type Reporter struct {
	Namespace, Pod, Workload string
	uid, workloadUID         string
}

// Reporter returns the reporter of lines from a pod's log; nil when
// neither namespace nor pod is known.
func (m *Mapper) Reporter(namespace, pod string) *Reporter {
	if namespace == "" && pod == "" {
		return nil
	}
	k := [2]string{namespace, pod}
	m.mu.RLock()
	r, ok := m.reporters[k]
	m.mu.RUnlock()
	if ok {
		return r
	}
	r = &Reporter{Namespace: namespace, Pod: pod}
	if pod != "" && namespace != "" {
		r.uid = "kubernetes://" + pod + "." + namespace
	}
	if m.opts.WorkloadFromPodName {
		r.Workload = WorkloadFromPodName(pod)
		if r.Workload != "" && namespace != "" {
			r.workloadUID = "istio://" + namespace + "/workloads/" + r.Workload
		}
	}
	m.mu.Lock()
	if len(m.reporters) >= maxCachedReporters {
		clear(m.reporters)
	}
	m.reporters[k] = r
	m.mu.Unlock()
	return r
}

func (m *Mapper) service(host string) envoycluster.Service {
	m.mu.RLock()
	s, ok := m.services[host]
	m.mu.RUnlock()
	if ok {
		return s
	}
	s = envoycluster.ServiceFromHost(host)
	m.mu.Lock()
	if len(m.services) >= maxCachedServices {
		clear(m.services)
	}
	m.services[strings.Clone(host)] = s // the key must not pin the line
	m.mu.Unlock()
	return s
}

// side names the attributes of one side of a request.
type side struct {
	name, namespace, uid, workloadName, workloadNamespace, workloadUID string
}

var (
	sourceSide = side{"source.name", "source.namespace", "source.uid",
		"source.workload.name", "source.workload.namespace", "source.workload.uid"}
	destinationSide = side{"destination.name", "destination.namespace", "destination.uid",
		"destination.workload.name", "destination.workload.namespace", "destination.workload.uid"}
)

func (r *Reporter) put(a pcommon.Map, s *side) {
	putNonEmpty(a, s.name, r.Pod)
	if r.Namespace != "" {
		bagrecord.PutString(a, s.namespace, r.Namespace)
		bagrecord.PutString(a, s.workloadNamespace, r.Namespace)
	}
	putNonEmpty(a, s.uid, r.uid)
	putNonEmpty(a, s.workloadName, r.Workload)
	putNonEmpty(a, s.workloadUID, r.workloadUID)
}

// values are a line's values by field; "" is absent ("-" and null
// included).
type values struct {
	v         [numFields]string
	startTime *timeLayout
}

func (e *Entry) values(w *values) {
	for i, o := range e.format.ops {
		s := e.vals[i]
		if s == "" || s == "-" || o.field == fNone || o.field >= fReqHeader || w.v[o.field] != "" {
			continue
		}
		w.v[o.field] = s
		if o.field == fStartTime {
			w.startTime = o.time
		}
	}
}

// Record makes lr the attribute-bag record of the parsed line e, logged by
// r (nil when unknown): the body and attributes are replaced, the
// timestamp is the request's start when the line has it, the observed
// timestamp is kept. String values are substrings of the line.
func (m *Mapper) Record(lr plog.LogRecord, e *Entry, r *Reporter) {
	var w values
	e.values(&w)
	v := &w.v

	var start time.Time
	if s := v[fStartTime]; s != "" {
		start, _ = w.startTime.parse(s)
	}
	_ = lr.Body().FromRaw(nil)
	lr.Attributes().Clear()
	a := bagrecord.InitRecord(lr, start, time.Time{}, typicalAttributes)

	cl := v[fUpstreamCluster]
	route := v[fRouteName]
	dir := envoycluster.Direction(cl, route)
	tcp := v[fProtocol] == ""
	if !e.format.fields[fProtocol] {
		tcp = v[fMethod] == "" && v[fPath] == "" && v[fAuthority] == ""
	}

	if dir != "" {
		bagrecord.PutString(a, "context.reporter.kind", dir)
	}
	if r != nil && r.uid != "" {
		bagrecord.PutString(a, "context.reporter.uid", r.uid)
	}
	flags := v[fResponseFlags]
	if flags == "" {
		flags = "-"
	}
	var dur time.Duration
	durOK := false
	if ms, ok := atoi(v[fDuration]); ok {
		dur, durOK = time.Duration(ms)*time.Millisecond, true
	}
	if tcp {
		bagrecord.PutString(a, "context.protocol", "tcp")
		bagrecord.PutString(a, "context.proxy_error_code", flags)
		if !start.IsZero() {
			bagrecord.PutTimestamp(a, "context.time", start)
		}
		m.putTCP(a, v, dur, durOK)
	} else {
		protocol := "http"
		if strings.HasPrefix(v[fContentType], "application/grpc") || v[fGRPCStatus] != "" {
			protocol = "grpc"
		}
		bagrecord.PutString(a, "context.protocol", protocol)
		bagrecord.PutString(a, "context.proxy_error_code", flags)
		if !start.IsZero() {
			bagrecord.PutTimestamp(a, "context.time", start)
			bagrecord.PutTimestamp(a, "request.time", start)
		}
		if durOK {
			bagrecord.PutDuration(a, "response.duration", dur)
			if !start.IsZero() {
				bagrecord.PutTimestamp(a, "response.time", start.Add(dur))
			}
		}
		putHTTP(a, e, v)
	}

	putNonEmpty(a, "connection.id", v[fConnectionID])
	sni := v[fRequestedServerName]
	putNonEmpty(a, "connection.requested_server_name", sni)
	remote := v[fDownstreamRemoteAddress]
	if remote == "" {
		remote = v[fDownstreamDirectRemoteAddress]
	}
	if ip, _, ok := parseAddress(remote); ok {
		putIP(a, "source.ip", ip)
	}

	if dir == "outbound" {
		if r != nil {
			r.put(a, &sourceSide)
		}
		upIP, upPort, upOK := parseAddress(v[fUpstreamHost])
		if upOK {
			putIP(a, "destination.ip", upIP)
		}
		c, ok := envoycluster.Parse(cl)
		switch {
		case ok && c.Direction == "outbound":
			if c.Port > 0 {
				bagrecord.PutInt64(a, "destination.port", c.Port)
			}
			if c.Host != "" {
				putService(a, m.service(c.Host))
			}
		case cl == envoycluster.Passthrough || route == envoycluster.AllowAnyRoute && cl == "":
			putService(a, envoycluster.Service{Host: envoycluster.Passthrough, Name: envoycluster.Passthrough})
			putPort(a, upPort, upOK)
		case cl == envoycluster.BlackHole || route == envoycluster.BlockAllRoute && cl == "":
			putService(a, envoycluster.Service{Host: envoycluster.BlackHole, Name: envoycluster.BlackHole})
			putPort(a, upPort, upOK)
		default:
			putPort(a, upPort, upOK)
		}
		return
	}

	// Server side, or unknown, read as Mixer's default expressions read a
	// missing context.reporter.kind: inbound.
	if r != nil {
		r.put(a, &destinationSide)
	}
	if ip, port, ok := parseAddress(v[fDownstreamLocalAddress]); ok {
		putIP(a, "destination.ip", ip)
		putPort(a, port, true)
	}
	peer := spiffeID(firstSAN(v[fPeerURISAN]))
	if peer != "" {
		bagrecord.PutString(a, "source.principal", peer)
		if ns := spiffeField(peer, "ns"); ns != "" {
			bagrecord.PutString(a, "source.namespace", ns)
		}
	}
	putNonEmpty(a, "destination.principal", spiffeID(firstSAN(v[fLocalURISAN])))

	// The destination service: Istio clients send the SNI
	// outbound_.<port>_.<subset>_.<host> over mTLS; proxies before 1.8
	// named inbound clusters inbound|<port>|<name>|<host>; else the host
	// the client asked for.
	sniCluster, sniOK := envoycluster.Parse(sni)
	sniOK = sniOK && sniCluster.Direction == "outbound" && sniCluster.Host != ""
	if dir == "inbound" {
		bagrecord.PutBool(a, "connection.mtls", sniOK || peer != "")
	}
	if sniOK {
		putService(a, m.service(sniCluster.Host))
	} else if c, ok := envoycluster.Parse(cl); ok && c.Host != "" {
		putService(a, m.service(c.Host))
	} else if au := v[fAuthority]; au != "" && !tcp {
		putService(a, m.service(envoycluster.HostFromAuthority(au)))
	}
}

// putHTTP writes the request and response attributes of an HTTP line.
func putHTTP(a pcommon.Map, e *Entry, v *[numFields]string) {
	if method := v[fMethod]; isMethod(method) {
		bagrecord.PutString(a, "request.method", method)
	}
	putNonEmpty(a, "request.scheme", v[fScheme])
	putNonEmpty(a, "request.host", v[fAuthority])
	if path := v[fPath]; path != "" {
		bagrecord.PutString(a, "request.path", path)
		urlPath, query, hasQuery := strings.Cut(path, "?")
		bagrecord.PutString(a, "request.url_path", urlPath)
		if hasQuery && query != "" {
			putQuery(a, query)
		}
	}
	putNonEmpty(a, "request.useragent", v[fUserAgent])
	putNonEmpty(a, "request.referer", v[fReferer])
	putNonEmpty(a, "request.id", v[fRequestID])
	putHeaders(a, e, "request.headers", true)

	body, bodyOK := atoi(v[fBytesReceived])
	if bodyOK {
		bagrecord.PutInt64(a, "request.size", body)
	}
	if h, ok := atoi(v[fRequestHeadersBytes]); ok && bodyOK {
		bagrecord.PutInt64(a, "request.total_size", h+body)
	} else if t, ok := atoi(v[fDownstreamWireBytesReceived]); ok {
		bagrecord.PutInt64(a, "request.total_size", t)
	}
	if code, ok := atoi(v[fResponseCode]); ok {
		bagrecord.PutInt64(a, "response.code", code)
	}
	body, bodyOK = atoi(v[fBytesSent])
	if bodyOK {
		bagrecord.PutInt64(a, "response.size", body)
	}
	if h, ok := atoi(v[fResponseHeadersBytes]); ok && bodyOK {
		bagrecord.PutInt64(a, "response.total_size", h+body)
	} else if t, ok := atoi(v[fDownstreamWireBytesSent]); ok {
		bagrecord.PutInt64(a, "response.total_size", t)
	}
	putHeaders(a, e, "response.headers", false)
	if s := v[fGRPCStatus]; s != "" {
		bagrecord.PutString(a, "response.grpc_status", grpcCode(s))
	}
	putNonEmpty(a, "response.grpc_message", v[fGRPCMessage])
}

// putTCP writes the connection attributes of a TCP line. Istio logs a TCP
// connection once, when it ends (unless periodic logging is configured,
// which %ACCESS_LOG_TYPE% tells), so the bytes since the previous report
// are the totals.
func (m *Mapper) putTCP(a pcommon.Map, v *[numFields]string, dur time.Duration, durOK bool) {
	event := "close"
	switch v[fAccessLogType] {
	case "TcpUpstreamConnected", "TcpConnectionStart":
		event = "open"
	case "TcpPeriodic":
		event = "continue"
	}
	bagrecord.PutString(a, "connection.event", event)
	if n, ok := atoi(v[fBytesReceived]); ok {
		bagrecord.PutInt64(a, "connection.received.bytes_total", n)
		bagrecord.PutInt64(a, "connection.received.bytes", n)
	}
	if n, ok := atoi(v[fBytesSent]); ok {
		bagrecord.PutInt64(a, "connection.sent.bytes_total", n)
		bagrecord.PutInt64(a, "connection.sent.bytes", n)
	}
	if durOK && event == "close" {
		bagrecord.PutDuration(a, "connection.duration", dur)
	}
}

// putHeaders writes request.headers or response.headers from the header
// operators of the format, when there are any.
func putHeaders(a pcommon.Map, e *Entry, name string, request bool) {
	var hm pcommon.Map
	has := false
	for i, o := range e.format.ops {
		if o.header == "" {
			continue
		}
		isReq := o.field == fReqHeader || o.field == fRequestID || o.field == fForwardedFor || o.field == fContentType
		if isReq != request {
			continue
		}
		val := e.vals[i]
		if val == "" || val == "-" {
			continue
		}
		if !has {
			hm = bagrecord.PutStringMap(a, name, 4)
			has = true
		}
		if _, dup := hm.Get(o.header); !dup {
			hm.PutStr(o.header, val)
		}
	}
}

// putQuery writes request.query_params; the first value of a repeated key
// wins and nothing is unescaped, as the 1.1 proxy did.
func putQuery(a pcommon.Map, query string) {
	qm := bagrecord.PutStringMap(a, "request.query_params", strings.Count(query, "&")+1)
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if _, dup := qm.Get(k); !dup {
			qm.PutStr(k, v)
		}
	}
}

func putService(a pcommon.Map, s envoycluster.Service) {
	putNonEmpty(a, "destination.service.host", s.Host)
	putNonEmpty(a, "destination.service.name", s.Name)
	putNonEmpty(a, "destination.service.namespace", s.Namespace)
	putNonEmpty(a, "destination.service.uid", s.UID)
}

func putPort(a pcommon.Map, port uint16, ok bool) {
	if ok && port > 0 {
		bagrecord.PutInt64(a, "destination.port", int64(port))
	}
}

func putNonEmpty(a pcommon.Map, name, v string) {
	if v != "" {
		bagrecord.PutString(a, name, v)
	}
}

func putIP(a pcommon.Map, name string, ip netip.Addr) {
	if ip.Is4() {
		b := ip.As4()
		bagrecord.PutIP(a, name, b[:])
		return
	}
	b := ip.As16()
	bagrecord.PutIP(a, name, b[:])
}

// atoi reads a non-negative decimal; Envoy prints "-" (absent here as "")
// when it has none.
func atoi(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isMethod rejects what cannot be an HTTP method, such as the start time
// Istio 1.1.0's JSON format printed under "method".
func isMethod(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// firstSAN returns the first of the comma-separated SANs Envoy prints.
func firstSAN(s string) string {
	first, _, _ := strings.Cut(s, ",")
	return first
}

// spiffeID drops the scheme: Mixer's principals were the SPIFFE id without
// spiffe:// (cluster.local/ns/default/sa/sleep).
func spiffeID(uri string) string {
	return strings.TrimPrefix(uri, "spiffe://")
}

// spiffeField returns the value after "/<key>/" in an Istio SPIFFE
// identity (<trust domain>/ns/<namespace>/sa/<service account>).
func spiffeField(id, key string) string {
	_, rest, ok := strings.Cut(id, "/"+key+"/")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "/")
	return v
}

// grpcCodes are the gRPC status names %GRPC_STATUS% prints by default;
// Mixer's response.grpc_status was the number.
var grpcCodes = map[string]string{
	"OK": "0", "Canceled": "1", "Cancelled": "1", "Unknown": "2", "InvalidArgument": "3", "DeadlineExceeded": "4",
	"NotFound": "5", "AlreadyExists": "6", "PermissionDenied": "7", "ResourceExhausted": "8",
	"FailedPrecondition": "9", "Aborted": "10", "OutOfRange": "11", "Unimplemented": "12",
	"Internal": "13", "Unavailable": "14", "DataLoss": "15", "Unauthenticated": "16",
}

func grpcCode(s string) string {
	if n, ok := grpcCodes[s]; ok {
		return n
	}
	return s
}

// WorkloadFromPodName guesses a pod's workload (controller) name from the
// names Kubernetes generates: <deployment>-<template hash>-<suffix>,
// <daemonset|job>-<suffix>, <statefulset>-<ordinal>. It returns "" for a
// name that fits none of them.
func WorkloadFromPodName(pod string) string {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 {
		return ""
	}
	base, suffix := pod[:i], pod[i+1:]
	if isDigits(suffix) {
		return base // StatefulSet ordinal
	}
	if len(suffix) != 5 || !isSafeEncoded(suffix) {
		return ""
	}
	if j := strings.LastIndexByte(base, '-'); j > 0 {
		if h := base[j+1:]; len(h) >= 5 && len(h) <= 10 && isSafeEncoded(h) && hasDigit(h) {
			return base[:j] // Deployment: ReplicaSet hash
		}
	}
	return base
}

// isSafeEncoded: Kubernetes generates name suffixes and template hashes
// from this alphabet (no vowels, no 0, 1, 3).
func isSafeEncoded(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", rune(s[i])) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }
