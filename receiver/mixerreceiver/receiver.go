package mixerreceiver // import "github.com/otelcol-istio/otelcol-istio/receiver/mixerreceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otelcol-istio/otelcol-istio/internal/als"
	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

const (
	// scopeName is the instrumentation scope of every record the receiver
	// emits.
	scopeName = "github.com/otelcol-istio/otelcol-istio/receiver/mixerreceiver"

	// overloaded is Mixer's load-shedding answer (gRPC UNAVAILABLE), given
	// when the next consumer refuses the data: the proxy drops the batch,
	// as it did when Mixer shed load.
	overloaded = "Server is currently overloaded. Please try again."

	// A Check answer is cached by the proxy this long and this many times
	// (Mixer's defaults, mixer-semantics.md §a.5).
	checkValidDuration = time.Minute
	checkValidUseCount = 10000

	// shutdownGrace bounds the wait for in-flight calls on Shutdown: ALS
	// streams never end on their own.
	shutdownGrace = 2 * time.Second
)

type mixerReceiver struct {
	cfg    *Config
	set    receiver.Settings
	next   consumer.Logs
	obsrep *receiverhelper.ObsReport

	global   []string
	decoders sync.Pool // *mixerreport.Decoder: they keep scratch buffers

	// bufs keeps the memory requests and ALS messages are read into, with
	// packed records only (see requestBuffers); nil otherwise.
	bufs *requestBuffers

	server *grpc.Server
	addr   net.Addr // where it listens, once started
	served sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*mixerReceiver, error) {
	obsrep, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "grpc",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, fmt.Errorf("mixer receiver %s: %w", set.ID, err)
	}
	r := &mixerReceiver{cfg: cfg, set: set, next: next, obsrep: obsrep, global: attribute.GlobalDictionary()}
	packed := cfg.RecordEncoding == EncodingPacked
	if packed {
		r.bufs = newRequestBuffers()
	}
	r.decoders.New = func() any {
		d := mixerreport.NewDecoder(r.global)
		d.SetPacked(packed)
		return d
	}
	return r, nil
}

