package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// The grpc-floor variant measures what any Go receiver of Mixer Reports
// pays before it decodes anything: a bare grpc-go server, set up as the
// mixer receiver sets up its own (1 MiB flow-control windows, stream
// workers, the request copied into reused memory, an empty ReportResponse
// back), that only counts the report elements of each request. The driver
// runs itself as that server, with the collectors' environment.

// floorCommand, as the driver's first argument, makes it the server:
// floorCommand GRPC-ADDRESS METRICS-ADDRESS.
const floorCommand = "serve-grpc-floor"

// floorReportsMetric is the server's count of the report elements it took
// in, at http://METRICS-ADDRESS/metrics.
const floorReportsMetric = "e2e_floor_reports_total"

// floorWindow is the mixer receiver's default flow-control window.
const floorWindow = 1 << 20

func serveFloor(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: %s GRPC-ADDRESS METRICS-ADDRESS", floorCommand)
	}
	f := newFloor()
	metrics, err := net.Listen("tcp", args[1])
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(metrics, f) }()
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	return f.server().Serve(l)
}

// floor is the bare server's state: the reports counted, and the request
// buffers for reuse.
type floor struct {
	reports atomic.Int64
	bufs    sync.Pool
}

func newFloor() *floor {
	return &floor{bufs: sync.Pool{New: func() any { return new([]byte) }}}
}

func (f *floor) server() *grpc.Server {
	s := grpc.NewServer(
		grpc.ForceServerCodecV2(floorCodec{proto: encoding.GetCodecV2(grpcproto.Name)}),
		grpc.InitialWindowSize(floorWindow), grpc.InitialConnWindowSize(floorWindow),
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))))
	s.RegisterService(&floorServiceDesc, f)
	return s
}

// ServeHTTP writes the count in the Prometheus text format.
func (f *floor) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", floorReportsMetric, floorReportsMetric, f.reports.Load())
}

// floorRequest is a Report request's bytes.
type floorRequest struct{ b *[]byte }

// floorCodec is gRPC's protobuf codec, except that a floorRequest gets a
// copy of the request's bytes (gRPC reuses them once Unmarshal returns).
type floorCodec struct{ proto encoding.CodecV2 }

func (c floorCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c floorCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*floorRequest); ok {
		n := data.Len()
		if cap(*r.b) < n {
			*r.b = make([]byte, n)
		}
		*r.b = (*r.b)[:n]
		data.CopyTo(*r.b)
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (floorCodec) Name() string { return grpcproto.Name }

var floorServiceDesc = grpc.ServiceDesc{
	ServiceName: mixerpb.Mixer_ServiceDesc.ServiceName,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Report", Handler: floorReport}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    mixerpb.Mixer_ServiceDesc.Metadata,
}

func floorReport(srv any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	f := srv.(*floor)
	b := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(b)
	if err := dec(&floorRequest{b: b}); err != nil {
		return nil, err
	}
	n, err := countReports(*b)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	f.reports.Add(int64(n))
	return &mixerpb.ReportResponse{}, nil
}

// countReports counts the elements of a ReportRequest's field 1
// (attributes, one per report) and checks that the request's top level is
// well formed; it does not look inside the elements.
func countReports(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		num, typ, w := protowire.ConsumeTag(b)
		if w < 0 {
			return n, errors.New("invalid ReportRequest: bad tag")
		}
		b = b[w:]
		w = protowire.ConsumeFieldValue(num, typ, b)
		if w < 0 {
			return n, fmt.Errorf("invalid ReportRequest: field %d: %v", num, protowire.ParseError(w))
		}
		if num == 1 && typ == protowire.BytesType {
			n++
		}
		b = b[w:]
	}
	return n, nil
}
