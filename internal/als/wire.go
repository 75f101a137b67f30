package als

import (
	"math"
	"unicode/utf8"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// WireDecoder reads the log entries of StreamAccessLogsMessage wire bytes
// into messages it reuses from one call to the next. protobuf-go's
// unmarshal allocates every sub-message, map and string of an entry, about
// 50 objects, and was the largest cost of receiving ALS; this reads the
// same fields with no allocation once the decoder has warmed up.
//
// It covers what Envoy sends in a stream's later messages: HTTP and TCP
// entries with every field of AccessLogCommon but metadata, and socket
// addresses. Anything else (the identifier of a stream's first message,
// metadata, pipe addresses, unknown fields, a message field given twice,
// strings that are not UTF-8, malformed bytes) makes Decode answer false,
// and the caller unmarshals with protobuf-go, which gives the general
// answer. Where Decode answers true, its message equals protobuf-go's.
//
// Strings and bytes of the message point into the decoded bytes, which
// must not change while the message or anything made from it is in use.
// Not safe for concurrent use: one WireDecoder per stream.
type WireDecoder struct {
	msg     alsv3.StreamAccessLogsMessage
	httpOne alsv3.StreamAccessLogsMessage_HttpLogs
	tcpOne  alsv3.StreamAccessLogsMessage_TcpLogs
	https   alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries
	tcps    alsv3.StreamAccessLogsMessage_TCPAccessLogEntries

	http    protoPool[alsdata.HTTPAccessLogEntry, *alsdata.HTTPAccessLogEntry]
	tcp     protoPool[alsdata.TCPAccessLogEntry, *alsdata.TCPAccessLogEntry]
	common  protoPool[alsdata.AccessLogCommon, *alsdata.AccessLogCommon]
	req     protoPool[alsdata.HTTPRequestProperties, *alsdata.HTTPRequestProperties]
	resp    protoPool[alsdata.HTTPResponseProperties, *alsdata.HTTPResponseProperties]
	conn    protoPool[alsdata.ConnectionProperties, *alsdata.ConnectionProperties]
	addr    protoPool[corev3.Address, *corev3.Address]
	sock    protoPool[corev3.SocketAddress, *corev3.SocketAddress]
	tls     protoPool[alsdata.TLSProperties, *alsdata.TLSProperties]
	cert    protoPool[alsdata.TLSProperties_CertificateProperties, *alsdata.TLSProperties_CertificateProperties]
	san     protoPool[alsdata.TLSProperties_CertificateProperties_SubjectAltName, *alsdata.TLSProperties_CertificateProperties_SubjectAltName]
	flags   protoPool[alsdata.ResponseFlags, *alsdata.ResponseFlags]
	unauth  protoPool[alsdata.ResponseFlags_Unauthorized, *alsdata.ResponseFlags_Unauthorized]
	ts      protoPool[timestamppb.Timestamp, *timestamppb.Timestamp]
	dur     protoPool[durationpb.Duration, *durationpb.Duration]
	u32     protoPool[wrapperspb.UInt32Value, *wrapperspb.UInt32Value]
	anys    protoPool[anypb.Any, *anypb.Any]
	sockOne objPool[corev3.Address_SocketAddress]
	portNum objPool[corev3.SocketAddress_PortValue]
	portStr objPool[corev3.SocketAddress_NamedPort]
	sanURI  objPool[alsdata.TLSProperties_CertificateProperties_SubjectAltName_Uri]
	sanDNS  objPool[alsdata.TLSProperties_CertificateProperties_SubjectAltName_Dns]
	strMaps mapPool[string]
	anyMaps mapPool[*anypb.Any]
	sans    slicePool[*alsdata.TLSProperties_CertificateProperties_SubjectAltName]
	httpBuf slicePool[*alsdata.HTTPAccessLogEntry]
	tcpBuf  slicePool[*alsdata.TCPAccessLogEntry]
}

// maxPooled bounds what a decoder keeps of each kind between messages: a
// huge message is decoded, but its objects are not all kept.
const maxPooled = 1024

// protoPool hands out reset messages of one type, reusing them from one
// Decode to the next. Every message in it is reset except those handed out
// since the last release, so none keeps old bytes alive.
type protoPool[T any, P interface {
	*T
	Reset()
}] struct {
	items []P
	n     int
}

func (p *protoPool[T, P]) get() P {
	if p.n == len(p.items) {
		p.items = append(p.items, P(new(T)))
	}
	p.n++
	return p.items[p.n-1]
}

func (p *protoPool[T, P]) release() {
	// A zero T is what new(T) gives: a message whose reflection state is
	// set up on first use. The generated Reset also stores that state,
	// an atomic write per message that nothing here needs.
	var zero T
	for _, x := range p.items[:p.n] {
		*(*T)(x) = zero
	}
	if len(p.items) > maxPooled {
		p.items = p.items[:maxPooled:maxPooled]
	}
	p.n = 0
}

// objPool is protoPool for plain values (oneof wrappers).
type objPool[T any] struct {
	items []*T
	n     int
}

func (p *objPool[T]) get() *T {
	if p.n == len(p.items) {
		p.items = append(p.items, new(T))
	}
	p.n++
	return p.items[p.n-1]
}

func (p *objPool[T]) release() {
	var zero T
	for _, x := range p.items[:p.n] {
		*x = zero
	}
	if len(p.items) > maxPooled {
		p.items = p.items[:maxPooled:maxPooled]
	}
	p.n = 0
}

// mapPool is protoPool for maps, which keep their room.
type mapPool[V any] struct {
	items []map[string]V
	n     int
}

func (p *mapPool[V]) get() map[string]V {
	if p.n == len(p.items) {
		p.items = append(p.items, make(map[string]V, 8))
	}
	p.n++
	return p.items[p.n-1]
}

func (p *mapPool[V]) release() {
	for _, m := range p.items[:p.n] {
		clear(m)
	}
	if len(p.items) > maxPooled {
		p.items = p.items[:maxPooled:maxPooled]
	}
	p.n = 0
}

// slicePool hands out slices cut from one backing array.
type slicePool[T any] struct{ buf []T }

func (p *slicePool[T]) release() {
	clear(p.buf)
	p.buf = p.buf[:0]
	if cap(p.buf) > maxPooled {
		p.buf = nil
	}
}

// NewWireDecoder returns a WireDecoder.
func NewWireDecoder() *WireDecoder { return &WireDecoder{} }

// Decode reads a StreamAccessLogsMessage. It returns false when the bytes
// hold something it does not cover (see WireDecoder); then nothing is to be
// used. The message is valid until the next Decode.
func (d *WireDecoder) Decode(b []byte) (*alsv3.StreamAccessLogsMessage, bool) {
	d.release()
	httpEntries, tcpEntries := d.httpBuf.buf, d.tcpBuf.buf
	var kind protowire.Number
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.typ != protowire.BytesType {
			return nil, false
		}
		b = f.rest
		switch f.num {
		case 2: // http_logs
			if kind == 3 {
				return nil, false
			}
			kind = 2
			if httpEntries, ok = d.httpEntries(f.s, httpEntries); !ok {
				return nil, false
			}
		case 3: // tcp_logs
			if kind == 2 {
				return nil, false
			}
			kind = 3
			if tcpEntries, ok = d.tcpEntries(f.s, tcpEntries); !ok {
				return nil, false
			}
		default: // the identifier (1), or unknown
			return nil, false
		}
	}
	d.httpBuf.buf, d.tcpBuf.buf = httpEntries, tcpEntries
	switch kind {
	case 2:
		d.https.LogEntry = httpEntries
		d.httpOne.HttpLogs = &d.https
		d.msg.LogEntries = &d.httpOne
	case 3:
		d.tcps.LogEntry = tcpEntries
		d.tcpOne.TcpLogs = &d.tcps
		d.msg.LogEntries = &d.tcpOne
	}
	return &d.msg, true
}

