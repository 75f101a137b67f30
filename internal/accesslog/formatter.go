package accesslog

import (
	"errors"
	"hash/fnv"
	"net"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/envoycluster"
)

// Bag is an attribute bag to print: internal/bookinfo.Bag is one.
type Bag interface {
	Get(name string) (attribute.Value, bool)
}

// FormatLine returns the access-log line (without the trailing newline)
// that an istio-proxy configured with f would have logged for the request
// or connection of b, as reported by the proxy b names in
// context.reporter.kind. It is the inverse of parsing and mapping for
// everything a line can carry; what the bag does not give (addresses'
// ephemeral ports, the service VIP) is filled in plausibly and
// deterministically.
func FormatLine(f *Format, b Bag) (string, error) {
	buf, err := AppendLine(nil, f, b)
	return string(buf), err
}

// AppendLine is FormatLine appending to dst.
func AppendLine(dst []byte, f *Format, b Bag) ([]byte, error) {
	if f == nil {
		return dst, errors.New("access-log format: nil")
	}
	r, err := readBag(b)
	if err != nil {
		return dst, err
	}
	if f.isJSON {
		dst = append(dst, '{')
		for i, jf := range f.json {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, jf.key)
			dst = append(dst, ':')
			if jf.op >= 0 {
				o := f.ops[jf.op]
				v, ok := r.value(o, f)
				switch {
				case !ok:
					dst = append(dst, "null"...)
				case o.numeric && isDigits(v):
					dst = append(dst, v...)
				default:
					dst = appendJSONString(dst, v)
				}
				continue
			}
			dst = appendJSONString(dst, string(r.appendSeq(nil, f, jf.tmpl)))
		}
		return append(dst, '}'), nil
	}
	return r.appendSeq(dst, f, f.text), nil
}

func (r *bagReader) appendSeq(dst []byte, f *Format, q seq) []byte {
	for _, t := range q {
		if t.op < 0 {
			dst = append(dst, t.lit...)
			continue
		}
		v, ok := r.value(f.ops[t.op], f)
		if !ok {
			v = "-"
		}
		for i := 0; i < len(v); i++ { // one line per request, whatever the values
			if c := v[i]; c == '\n' || c == '\r' {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, c)
			}
		}
	}
	return dst
}

// bagReader holds what several operators derive from a bag.
type bagReader struct {
	b        Bag
	outbound bool
	tcp      bool
	grpc     bool
	start    time.Time
	dur      time.Duration
	hasDur   bool
	dstIP    string
	dstPort  int64
	srcIP    string
	host     string // destination.service.host
	port1    int    // ephemeral ports, derived from the request id
	port2    int
}

func readBag(b Bag) (*bagReader, error) {
	r := &bagReader{b: b}
	r.outbound = r.str("context.reporter.kind") == "outbound"
	switch r.str("context.protocol") {
	case "tcp":
		r.tcp = true
	case "grpc":
		r.grpc = true
	}
	if v, ok := b.Get("request.time"); ok && v.Type() == attribute.TypeTimestamp {
		r.start = v.Time()
	} else if v, ok := b.Get("context.time"); ok && v.Type() == attribute.TypeTimestamp {
		r.start = v.Time()
	} else {
		return nil, errors.New("access-log line: the bag has neither request.time nor context.time")
	}
	durName := "response.duration"
	if r.tcp {
		durName = "connection.duration"
	}
	if v, ok := b.Get(durName); ok && v.Type() == attribute.TypeDuration {
		r.dur, r.hasDur = v.Duration(), true
	}
	if v, ok := b.Get("destination.ip"); ok && v.Type() == attribute.TypeIPAddress && len(v.IP()) > 0 {
		r.dstIP = net.IP(v.IP()).String()
	}
	if v, ok := b.Get("source.ip"); ok && v.Type() == attribute.TypeIPAddress && len(v.IP()) > 0 {
		r.srcIP = net.IP(v.IP()).String()
	}
	r.dstPort, _ = r.int("destination.port")
	r.host = r.str("destination.service.host")
	h := fnv.New32a()
	id := r.str("request.id")
	if id == "" {
		id = r.header("request.headers", "x-request-id")
	}
	if id == "" {
		id = r.str("connection.id")
	}
	_, _ = h.Write([]byte(id))
	sum := h.Sum32()
	r.port1 = 32768 + int(sum%28000)
	r.port2 = 32768 + int((sum>>16)%28000)
	return r, nil
}

