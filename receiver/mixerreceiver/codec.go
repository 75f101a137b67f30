package mixerreceiver // import "github.com/otelcol-istio/otelcol-istio/receiver/mixerreceiver"

import (
	"context"
	"fmt"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-istio/otelcol-istio/internal/als"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// Report requests reach the decoder as wire bytes: internal/mixerreport
// reads them itself, which saves protobuf-go's eight Go maps per report (the
// largest cost of receiving) and accepts words that are not UTF-8, as
// Mixer did. ALS messages do too: als.WireDecoder reads the usual ones
// into messages it reuses, protobuf-go the rest. Everything else goes
// through gRPC's protobuf codec.

// rawMessage is a Report request or an ALS stream message kept as its
// wire bytes, in a buffer of bufs when that is set.
type rawMessage struct {
	b    []byte
	bufs *requestBuffers
}

// release hands the buffer back for the next request.
func (r *rawMessage) release() {
	r.bufs.put(r.b)
	r.b = nil
}

// requestBuffers keeps the buffers that Report requests and ALS messages
// were copied into, for the next ones. Only a receiver that writes packed
// records uses it: they copy what they keep, while attribute records point
// into the request. (The ALS mapper's per-stream caches copy what they
// keep in either form.) It keeps at most pooledRequests buffers, none
// larger than maxPooledRequest.
type requestBuffers struct{ free chan []byte }

const (
	pooledRequests = 16
	// A proxy's Report is 30–50 kB and an ALS message about 16 KiB
	// (Envoy's default buffer_size_bytes): rarer, larger requests get
	// memory of their own.
	maxPooledRequest = 1 << 20
	// minRequestBuffer rounds small requests up, so that a buffer fits
	// the next request of about the same size.
	minRequestBuffer = 16 << 10
)

func newRequestBuffers() *requestBuffers {
	return &requestBuffers{free: make(chan []byte, pooledRequests)}
}

// get returns a buffer of length n, reused when one is big enough.
func (p *requestBuffers) get(n int) []byte {
	select {
	case b := <-p.free:
		if cap(b) >= n {
			return b[:n]
		}
	default:
	}
	// A power of two: requests of one proxy vary a little in size.
	size := minRequestBuffer
	for size < n {
		size <<= 1
	}
	return make([]byte, n, size)
}

// put offers b for reuse; nil p (no pooling) or an oversized b drops it.
func (p *requestBuffers) put(b []byte) {
	if p == nil || b == nil || cap(b) > maxPooledRequest {
		return
	}
	select {
	case p.free <- b:
	default:
	}
}

// codec is gRPC's protobuf codec, except that it hands a rawMessage its
// bytes.
type codec struct{ proto encoding.CodecV2 }

func newCodec() (codec, error) {
	c := encoding.GetCodecV2(grpcproto.Name)
	if c == nil {
		return codec{}, fmt.Errorf("gRPC has no %q codec", grpcproto.Name)
	}
	return codec{proto: c}, nil
}

func (c codec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	// A copy: gRPC reuses data once this returns. It is new for each
	// message unless the handler has buffers to reuse (see requestBuffers).
	if r, ok := v.(*rawMessage); ok {
		if r.bufs != nil {
			r.b = r.bufs.get(data.Len())
			data.CopyTo(r.b)
			return nil
		}
		r.b = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (codec) Name() string { return grpcproto.Name }

// mixerAPI is what serves istio.mixer.v1.Mixer.
type mixerAPI interface {
	report(ctx context.Context, raw []byte) (*mixerpb.ReportResponse, error)
	// buffers is where Report requests are copied to; nil for new memory
	// each time.
	buffers() *requestBuffers
	check(ctx context.Context, req *mixerpb.CheckRequest) (*mixerpb.CheckResponse, error)
}

// mixerServiceDesc is mixerpb.Mixer_ServiceDesc with a Report handler that
// takes the request as bytes.
var mixerServiceDesc = grpc.ServiceDesc{
	ServiceName: mixerpb.Mixer_ServiceDesc.ServiceName,
	HandlerType: (*mixerAPI)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Check", Handler: checkHandler},
		{MethodName: "Report", Handler: reportHandler},
	},
	Streams:  []grpc.StreamDesc{},
	Metadata: mixerpb.Mixer_ServiceDesc.Metadata,
}

func reportHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	api := srv.(mixerAPI)
	in := &rawMessage{bufs: api.buffers()}
	// Once report has returned, its records are handed on and nothing
	// holds the bytes any more.
	defer in.release()
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return api.report(ctx, in.b)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: mixerpb.Mixer_Report_FullMethodName}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return api.report(ctx, req.(*rawMessage).b)
	})
}

func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(mixerpb.CheckRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	api := srv.(mixerAPI)
	if interceptor == nil {
		return api.check(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: mixerpb.Mixer_Check_FullMethodName}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return api.check(ctx, req.(*mixerpb.CheckRequest))
	})
}

// alsServiceDesc is alsv3.AccessLogService_ServiceDesc with a stream handler
// that receives messages as bytes.
var alsServiceDesc = alsDesc(alsv3.AccessLogService_ServiceDesc.ServiceName, alsv3.AccessLogService_ServiceDesc.Metadata.(string))

// alsV2ServiceDesc is the same service on the v2 API, which the Envoys of
// Istio 1.3 to 1.8 stream to (meshConfig enableEnvoyAccessLogService). Its
// messages have the v3 messages' field numbers (v3 only added fields), so
// one decoder reads both.
var alsV2ServiceDesc = alsDesc("envoy.service.accesslog.v2.AccessLogService", "envoy/service/accesslog/v2/als.proto")

func alsDesc(service, file string) grpc.ServiceDesc {
	return grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*alsAPI)(nil),
		Methods:     []grpc.MethodDesc{},
		Streams: []grpc.StreamDesc{{
			StreamName:    "StreamAccessLogs",
			Handler:       func(srv any, stream grpc.ServerStream) error { return srv.(alsAPI).streamAccessLogs(stream) },
			ClientStreams: true,
		}},
		Metadata: file,
	}
}

// alsAPI is what serves envoy.service.accesslog.v3.AccessLogService and its
// v2.
type alsAPI interface {
	streamAccessLogs(stream grpc.ServerStream) error
}

// alsStream receives a stream's messages: by the WireDecoder where it
// can, else by protobuf-go.
type alsStream struct {
	stream grpc.ServerStream
	dec    *als.WireDecoder
	raw    rawMessage
	slow   alsv3.StreamAccessLogsMessage
}

// recv returns the next message, valid until the next recv.
func (s *alsStream) recv() (*alsv3.StreamAccessLogsMessage, error) {
	if err := s.stream.RecvMsg(&s.raw); err != nil {
		return nil, err
	}
	if msg, ok := s.dec.Decode(s.raw.b); ok {
		return msg, nil
	}
	s.slow.Reset()
	if err := proto.Unmarshal(s.raw.b, &s.slow); err != nil {
		return nil, status.Errorf(codes.Internal, "grpc: error unmarshalling request: %v", err)
	}
	return &s.slow, nil
}
