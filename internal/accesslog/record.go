package accesslog

import (
	"slices"
	"strings"
	"sync"
	"time"

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

func (r *Reporter) put(a *bagrecord.Writer, s *side) {
	a.StringIfSet(s.name, r.Pod)
	if r.Namespace != "" {
		a.String(s.namespace, r.Namespace)
		a.String(s.workloadNamespace, r.Namespace)
	}
	a.StringIfSet(s.uid, r.uid)
	a.StringIfSet(s.workloadName, r.Workload)
	a.StringIfSet(s.workloadUID, r.workloadUID)
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
//
// w writes the record in its form; in the packed form the records of one
// batch share w's buffer (bagrecord.Writer).
func (m *Mapper) Record(w *bagrecord.Writer, lr plog.LogRecord, e *Entry, r *Reporter) {
	var vals values
	e.values(&vals)
	v := &vals.v

	var start time.Time
	if s := v[fStartTime]; s != "" {
		start, _ = vals.startTime.parse(s)
	}
	_ = lr.Body().FromRaw(nil)
	lr.Attributes().Clear()
	a := w
	a.Begin(lr, start, time.Time{}, typicalAttributes)
	defer a.End()

	cl := v[fUpstreamCluster]
	route := v[fRouteName]
	dir := envoycluster.Direction(cl, route)
	tcp := v[fProtocol] == ""
	if !e.format.fields[fProtocol] {
		tcp = v[fMethod] == "" && v[fPath] == "" && v[fAuthority] == ""
	}

	if dir != "" {
		a.String("context.reporter.kind", dir)
	}
	if r != nil && r.uid != "" {
		a.String("context.reporter.uid", r.uid)
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
		a.String("context.protocol", "tcp")
		a.String("context.proxy_error_code", flags)
		if !start.IsZero() {
			a.Timestamp("context.time", start)
		}
		m.putTCP(a, v, dur, durOK)
	} else {
		protocol := "http"
		if strings.HasPrefix(v[fContentType], "application/grpc") || v[fGRPCStatus] != "" {
			protocol = "grpc"
		}
		a.String("context.protocol", protocol)
		a.String("context.proxy_error_code", flags)
		if !start.IsZero() {
			a.Timestamp("context.time", start)
			a.Timestamp("request.time", start)
		}
		if durOK {
			a.Duration("response.duration", dur)
			if !start.IsZero() {
				a.Timestamp("response.time", start.Add(dur))
			}
		}
		putHTTP(a, e, v)
	}

	a.StringIfSet("connection.id", v[fConnectionID])
	sni := v[fRequestedServerName]
	a.StringIfSet("connection.requested_server_name", sni)
	remote := v[fDownstreamRemoteAddress]
	if remote == "" {
		remote = v[fDownstreamDirectRemoteAddress]
	}
	if ip, _, ok := parseAddress(remote); ok {
		a.Addr("source.ip", ip)
	}

	if dir == "outbound" {
		if r != nil {
			r.put(a, &sourceSide)
		}
		upIP, upPort, upOK := parseAddress(v[fUpstreamHost])
		if upOK {
			a.Addr("destination.ip", upIP)
		}
		c, ok := envoycluster.Parse(cl)
		switch {
		case ok && c.Direction == "outbound":
			if c.Port > 0 {
				a.Int64("destination.port", c.Port)
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
		a.Addr("destination.ip", ip)
		putPort(a, port, true)
	}
	peer := spiffeID(firstSAN(v[fPeerURISAN]))
	if peer != "" {
		a.String("source.principal", peer)
		if ns := spiffeField(peer, "ns"); ns != "" {
			a.String("source.namespace", ns)
		}
	}
	a.StringIfSet("destination.principal", spiffeID(firstSAN(v[fLocalURISAN])))

	// The destination service: Istio clients send the SNI
	// outbound_.<port>_.<subset>_.<host> over mTLS; proxies before 1.8
	// named inbound clusters inbound|<port>|<name>|<host>; else the host
	// the client asked for.
	sniCluster, sniOK := envoycluster.Parse(sni)
	sniOK = sniOK && sniCluster.Direction == "outbound" && sniCluster.Host != ""
	if dir == "inbound" {
		a.Bool("connection.mtls", sniOK || peer != "")
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
func putHTTP(a *bagrecord.Writer, e *Entry, v *[numFields]string) {
	if method := v[fMethod]; isMethod(method) {
		a.String("request.method", method)
	}
	a.StringIfSet("request.scheme", v[fScheme])
	a.StringIfSet("request.host", v[fAuthority])
	if path := v[fPath]; path != "" {
		a.String("request.path", path)
		urlPath, query, hasQuery := strings.Cut(path, "?")
		a.String("request.url_path", urlPath)
		if hasQuery && query != "" {
			a.QueryParams("request.query_params", query)
		}
	}
	a.StringIfSet("request.useragent", v[fUserAgent])
	a.StringIfSet("request.referer", v[fReferer])
	a.StringIfSet("request.id", v[fRequestID])
	putHeaders(a, e, "request.headers", true)

	body, bodyOK := atoi(v[fBytesReceived])
	if bodyOK {
		a.Int64("request.size", body)
	}
	if h, ok := atoi(v[fRequestHeadersBytes]); ok && bodyOK {
		a.Int64("request.total_size", h+body)
	} else if t, ok := atoi(v[fDownstreamWireBytesReceived]); ok {
		a.Int64("request.total_size", t)
	}
	if code, ok := atoi(v[fResponseCode]); ok {
		a.Int64("response.code", code)
	}
	body, bodyOK = atoi(v[fBytesSent])
	if bodyOK {
		a.Int64("response.size", body)
	}
	if h, ok := atoi(v[fResponseHeadersBytes]); ok && bodyOK {
		a.Int64("response.total_size", h+body)
	} else if t, ok := atoi(v[fDownstreamWireBytesSent]); ok {
		a.Int64("response.total_size", t)
	}
	putHeaders(a, e, "response.headers", false)
	if s := v[fGRPCStatus]; s != "" {
		a.String("response.grpc_status", grpcCode(s))
	}
	a.StringIfSet("response.grpc_message", v[fGRPCMessage])
}

// putTCP writes the connection attributes of a TCP line. Istio logs a TCP
// connection once, when it ends (unless periodic logging is configured,
// which %ACCESS_LOG_TYPE% tells), so the bytes since the previous report
// are the totals.
func (m *Mapper) putTCP(a *bagrecord.Writer, v *[numFields]string, dur time.Duration, durOK bool) {
	event := "close"
	switch v[fAccessLogType] {
	case "TcpUpstreamConnected", "TcpConnectionStart":
		event = "open"
	case "TcpPeriodic":
		event = "continue"
	}
	a.String("connection.event", event)
	if n, ok := atoi(v[fBytesReceived]); ok {
		a.Int64("connection.received.bytes_total", n)
		a.Int64("connection.received.bytes", n)
	}
	if n, ok := atoi(v[fBytesSent]); ok {
		a.Int64("connection.sent.bytes_total", n)
		a.Int64("connection.sent.bytes", n)
	}
	if durOK && event == "close" {
		a.Duration("connection.duration", dur)
	}
}

// putHeaders writes request.headers or response.headers from the header
// operators of the format, when there are any.
func putHeaders(a *bagrecord.Writer, e *Entry, name string, request bool) {
	var seenBuf [8]string
	seen := seenBuf[:0]
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
		if len(seen) == 0 {
			a.BeginStringMap(name, 4)
		}
		if !slices.Contains(seen, o.header) {
			seen = append(seen, o.header)
			a.StringMapEntry(o.header, val)
		}
	}
	if len(seen) > 0 {
		a.EndStringMap()
	}
}

func putService(a *bagrecord.Writer, s envoycluster.Service) {
	a.StringIfSet("destination.service.host", s.Host)
	a.StringIfSet("destination.service.name", s.Name)
	a.StringIfSet("destination.service.namespace", s.Namespace)
	a.StringIfSet("destination.service.uid", s.UID)
}

func putPort(a *bagrecord.Writer, port uint16, ok bool) {
	if ok && port > 0 {
		a.Int64("destination.port", int64(port))
	}
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