func (d *WireDecoder) release() {
	d.msg.Reset()
	d.https.Reset()
	d.tcps.Reset()
	d.httpBuf.release()
	d.tcpBuf.release()
	d.http.release()
	d.tcp.release()
	d.common.release()
	d.req.release()
	d.resp.release()
	d.conn.release()
	d.addr.release()
	d.sock.release()
	d.tls.release()
	d.cert.release()
	d.san.release()
	d.flags.release()
	d.unauth.release()
	d.ts.release()
	d.dur.release()
	d.u32.release()
	d.anys.release()
	d.sockOne.release()
	d.portNum.release()
	d.portStr.release()
	d.sanURI.release()
	d.sanDNS.release()
	d.strMaps.release()
	d.anyMaps.release()
	d.sans.release()
}

func (d *WireDecoder) httpEntries(b []byte, out []*alsdata.HTTPAccessLogEntry) ([]*alsdata.HTTPAccessLogEntry, bool) {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.num != 1 || f.typ != protowire.BytesType {
			return out, false
		}
		b = f.rest
		e := d.http.get()
		if !d.httpEntry(f.s, e) {
			return out, false
		}
		out = append(out, e)
	}
	return out, true
}

func (d *WireDecoder) tcpEntries(b []byte, out []*alsdata.TCPAccessLogEntry) ([]*alsdata.TCPAccessLogEntry, bool) {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.num != 1 || f.typ != protowire.BytesType {
			return out, false
		}
		b = f.rest
		e := d.tcp.get()
		for c := f.s; len(c) > 0; {
			var g field
			ok := next(c, &g)
			if !ok {
				return out, false
			}
			c = g.rest
			switch {
			case g.num == 1 && g.typ == protowire.BytesType && e.CommonProperties == nil:
				e.CommonProperties = d.common.get()
				if !d.accessLogCommon(g.s, e.CommonProperties) {
					return out, false
				}
			case g.num == 2 && g.typ == protowire.BytesType && e.ConnectionProperties == nil:
				cp := d.conn.get()
				for p := g.s; len(p) > 0; {
					var h field
					ok := next(p, &h)
					if !ok || h.typ != protowire.VarintType {
						return out, false
					}
					p = h.rest
					switch h.num {
					case 1:
						cp.ReceivedBytes = h.v
					case 2:
						cp.SentBytes = h.v
					default:
						return out, false
					}
				}
				e.ConnectionProperties = cp
			default:
				return out, false
			}
		}
		out = append(out, e)
	}
	return out, true
}

