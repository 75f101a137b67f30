package istiostdioexporter // import "github.com/otelcol-istio/otelcol-istio/exporter/istiostdioexporter"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/stdiofmt"
)

// ParamsSource gives the params of stdio handlers by handler FQN
// (`handler.stdio.istio-system`). The istio_config extension implements it;
// ok is false when no stdio handler of that name is configured.
type ParamsSource interface {
	StdioParams(handlerFQN string) (params istioconfig.StdioParams, ok bool)
}

// stdioAdapter is the istio.adapter scope attribute of stdio handlers.
const stdioAdapter = "stdio"

type stdioExporter struct {
	cfg    *Config
	logger *zap.Logger
	// source is set by start; nil means every handler gets the defaults.
	source   ParamsSource
	defaults istioconfig.StdioParams

	// stdout and stderr are the process streams; tests replace them.
	stdout, stderr io.Writer

	mu      sync.Mutex
	outputs map[outputKey]*output
	closed  bool
	// stop is closed when shutdown_timeout has passed after shutdown
	// began: the process streams are not waited for any more.
	stop     chan struct{}
	stopOnce sync.Once
	// gaveUpLogged logs the first stream given up on, once.
	gaveUpLogged sync.Once
	// dropped counts the lines given up on at shutdown, for one summary:
	// the collector samples its log, so exporterhelper's line per batch
	// does not add up.
	dropped atomic.Int64
	// reported holds the handlers already logged about, so that a
	// misconfiguration is logged once and not once per batch.
	reported map[string]struct{}

	batches sync.Pool // *batch
}

func newStdioExporter(cfg *Config, logger *zap.Logger) *stdioExporter {
	return &stdioExporter{
		cfg:      cfg,
		logger:   logger,
		defaults: istioconfig.DefaultStdioParams(),
		stdout:   os.Stdout,
		stderr:   os.Stderr,
		outputs:  make(map[outputKey]*output),
		reported: make(map[string]struct{}),
		stop:     make(chan struct{}),
		batches:  sync.Pool{New: func() any { return new(batch) }},
	}
}

func (e *stdioExporter) start(_ context.Context, host component.Host) error {
	ext, found := host.GetExtensions()[e.cfg.Config]
	if !found {
		e.logger.Info("extension not found: every handler is written with the stdio adapter's defaults (JSON on stdout)",
			zap.String("extension", e.cfg.Config.String()))
		return nil
	}
	src, ok := ext.(ParamsSource)
	if !ok {
		e.logger.Warn("extension does not provide stdio handler params: every handler is written with the stdio adapter's defaults (JSON on stdout)",
			zap.String("extension", e.cfg.Config.String()))
		return nil
	}
	e.source = src
	return nil
}

// stopWriting gives the process streams grace to take what is queued, from
// now on. The queue is written out at shutdown, and a stdout whose reader
// has stalled would otherwise hold shutdown until the collector is killed,
// with the other exporters' queues still unsent. Once grace has passed, the
// write in progress is not waited for and every later one fails at once,
// so the rest of the queue is dropped (and counted as failed by
// exporterhelper). grace <= 0 waits as long as it takes.
func (e *stdioExporter) stopWriting(grace time.Duration) {
	if grace <= 0 {
		return
	}
	e.stopOnce.Do(func() { time.AfterFunc(grace, func() { close(e.stop) }) })
}

// shutdown closes the files. It is safe without start and more than once.
func (e *stdioExporter) shutdown(context.Context) error {
	if n := e.dropped.Load(); n > 0 {
		e.logger.Warn("lines dropped at shutdown: their output did not take them within shutdown_timeout",
			zap.Int64("lines", n), zap.Duration("shutdown_timeout", e.cfg.ShutdownTimeout))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	var errs []error
	for key, out := range e.outputs {
		if err := out.close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", key, err))
		}
		delete(e.outputs, key)
	}
	return errors.Join(errs...)
}

// batch is the scratch space of one pushLogs call, pooled across calls.
type batch struct {
	enc     stdiofmt.Encoder
	pending []*pending // outputs written by this batch, in first-use order
	spare   []*pending // pending values of earlier batches, for reuse
}

// pending collects the lines of one batch for one output.
type pending struct {
	key      outputKey
	params   istioconfig.StdioParams // of the first handler: decides rotation
	buf      []byte
	handlers []string
	scopes   []scopeRef
}

type scopeRef struct{ resource, scope int }

// maxPooledBuffer bounds what a pooled buffer may keep after a large batch.
const maxPooledBuffer = 4 << 20

func (b *batch) pendingFor(key outputKey, params *istioconfig.StdioParams) *pending {
	for _, p := range b.pending {
		if p.key == key {
			return p
		}
	}
	var p *pending
	if n := len(b.spare); n > 0 {
		p, b.spare = b.spare[n-1], b.spare[:n-1]
	} else {
		p = new(pending)
	}
	p.key, p.params = key, *params
	b.pending = append(b.pending, p)
	return p
}

// records counts the log records of p's scopes in ld: its lines.
func (p *pending) records(ld plog.Logs) int {
	n := 0
	for _, r := range p.scopes {
		n += ld.ResourceLogs().At(r.resource).ScopeLogs().At(r.scope).LogRecords().Len()
	}
	return n
}

