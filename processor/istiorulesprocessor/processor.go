package istiorulesprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/runtime"
)

// rulesProcessor replaces attribute-bag records with the instance records the
// rules produce from them. Prometheus handlers are skipped: series need the
// istio_rules connector, which has a metrics output.
type rulesProcessor struct {
	set      processor.Settings
	cfg      *Config
	attached *runtime.Attached
}

func (p *rulesProcessor) start(_ context.Context, host component.Host) error {
	a, err := runtime.Attach(host, p.cfg.Config, runtime.Options{
		Logger:         p.set.Logger,
		SkipPrometheus: true,
		PackedRecords:  p.cfg.RecordEncoding == instancerecord.EncodingPacked,
	})
	if err != nil {
		return err
	}
	if err := a.RegisterTelemetry(p.set.MeterProvider.Meter("github.com/otelcol-istio/otelcol-istio/processor/istiorulesprocessor")); err != nil {
		_ = a.Detach()
		return err
	}
	p.attached = a
	return nil
}

func (p *rulesProcessor) shutdown(context.Context) error {
	if p.attached == nil {
		return nil
	}
	err := p.attached.Detach()
	p.attached = nil
	return err
}

func (p *rulesProcessor) process(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	e := p.attached.Engine()
	if e == nil {
		return ld, nil // no configuration yet: pass everything through
	}
	out := plog.NewLogs()
	e.Dispatch(ld, out)
	if p.cfg.KeepAttributes {
		out.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
		return ld, nil
	}
	// Everything that is not a bag passes through untouched.
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(bagrecord.IsBag)
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	out.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	if ld.LogRecordCount() == 0 {
		return ld, processorhelper.ErrSkipProcessingData
	}
	return ld, nil
}