func (d *WireDecoder) httpEntry(b []byte, e *alsdata.HTTPAccessLogEntry) bool {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok {
			return false
		}
		b = f.rest
		switch {
		case f.num == 1 && f.typ == protowire.BytesType && e.CommonProperties == nil:
			e.CommonProperties = d.common.get()
			if !d.accessLogCommon(f.s, e.CommonProperties) {
				return false
			}
		case f.num == 2 && f.typ == protowire.VarintType:
			e.ProtocolVersion = alsdata.HTTPAccessLogEntry_HTTPVersion(int32(f.v))
		case f.num == 3 && f.typ == protowire.BytesType && e.Request == nil:
			e.Request = d.req.get()
			if !d.request(f.s, e.Request) {
				return false
			}
		case f.num == 4 && f.typ == protowire.BytesType && e.Response == nil:
			e.Response = d.resp.get()
			if !d.response(f.s, e.Response) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (d *WireDecoder) accessLogCommon(b []byte, c *alsdata.AccessLogCommon) bool {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok {
			return false
		}
		b = f.rest
		if f.num == 1 {
			if f.typ != protowire.Fixed64Type {
				return false
			}
			c.SampleRate = math.Float64frombits(f.v)
			continue
		}
		if f.typ == protowire.VarintType {
			switch f.num {
			case 24:
				c.UpstreamRequestAttemptCount = uint32(f.v)
			case 27:
				//lint:ignore SA1019 Envoys before access_log_type set only this flag.
				c.IntermediateLogEntry = f.v != 0
			case 29:
				c.DownstreamWireBytesSent = f.v
			case 30:
				c.DownstreamWireBytesReceived = f.v
			case 31:
				c.UpstreamWireBytesSent = f.v
			case 32:
				c.UpstreamWireBytesReceived = f.v
			case 33:
				c.AccessLogType = alsdata.AccessLogType(int32(f.v))
			default:
				return false
			}
			continue
		}
		if f.typ != protowire.BytesType {
			return false
		}
		switch f.num {
		case 2:
			ok = d.address(f.s, &c.DownstreamRemoteAddress)
		case 3:
			ok = d.address(f.s, &c.DownstreamLocalAddress)
		case 4:
			if c.TlsProperties != nil {
				return false
			}
			c.TlsProperties = d.tls.get()
			ok = d.tlsProperties(f.s, c.TlsProperties)
		case 5:
			if c.StartTime != nil {
				return false
			}
			c.StartTime = d.ts.get()
			c.StartTime.Seconds, c.StartTime.Nanos, ok = secondsNanos(f.s)
		case 6:
			ok = d.duration(f.s, &c.TimeToLastRxByte)
		case 7:
			ok = d.duration(f.s, &c.TimeToFirstUpstreamTxByte)
		case 8:
			ok = d.duration(f.s, &c.TimeToLastUpstreamTxByte)
		case 9:
			ok = d.duration(f.s, &c.TimeToFirstUpstreamRxByte)
		case 10:
			ok = d.duration(f.s, &c.TimeToLastUpstreamRxByte)
		case 11:
			ok = d.duration(f.s, &c.TimeToFirstDownstreamTxByte)
		case 12:
			ok = d.duration(f.s, &c.TimeToLastDownstreamTxByte)
		case 13:
			ok = d.address(f.s, &c.UpstreamRemoteAddress)
		case 14:
			ok = d.address(f.s, &c.UpstreamLocalAddress)
		case 15:
			c.UpstreamCluster, ok = text(f.s)
		case 16:
			if c.ResponseFlags != nil {
				return false
			}
			c.ResponseFlags = d.flags.get()
			ok = d.responseFlags(f.s, c.ResponseFlags)
		case 18:
			c.UpstreamTransportFailureReason, ok = text(f.s)
		case 19:
			c.RouteName, ok = text(f.s)
		case 20:
			ok = d.address(f.s, &c.DownstreamDirectRemoteAddress)
		case 21:
			if c.FilterStateObjects == nil {
				c.FilterStateObjects = d.anyMaps.get()
			}
			ok = d.anyEntry(f.s, c.FilterStateObjects)
		case 22:
			if c.CustomTags == nil {
				c.CustomTags = d.stringMap()
			}
			ok = stringEntry(f.s, c.CustomTags)
		case 23:
			ok = d.duration(f.s, &c.Duration)
		case 25:
			c.ConnectionTerminationDetails, ok = text(f.s)
		case 26:
			c.StreamId, ok = text(f.s)
		case 28:
			c.DownstreamTransportFailureReason, ok = text(f.s)
		default: // metadata (17), or unknown
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

func (d *WireDecoder) request(b []byte, r *alsdata.HTTPRequestProperties) bool {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok {
			return false
		}
		b = f.rest
		if f.typ == protowire.VarintType {
			switch f.num {
			case 1:
				r.RequestMethod = corev3.RequestMethod(int32(f.v))
			case 11:
				r.RequestHeadersBytes = f.v
			case 12:
				r.RequestBodyBytes = f.v
			case 14:
				r.UpstreamHeaderBytesSent = f.v
			case 15:
				r.DownstreamHeaderBytesReceived = f.v
			default:
				return false
			}
			continue
		}
		if f.typ != protowire.BytesType {
			return false
		}
		switch f.num {
		case 2:
			r.Scheme, ok = text(f.s)
		case 3:
			r.Authority, ok = text(f.s)
		case 4:
			ok = d.uint32Value(f.s, &r.Port)
		case 5:
			r.Path, ok = text(f.s)
		case 6:
			r.UserAgent, ok = text(f.s)
		case 7:
			r.Referer, ok = text(f.s)
		case 8:
			r.ForwardedFor, ok = text(f.s)
		case 9:
			r.RequestId, ok = text(f.s)
		case 10:
			r.OriginalPath, ok = text(f.s)
		case 13:
			if r.RequestHeaders == nil {
				r.RequestHeaders = d.stringMap()
			}
			ok = stringEntry(f.s, r.RequestHeaders)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

func (d *WireDecoder) response(b []byte, r *alsdata.HTTPResponseProperties) bool {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok {
			return false
		}
		b = f.rest
		if f.typ == protowire.VarintType {
			switch f.num {
			case 2:
				r.ResponseHeadersBytes = f.v
			case 3:
				r.ResponseBodyBytes = f.v
			case 7:
				r.UpstreamHeaderBytesReceived = f.v
			case 8:
				r.DownstreamHeaderBytesSent = f.v
			default:
				return false
			}
			continue
		}
		if f.typ != protowire.BytesType {
			return false
		}
		switch f.num {
		case 1:
			ok = d.uint32Value(f.s, &r.ResponseCode)
		case 4:
			if r.ResponseHeaders == nil {
				r.ResponseHeaders = d.stringMap()
			}
			ok = stringEntry(f.s, r.ResponseHeaders)
		case 5:
			if r.ResponseTrailers == nil {
				r.ResponseTrailers = d.stringMap()
			}
			ok = stringEntry(f.s, r.ResponseTrailers)
		case 6:
			r.ResponseCodeDetails, ok = text(f.s)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

// address reads an Address holding a socket address into *at, which must
// not be set yet.
func (d *WireDecoder) address(b []byte, at **corev3.Address) bool {
	if *at != nil {
		return false
	}
	a := d.addr.get()
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.num != 1 || f.typ != protowire.BytesType || a.Address != nil {
			return false // a pipe or internal address, or a repeat
		}
		b = f.rest
		s := d.sock.get()
		if !d.socketAddress(f.s, s) {
			return false
		}
		w := d.sockOne.get()
		w.SocketAddress = s
		a.Address = w
	}
	*at = a
	return true
}

func (d *WireDecoder) socketAddress(b []byte, s *corev3.SocketAddress) bool {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok {
			return false
		}
		b = f.rest
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			s.Protocol = corev3.SocketAddress_Protocol(int32(f.v))
		case f.num == 2 && f.typ == protowire.BytesType:
			if s.Address, ok = text(f.s); !ok {
				return false
			}
		case f.num == 3 && f.typ == protowire.VarintType:
			p := d.portNum.get()
			p.PortValue = uint32(f.v)
			s.PortSpecifier = p
		case f.num == 4 && f.typ == protowire.BytesType:
			p := d.portStr.get()
			if p.NamedPort, ok = text(f.s); !ok {
				return false
			}
			s.PortSpecifier = p
		case f.num == 5 && f.typ == protowire.BytesType:
			if s.ResolverName, ok = text(f.s); !ok {
				return false
			}
		case f.num == 6 && f.typ == protowire.VarintType:
			s.Ipv4Compat = f.v != 0
		case f.num == 7 && f.typ == protowire.BytesType:
			if s.NetworkNamespaceFilepath, ok = text(f.s); !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (d *WireDecoder) tlsProperties(b []byte, t *alsdata.TLSProperties) bool {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok {
			return false
		}
		b = f.rest
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			t.TlsVersion = alsdata.TLSProperties_TLSVersion(int32(f.v))
		case f.typ != protowire.BytesType:
			return false
		case f.num == 2:
			ok = d.uint32Value(f.s, &t.TlsCipherSuite)
		case f.num == 3:
			t.TlsSniHostname, ok = text(f.s)
		case f.num == 4:
			ok = d.certificate(f.s, &t.LocalCertificateProperties)
		case f.num == 5:
			ok = d.certificate(f.s, &t.PeerCertificateProperties)
		case f.num == 6:
			t.TlsSessionId, ok = text(f.s)
		case f.num == 7:
			t.Ja3Fingerprint, ok = text(f.s)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

func (d *WireDecoder) certificate(b []byte, at **alsdata.TLSProperties_CertificateProperties) bool {
	if *at != nil {
		return false
	}
	c := d.cert.get()
	start := len(d.sans.buf)
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.typ != protowire.BytesType {
			return false
		}
		b = f.rest
		switch f.num {
		case 1:
			san := d.san.get()
			for s := f.s; len(s) > 0; {
				var g field
				ok := next(s, &g)
				if !ok || g.typ != protowire.BytesType {
					return false
				}
				s = g.rest
				v, ok := text(g.s)
				if !ok {
					return false
				}
				switch g.num {
				case 1:
					u := d.sanURI.get()
					u.Uri = v
					san.San = u
				case 2:
					n := d.sanDNS.get()
					n.Dns = v
					san.San = n
				default:
					return false
				}
			}
			// Appended in one backing array; a certificate's names are
			// contiguous as long as no other certificate interleaves,
			// which the loop here guarantees.
			d.sans.buf = append(d.sans.buf, san)
		case 2:
			if c.Subject, ok = text(f.s); !ok {
				return false
			}
		case 3:
			if c.Issuer, ok = text(f.s); !ok {
				return false
			}
		default:
			return false
		}
	}
	if n := len(d.sans.buf) - start; n > 0 {
		c.SubjectAltName = d.sans.buf[start : start+n : start+n]
	}
	*at = c
	return true
}

func (d *WireDecoder) responseFlags(b []byte, r *alsdata.ResponseFlags) bool {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok {
			return false
		}
		b = f.rest
		if f.num == 13 {
			if f.typ != protowire.BytesType || r.UnauthorizedDetails != nil {
				return false
			}
			u := d.unauth.get()
			for s := f.s; len(s) > 0; {
				var g field
				ok := next(s, &g)
				if !ok || g.num != 1 || g.typ != protowire.VarintType {
					return false
				}
				s = g.rest
				u.Reason = alsdata.ResponseFlags_Unauthorized_Reason(int32(g.v))
			}
			r.UnauthorizedDetails = u
			continue
		}
		if f.typ != protowire.VarintType {
			return false
		}
		on := f.v != 0
		switch f.num {
		case 1:
			r.FailedLocalHealthcheck = on
		case 2:
			r.NoHealthyUpstream = on
		case 3:
			r.UpstreamRequestTimeout = on
		case 4:
			r.LocalReset = on
		case 5:
			r.UpstreamRemoteReset = on
		case 6:
			r.UpstreamConnectionFailure = on
		case 7:
			r.UpstreamConnectionTermination = on
		case 8:
			r.UpstreamOverflow = on
		case 9:
			r.NoRouteFound = on
		case 10:
			r.DelayInjected = on
		case 11:
			r.FaultInjected = on
		case 12:
			r.RateLimited = on
		case 14:
			r.RateLimitServiceError = on
		case 15:
			r.DownstreamConnectionTermination = on
		case 16:
			r.UpstreamRetryLimitExceeded = on
		case 17:
			r.StreamIdleTimeout = on
		case 18:
			r.InvalidEnvoyRequestHeaders = on
		case 19:
			r.DownstreamProtocolError = on
		case 20:
			r.UpstreamMaxStreamDurationReached = on
		case 21:
			r.ResponseFromCacheFilter = on
		case 22:
			r.NoFilterConfigFound = on
		case 23:
			r.DurationTimeout = on
		case 24:
			r.UpstreamProtocolError = on
		case 25:
			r.NoClusterFound = on
		case 26:
			r.OverloadManager = on
		case 27:
			r.DnsResolutionFailure = on
		case 28:
			r.DownstreamRemoteReset = on
		default:
			return false
		}
	}
	return true
}

func (d *WireDecoder) duration(b []byte, at **durationpb.Duration) bool {
	if *at != nil {
		return false
	}
	v := d.dur.get()
	var ok bool
	v.Seconds, v.Nanos, ok = secondsNanos(b)
	*at = v
	return ok
}

// secondsNanos reads a Timestamp or Duration: seconds (1) and nanos (2).
func secondsNanos(b []byte) (sec int64, nanos int32, ok bool) {
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.typ != protowire.VarintType {
			return 0, 0, false
		}
		b = f.rest
		switch f.num {
		case 1:
			sec = int64(f.v)
		case 2:
			nanos = int32(f.v)
		default:
			return 0, 0, false
		}
	}
	return sec, nanos, true
}

func (d *WireDecoder) uint32Value(b []byte, at **wrapperspb.UInt32Value) bool {
	if *at != nil {
		return false
	}
	v := d.u32.get()
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.num != 1 || f.typ != protowire.VarintType {
			return false
		}
		b = f.rest
		v.Value = uint32(f.v)
	}
	*at = v
	return true
}

func (d *WireDecoder) stringMap() map[string]string { return d.strMaps.get() }

// stringEntry reads a map<string, string> entry into m.
func stringEntry(b []byte, m map[string]string) bool {
	var k, v string
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.typ != protowire.BytesType {
			return false
		}
		b = f.rest
		switch f.num {
		case 1:
			k, ok = text(f.s)
		case 2:
			v, ok = text(f.s)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	m[k] = v
	return true
}

// anyEntry reads a map<string, Any> entry into m; a missing value is an
// empty Any, as protobuf-go makes it.
func (d *WireDecoder) anyEntry(b []byte, m map[string]*anypb.Any) bool {
	var k string
	val := d.anys.get()
	seen := false
	for len(b) > 0 {
		var f field
		ok := next(b, &f)
		if !ok || f.typ != protowire.BytesType {
			return false
		}
		b = f.rest
		switch f.num {
		case 1:
			if k, ok = text(f.s); !ok {
				return false
			}
		case 2:
			if seen {
				return false // a value in parts merges; protobuf-go decides
			}
			seen = true
			for s := f.s; len(s) > 0; {
				var g field
				ok := next(s, &g)
				if !ok || g.typ != protowire.BytesType {
					return false
				}
				s = g.rest
				switch g.num {
				case 1:
					if val.TypeUrl, ok = text(g.s); !ok {
						return false
					}
				case 2:
					val.Value = g.s
				default:
					return false
				}
			}
		default:
			return false
		}
	}
	m[k] = val
	return true
}

// text returns b as a string without copying, if it is UTF-8 (protobuf-go
// refuses other proto3 strings).
func text(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", true
	}
	s := unsafe.String(unsafe.SliceData(b), len(b))
	return s, utf8.ValidString(s)
}

// field is one field read by next; s is a BytesType field's value.
type field struct {
	num  protowire.Number
	typ  protowire.Type
	v    uint64
	s    []byte
	rest []byte
}

// next reads the field at the start of b into f. Groups and fixed32 fields,
// which none of the covered messages has, answer false. f is the caller's
// rather than a result: a field returned by value went through memory and
// cost more than reading it.
func next(b []byte, f *field) bool {
	var n int
	if b[0] < 0x80 {
		f.num, f.typ, n = protowire.Number(b[0]>>3), protowire.Type(b[0]&7), 1
		if f.num == 0 {
			return false
		}
	} else if f.num, f.typ, n = protowire.ConsumeTag(b); n < 0 {
		return false
	}
	b = b[n:]
	switch f.typ {
	case protowire.VarintType:
		if len(b) > 0 && b[0] < 0x80 {
			f.v, n = uint64(b[0]), 1
		} else {
			f.v, n = protowire.ConsumeVarint(b)
		}
	case protowire.Fixed64Type:
		f.v, n = protowire.ConsumeFixed64(b)
	case protowire.BytesType:
		if len(b) > 0 && int(b[0]) < len(b) && b[0] < 0x80 {
			l := int(b[0])
			f.s, n = b[1:1+l:1+l], 1+l
		} else {
			var s []byte
			s, n = protowire.ConsumeBytes(b)
			f.s = s[:len(s):len(s)]
		}
	default:
		return false
	}
	if n < 0 {
		return false
	}
	f.rest = b[n:]
	return true
}