func (b *batch) reset() {
	for _, p := range b.pending {
		if cap(p.buf) > maxPooledBuffer {
			p.buf = nil
		}
		clear(p.handlers)
		p.buf, p.handlers, p.scopes = p.buf[:0], p.handlers[:0], p.scopes[:0]
		p.params = istioconfig.StdioParams{}
	}
	b.spare = append(b.spare, b.pending...)
	b.pending = b.pending[:0]
}

// pushLogs writes one line per record. Lines are gathered per output and each
// output gets one write per batch. An output that fails does not stop the
// others; the records that went to failing outputs are returned for retry.
func (e *stdioExporter) pushLogs(_ context.Context, ld plog.Logs) error {
	b := e.batches.Get().(*batch)
	defer func() {
		b.reset()
		e.batches.Put(b)
	}()

	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			if sl.LogRecords().Len() == 0 {
				continue
			}
			scope := sl.Scope()
			handler := scope.Name()
			if adapter, ok := scope.Attributes().Get(instancerecord.ScopeAttrAdapter); ok && adapter.Str() != stdioAdapter {
				// Mixer sent a stdio handler only its own instances;
				// other adapters' records may share the pipeline.
				e.reportOnce(handler, "records of a handler of another adapter are not written",
					zap.String("adapter", adapter.AsString()))
				continue
			}
			params := e.paramsFor(handler)
			p := b.pendingFor(keyOf(&params), &params)
			kind := stdiofmt.KindOf(scope)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				p.buf = b.enc.AppendRecord(p.buf, lrs.At(k), kind, &params)
			}
			p.handlers = append(p.handlers, handler)
			p.scopes = append(p.scopes, scopeRef{i, j})
		}
	}

	var retryable, permanent []error
	var failed []scopeRef
	for _, p := range b.pending {
		out, err := e.output(p.key, &p.params)
		if err == nil {
			if err = out.write(p.buf); err != nil {
				err = fmt.Errorf("write %s: %w", p.key, err)
			}
		}
		if err == nil {
			continue
		}
		err = fmt.Errorf("handler %s: %w", strings.Join(uniq(p.handlers), ", "), err)
		var cfgErr *configError
		if errors.As(err, &cfgErr) {
			permanent = append(permanent, err)
			continue
		}
		if errors.Is(err, errGaveUp) {
			// Only shutdown gives up on a stream: no retry, and one
			// word about it rather than one per batch.
			e.gaveUpLogged.Do(func() {
				e.logger.Warn("shutdown_timeout passed with lines still queued for an output that does not take them: dropping the rest",
					zap.String("output", p.key.String()), zap.Duration("shutdown_timeout", e.cfg.ShutdownTimeout))
			})
			e.dropped.Add(int64(p.records(ld)))
			p.buf = nil // it may still be being written
			permanent = append(permanent, err)
			continue
		}
		retryable = append(retryable, err)
		failed = append(failed, p.scopes...)
	}
	switch {
	case len(retryable) > 0:
		// Only the failed handlers' records are retried, so that the
		// outputs that worked do not get their lines twice.
		return consumererror.NewLogs(errors.Join(append(retryable, permanent...)...), subset(ld, failed))
	case len(permanent) > 0:
		return consumererror.NewPermanent(errors.Join(permanent...))
	}
	return nil
}

// paramsFor returns the params of handler, or the adapter defaults when
// there is no source or it does not know the handler.
func (e *stdioExporter) paramsFor(handler string) istioconfig.StdioParams {
	if e.source == nil {
		return e.defaults
	}
	if p, ok := e.source.StdioParams(handler); ok {
		return p
	}
	e.reportOnce(handler, "no stdio handler of this name in istio_config: writing its records with the stdio adapter's defaults (JSON on stdout)")
	return e.defaults
}

func (e *stdioExporter) reportOnce(handler, msg string, fields ...zap.Field) {
	e.mu.Lock()
	_, done := e.reported[handler]
	e.reported[handler] = struct{}{}
	e.mu.Unlock()
	if !done {
		e.logger.Warn(msg, append(fields, zap.String("handler", handler))...)
	}
}

// subset copies the referenced scopes, with their resources, into new Logs.
func subset(ld plog.Logs, refs []scopeRef) plog.Logs {
	slices.SortFunc(refs, func(a, b scopeRef) int {
		if a.resource != b.resource {
			return a.resource - b.resource
		}
		return a.scope - b.scope
	})
	out := plog.NewLogs()
	lastResource := -1
	var rl plog.ResourceLogs
	for _, r := range refs {
		src := ld.ResourceLogs().At(r.resource)
		if r.resource != lastResource {
			rl = out.ResourceLogs().AppendEmpty()
			src.Resource().CopyTo(rl.Resource())
			rl.SetSchemaUrl(src.SchemaUrl())
			lastResource = r.resource
		}
		src.ScopeLogs().At(r.scope).CopyTo(rl.ScopeLogs().AppendEmpty())
	}
	return out
}

func uniq(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		dup := false
		for _, o := range out {
			if o == n {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}
