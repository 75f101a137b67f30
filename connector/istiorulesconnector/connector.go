package istiorulesconnector

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/runtime"
)

// The collector creates one connector per pair of pipeline types it joins, so
// one istio_rules ID used towards both a metrics and a logs pipeline gives two
// instances that receive the same bags. They share one core: one engine, one
// series table, and each bag is dispatched once.
var (
	coresMu sync.Mutex
	cores   = map[component.ID]*core{}
)

type core struct {
	set     connector.Settings
	cfg     *Config
	metrics consumer.Metrics // nil without a metrics pipeline
	logs    consumer.Logs    // nil without a logs pipeline

	mu       sync.Mutex
	refs     int
	started  int
	attached atomic.Pointer[runtime.Attached]
	flushDur metric.Float64Histogram
	refused  metric.Int64Counter
	// refusedWarned is when the last refusal by the logs pipeline was
	// logged (unix nanoseconds), to log one a minute at most.
	refusedWarned atomic.Int64
	stop          chan struct{}
	done          chan struct{}
}

func acquire(set connector.Settings, cfg *Config) *core {
	coresMu.Lock()
	defer coresMu.Unlock()
	c := cores[set.ID]
	if c == nil {
		c = &core{set: set, cfg: cfg}
		cores[set.ID] = c
	}
	c.refs++
	return c
}

func (c *core) start(host component.Host) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started++
	if c.started > 1 {
		return nil
	}
	a, err := runtime.Attach(host, c.cfg.Config, runtime.Options{
		MaxSeriesPerMetric: c.cfg.MaxSeriesPerMetric,
		Logger:             c.set.Logger,
		SkipPrometheus:     c.metrics == nil,
		PackedRecords:      c.cfg.RecordEncoding == instancerecord.EncodingPacked,
	})
	if err != nil {
		return err
	}
	meter := c.set.MeterProvider.Meter("github.com/otelcol-istio/otelcol-istio/connector/istiorulesconnector")
	if err := a.RegisterTelemetry(meter); err != nil {
		_ = a.Detach()
		return err
	}
	if c.flushDur, err = meter.Float64Histogram("otelcol_istio_rules_flush_duration",
		metric.WithDescription("Time to emit the full state of the metrics at a flush."), metric.WithUnit("s")); err != nil {
		_ = a.Detach()
		return err
	}
	if c.refused, err = meter.Int64Counter("otelcol_istio_rules_records_refused",
		metric.WithDescription("Instance log records the logs pipeline refused (all of a batch, unless its error names the records that failed), while their bags were counted in the metrics."),
		metric.WithUnit("{record}")); err != nil {
		_ = a.Detach()
		return err
	}
	// Exported at 0 from the start, so that "nothing lost" is a value.
	c.refused.Add(context.Background(), 0)
	c.attached.Store(a)
	if c.metrics != nil {
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.flushLoop()
	}
	return nil
}

func (c *core) shutdown(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started == 0 {
		c.release()
		return nil
	}
	c.started--
	if c.started > 0 {
		c.release()
		return nil
	}
	var errs []error
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop = nil
		errs = append(errs, c.flush(ctx)) // the final state
	}
	errs = append(errs, c.attached.Swap(nil).Detach())
	c.release()
	return errors.Join(errs...)
}

func (c *core) release() {
	coresMu.Lock()
	defer coresMu.Unlock()
	c.refs--
	if c.refs <= 0 && cores[c.set.ID] == c {
		delete(cores, c.set.ID)
	}
}

func (c *core) flushLoop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if err := c.flush(context.Background()); err != nil {
				c.set.Logger.Warn("emitting metrics failed", zap.Error(err))
			}
		}
	}
}

func (c *core) flush(ctx context.Context) error {
	e := c.engine()
	if e == nil {
		return nil
	}
	began := time.Now()
	md := e.Metrics()
	if md.DataPointCount() == 0 {
		return nil
	}
	err := c.metrics.ConsumeMetrics(ctx, md)
	if c.flushDur != nil {
		c.flushDur.Record(ctx, time.Since(began).Seconds())
	}
	return err
}

func (c *core) engine() *runtime.Engine {
	if a := c.attached.Load(); a != nil {
		return a.Engine()
	}
	return nil
}

// dispatch runs the bags of ld through the rules and forwards the produced
// log records.
func (c *core) dispatch(ctx context.Context, ld plog.Logs) error {
	e := c.engine()
	if e == nil {
		c.set.Logger.Debug("no Istio configuration yet; bags not dispatched", zap.Int("records", ld.LogRecordCount()))
		return nil
	}
	out := plog.NewLogs()
	e.Dispatch(ld, out)
	if c.logs == nil || out.LogRecordCount() == 0 {
		return nil
	}
	err := c.logs.ConsumeLogs(ctx, out)
	if err == nil || c.metrics == nil {
		return err
	}
	// The bags are in the series already. Passing the refusal back would
	// tell the sender "overloaded" for reports that stay counted, close
	// Envoy's ALS stream, and let a stalled log output (a full queue behind
	// a blocked stdout) take the metrics down with it. The records are
	// lost instead, and counted.
	n := out.LogRecordCount()
	var part consumererror.Logs
	if errors.As(err, &part) {
		n = part.Data().LogRecordCount() // the records that failed, when the error says
	}
	c.logsRefused(ctx, n, err)
	return nil
}

const refusedWarnEvery = time.Minute

func (c *core) logsRefused(ctx context.Context, n int, err error) {
	c.refused.Add(ctx, int64(n))
	now := time.Now().UnixNano()
	last := c.refusedWarned.Load()
	if now-last < int64(refusedWarnEvery) || !c.refusedWarned.CompareAndSwap(last, now) {
		return
	}
	c.set.Logger.Warn("the logs pipeline refused instance records; their bags are still counted in the metrics "+
		"(otelcol_istio_rules_records_refused counts the records; this is logged once a minute at most)",
		zap.Int("records", n), zap.Error(err))
}

// side is the connector of one pipeline pair.
type side struct {
	core   *core
	isLogs bool
}

func (s *side) Start(_ context.Context, host component.Host) error { return s.core.start(host) }

func (s *side) Shutdown(ctx context.Context) error { return s.core.shutdown(ctx) }

func (s *side) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: false} }

// ConsumeLogs dispatches the bags once: on the logs side when there is one,
// else on the metrics side.
func (s *side) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if !s.isLogs && s.core.logs != nil {
		return nil
	}
	return s.core.dispatch(ctx, ld)
}