func (r *mixerReceiver) Start(ctx context.Context, host component.Host) error {
	c, err := newCodec()
	if err != nil {
		return fmt.Errorf("mixer receiver %s: %w", r.set.ID, err)
	}
	opts := []configgrpc.ToServerOption{
		configgrpc.WithGrpcServerOption(grpc.ForceServerCodecV2(c)),
		// Calls run on long-lived goroutines, one per P, whose stacks stay
		// grown: a new goroutine per call grows its stack through the whole
		// pipeline each time (3–6 % of the CPU of the default config). A
		// call that finds every worker busy, as behind long-lived ALS
		// streams, gets a goroutine of its own, as without workers.
		configgrpc.WithGrpcServerOption(grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0)))),
	}
	if w := r.cfg.InitialWindowSize; w > 0 {
		opts = append(opts, configgrpc.WithGrpcServerOption(grpc.InitialWindowSize(w)))
	}
	if w := r.cfg.InitialConnWindowSize; w > 0 {
		opts = append(opts, configgrpc.WithGrpcServerOption(grpc.InitialConnWindowSize(w)))
	}
	srv, err := r.cfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, opts...)
	if err != nil {
		return fmt.Errorf("mixer receiver %s: gRPC server: %w", r.set.ID, err)
	}
	srv.RegisterService(&mixerServiceDesc, &mixerService{r: r})
	srv.RegisterService(&alsServiceDesc, &alsService{r: r})
	srv.RegisterService(&alsV2ServiceDesc, &alsService{r: r})
	ln, err := r.cfg.NetAddr.Listen(ctx)
	if err != nil {
		return fmt.Errorf("mixer receiver %s: listen on %s: %w", r.set.ID, r.cfg.NetAddr.Endpoint, err)
	}
	r.server, r.addr = srv, ln.Addr()
	r.set.Logger.Info("Serving Mixer Report/Check and Envoy ALS", zap.String("endpoint", r.addr.String()))
	r.served.Add(1)
	go func() {
		defer r.served.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

// Shutdown lets in-flight Reports finish, then closes what is left (ALS
// streams stay open for as long as Envoy runs).
func (r *mixerReceiver) Shutdown(ctx context.Context) error {
	if r.server == nil {
		return nil
	}
	stopped := make(chan struct{})
	go func() {
		r.server.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(shutdownGrace)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		r.server.Stop()
	case <-ctx.Done():
		r.server.Stop()
	}
	<-stopped
	r.served.Wait()
	return nil
}

// newLogs returns an empty Logs with the receiver's scope, and its records.
func newLogs() (plog.Logs, plog.LogRecordSlice) {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	return ld, sl.LogRecords()
}

// consume hands one call's records on, synchronously, so that nothing is
// buffered here and a refusal reaches the client.
func (r *mixerReceiver) consume(ctx context.Context, format string, ld plog.Logs, n int) error {
	ctx = r.obsrep.StartLogsOp(ctx)
	err := r.next.ConsumeLogs(ctx, ld)
	r.obsrep.EndLogsOp(ctx, format, n, err)
	return err
}

// mixerService is istio.mixer.v1.Mixer (see mixerServiceDesc).
type mixerService struct {
	r *mixerReceiver
}

func (s *mixerService) buffers() *requestBuffers { return s.r.bufs }

// report turns every element of a Report request (its wire bytes) into a
// bag record and answers as Mixer did: INTERNAL for bytes that are not a
// request or a newer global dictionary, UNAVAILABLE when the pipeline
// refuses the data, UNKNOWN listing the elements that failed (the others
// are still delivered), else OK (also for an empty request).
func (s *mixerService) report(ctx context.Context, raw []byte) (*mixerpb.ReportResponse, error) {
	r := s.r
	now := time.Now()
	d := r.decoders.Get().(*mixerreport.Decoder)
	ld, records := newLogs()
	res, err := d.DecodeWire(raw, records, now)
	if err != nil {
		r.decoders.Put(d)
		var we *mixerreport.WireError
		if errors.As(err, &we) {
			// gRPC's own words for a request its codec cannot read.
			return nil, status.Error(codes.Internal, "grpc: error unmarshalling request: "+we.Err.Error())
		}
		r.set.Logger.Warn("Report refused", zap.Error(err))
		return nil, status.Error(codes.Internal, err.Error())
	}
	var failed string
	if len(res.Errors) > 0 {
		failed = mixerreport.ReportErrorMessage(res.Errors)
		r.set.Logger.Warn("Report elements failed",
			zap.Int("failed", len(res.Errors)), zap.Int("reported", res.Reports), zap.String("errors", failed))
		// Count them as items that failed in this receiver.
		fctx := r.obsrep.StartLogsOp(ctx)
		r.obsrep.EndLogsOp(fctx, "mixer", len(res.Errors), errors.New(failed))
	}
	if res.Dropped > 0 {
		msgs := make([]string, len(res.Warnings))
		for i, w := range res.Warnings {
			msgs[i] = fmt.Sprintf("element %d: %s", w.Index, w.Message)
		}
		r.set.Logger.Warn("Report attributes left out", zap.Int("dropped", res.Dropped), zap.Strings("first", msgs))
	}
	r.decoders.Put(d)

	if n := records.Len(); n > 0 {
		if err := r.consume(ctx, "mixer", ld, n); err != nil {
			return nil, status.Error(codes.Unavailable, overloaded)
		}
	}
	if failed != "" {
		return nil, status.Error(codes.Unknown, failed)
	}
	return &mixerpb.ReportResponse{}, nil
}

// check answers as Mixer did with no check rules (policy disabled): OK,
// cacheable, and every requested quota granted in full.
func (s *mixerService) check(_ context.Context, req *mixerpb.CheckRequest) (*mixerpb.CheckResponse, error) {
	if n := req.GetGlobalWordCount(); uint64(n) > uint64(len(s.r.global)) {
		err := &mixerreport.DictionaryError{Known: len(s.r.global), Caller: int(n)}
		return nil, status.Error(codes.Internal, err.Error())
	}
	resp := &mixerpb.CheckResponse{
		// The proxy rejects a response without a precondition.
		Precondition: &mixerpb.CheckResponse_PreconditionResult{
			Status:               &mixerpb.Status{},
			ValidDuration:        durationpb.New(checkValidDuration),
			ValidUseCount:        checkValidUseCount,
			ReferencedAttributes: &mixerpb.ReferencedAttributes{},
		},
	}
	if len(req.GetQuotas()) > 0 {
		resp.Quotas = make(map[string]*mixerpb.CheckResponse_QuotaResult, len(req.GetQuotas()))
		for name, q := range req.GetQuotas() {
			resp.Quotas[name] = &mixerpb.CheckResponse_QuotaResult{
				ValidDuration:        durationpb.New(checkValidDuration),
				GrantedAmount:        q.GetAmount(),
				ReferencedAttributes: &mixerpb.ReferencedAttributes{},
			}
		}
	}
	return resp, nil
}

// alsService is envoy.service.accesslog.v3.AccessLogService, and v2.
type alsService struct {
	r *mixerReceiver
}

// streamAccessLogs maps every message of a stream to bag records, one
// plog.Logs per message. Envoy never waits for an answer; the only signal
// back is closing the stream, which is what a refusal by the pipeline does
// (Envoy reconnects, the entries of that message are lost).
func (s *alsService) streamAccessLogs(stream grpc.ServerStream) error {
	r := s.r
	m := als.NewPackingMapper(r.cfg.RecordEncoding == EncodingPacked)
	in := alsStream{stream: stream, dec: als.NewWireDecoder(), raw: rawMessage{bufs: r.bufs}}
	defer in.raw.release()
	for {
		// The last message's records are handed on: its memory can take
		// the next one.
		in.raw.release()
		msg, err := in.recv()
		if errors.Is(err, io.EOF) {
			return stream.SendMsg(&alsv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		ld, records := newLogs()
		n := m.Map(msg, records, time.Now())
		if n == 0 {
			continue
		}
		if err := r.consume(stream.Context(), "envoy_als", ld, n); err != nil {
			r.set.Logger.Warn("Closing ALS stream: the pipeline refused its entries",
				zap.String("log_name", m.LogName()), zap.Int("entries", n), zap.Error(err))
			return status.Error(codes.Unavailable, overloaded)
		}
	}
}