func (r *bagReader) str(name string) string {
	if v, ok := r.b.Get(name); ok && v.Type().StringBacked() {
		return v.Str()
	}
	return ""
}

func (r *bagReader) int(name string) (int64, bool) {
	if v, ok := r.b.Get(name); ok && v.Type() == attribute.TypeInt64 {
		return v.Int64(), true
	}
	return 0, false
}

func (r *bagReader) header(mapName, key string) string {
	if v, ok := r.b.Get(mapName); ok && v.Type() == attribute.TypeStringMap && v.StringMap() != nil {
		s, _ := v.StringMap().Get(key)
		return s
	}
	return ""
}

func (r *bagReader) itoa(name string) (string, bool) {
	n, ok := r.int(name)
	if !ok {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}

func hostPort(ip string, port int64) (string, bool) {
	if ip == "" || port <= 0 {
		return "", false
	}
	return net.JoinHostPort(ip, strconv.FormatInt(port, 10)), true
}

// value is what the operator prints for the bag; ok is false for Envoy's
// "-" (null in JSON).
func (r *bagReader) value(o *op, f *Format) (string, bool) {
	nonEmpty := func(s string) (string, bool) { return s, s != "" }
	switch o.field {
	case fStartTime:
		return string(o.time.append(nil, r.start)), true
	case fMethod:
		if r.tcp {
			return "", false
		}
		return nonEmpty(r.str("request.method"))
	case fPath:
		if r.tcp {
			return "", false
		}
		return nonEmpty(r.str("request.path"))
	case fProtocol:
		switch {
		case r.tcp:
			return "", false
		case r.grpc:
			return "HTTP/2", true
		}
		return "HTTP/1.1", true
	case fResponseCode:
		if r.tcp {
			return "0", true
		}
		if s, ok := r.itoa("response.code"); ok {
			return s, true
		}
		return "0", true
	case fResponseFlags:
		if s := r.str("context.proxy_error_code"); s != "" {
			return s, true
		}
		return "-", true
	case fResponseCodeDetails:
		if _, ok := r.int("response.code"); ok && !r.tcp {
			if fl := r.str("context.proxy_error_code"); fl == "" || fl == "-" {
				return "via_upstream", true
			}
		}
		return "", false
	case fBytesReceived:
		if r.tcp {
			return nonZero(r.itoa("connection.received.bytes_total"))
		}
		return nonZero(r.itoa("request.size"))
	case fBytesSent:
		if r.tcp {
			return nonZero(r.itoa("connection.sent.bytes_total"))
		}
		return nonZero(r.itoa("response.size"))
	case fDuration:
		if !r.hasDur {
			return "0", true
		}
		return strconv.FormatInt(r.dur.Milliseconds(), 10), true
	case fUpstreamServiceTime:
		return nonEmpty(r.header("response.headers", "x-envoy-upstream-service-time"))
	case fForwardedFor:
		return nonEmpty(r.header("request.headers", "x-forwarded-for"))
	case fUserAgent:
		if s := r.str("request.useragent"); s != "" {
			return s, true
		}
		return nonEmpty(r.header("request.headers", "user-agent"))
	case fRequestID:
		if s := r.str("request.id"); s != "" {
			return s, true
		}
		return nonEmpty(r.header("request.headers", "x-request-id"))
	case fAuthority:
		if r.tcp {
			return "", false
		}
		return nonEmpty(r.str("request.host"))
	case fReferer:
		return nonEmpty(r.str("request.referer"))
	case fScheme:
		return nonEmpty(r.str("request.scheme"))
	case fContentType:
		if s := r.header("request.headers", "content-type"); s != "" {
			return s, true
		}
		if r.grpc {
			return "application/grpc", true
		}
		return "", false
	case fUpstreamHost:
		return hostPort(r.dstIP, r.dstPort)
	case fUpstreamCluster:
		return r.cluster(f)
	case fUpstreamLocalAddress:
		if r.outbound {
			return hostPort(r.srcIP, int64(r.port1))
		}
		return hostPort("127.0.0.6", int64(r.port1))
	case fDownstreamLocalAddress:
		return hostPort(r.dstIP, r.dstPort)
	case fDownstreamRemoteAddress, fDownstreamDirectRemoteAddress:
		if r.outbound {
			return hostPort(r.srcIP, int64(r.port2))
		}
		return hostPort(r.srcIP, int64(r.port1))
	case fRequestedServerName:
		if s := r.str("connection.requested_server_name"); s != "" {
			return s, true
		}
		if v, ok := r.b.Get("connection.mtls"); ok && v.Type() == attribute.TypeBool && v.Bool() && !r.outbound &&
			r.host != "" && r.dstPort > 0 {
			return "outbound_." + strconv.FormatInt(r.dstPort, 10) + "_._." + r.host, true
		}
		return "", false
	case fRouteName:
		if r.tcp {
			return "", false
		}
		return "default", true
	case fGRPCStatus:
		return nonEmpty(r.str("response.grpc_status"))
	case fGRPCMessage:
		return nonEmpty(r.str("response.grpc_message"))
	case fConnectionID:
		return nonEmpty(r.str("connection.id"))
	case fPeerURISAN:
		if p := r.str("source.principal"); p != "" && !r.outbound {
			return "spiffe://" + p, true
		}
		return "", false
	case fLocalURISAN:
		if p := r.str("destination.principal"); p != "" && !r.outbound {
			return "spiffe://" + p, true
		}
		return "", false
	case fRequestHeadersBytes:
		return diff(r.int("request.total_size"))(r.int("request.size"))
	case fResponseHeadersBytes:
		return diff(r.int("response.total_size"))(r.int("response.size"))
	case fDownstreamWireBytesReceived:
		return r.itoa("request.total_size")
	case fDownstreamWireBytesSent:
		return r.itoa("response.total_size")
	case fAccessLogType:
		if !r.tcp {
			return "DownstreamEnd", true
		}
		switch r.str("connection.event") {
		case "open":
			return "TcpUpstreamConnected", true
		case "continue":
			return "TcpPeriodic", true
		}
		return "TcpConnectionEnd", true
	case fReqHeader:
		return nonEmpty(r.header("request.headers", o.header))
	case fRespHeader:
		return nonEmpty(r.header("response.headers", o.header))
	}
	return "", false
}

// nonZero prints a byte count, 0 when the bag has none (Envoy counts).
func nonZero(s string, ok bool) (string, bool) {
	if !ok {
		return "0", true
	}
	return s, true
}

func diff(total int64, okT bool) func(int64, bool) (string, bool) {
	return func(part int64, okP bool) (string, bool) {
		if !okT || !okP || total < part {
			return "", false
		}
		return strconv.FormatInt(total-part, 10), true
	}
}

// cluster prints the upstream cluster the way pilot named it for the
// proxy's release.
func (r *bagReader) cluster(f *Format) (string, bool) {
	port := strconv.FormatInt(r.dstPort, 10)
	if r.outbound {
		if r.host == "" || r.dstPort <= 0 {
			return envoycluster.Passthrough, true
		}
		return "outbound|" + port + "||" + r.host, true
	}
	if r.dstPort <= 0 {
		return "", false
	}
	if f.legacy && r.host != "" {
		name := "http"
		switch {
		case r.tcp:
			name = "tcp"
		case r.grpc:
			name = "grpc"
		}
		return "inbound|" + port + "|" + name + "|" + r.host, true
	}
	return "inbound|" + port + "||", true
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
