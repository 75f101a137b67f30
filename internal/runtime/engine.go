// Package runtime is the rules engine of otelcol-istio — Mixer's dispatcher.
// For every attribute bag it finds the rules that apply (DESIGN §3, Mixer
// semantics §d.5), evaluates their match, builds each referenced instance once,
// records metric instances of prometheus handlers in series tables and turns
// every other instance into a log record (internal/instancerecord).
package runtime // import "github.com/otelcol-istio/otelcol-istio/internal/runtime"

import (
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// Options tune an Engine.
type Options struct {
	// MaxSeriesPerMetric caps the series of each metric; 0 means no cap.
	MaxSeriesPerMetric int
	// Logger receives rate-limited reports of evaluation errors.
	Logger *zap.Logger
	// Now is the clock (tests replace it).
	Now func() time.Time
	// ErrorLogInterval is how often the same failing rule or instance is
	// logged at most; default 10s.
	ErrorLogInterval time.Duration
	// SkipPrometheus leaves out the actions of prometheus handlers: for
	// users of the engine that do not export metrics (the processor).
	SkipPrometheus bool
	// PackedRecords writes instance records in the packed form
	// (internal/instancerecord): several µs a record cheaper for the stdio
	// exporter, opaque to any other.
	PackedRecords bool
}

// Engine evaluates bags against one compiled config snapshot at a time. It is
// safe for concurrent use: batches are dispatched one at a time.
type Engine struct {
	mu    sync.Mutex
	opts  Options
	plan  *plan
	bag   *attribute.Bag
	dec   bagrecord.Decoder
	rec   ottlRecord // the record being dispatched, for OTTL expressions
	stats Stats
	out   batchOutput
	gen   uint64 // bumped per bag: an instance evaluated in this generation is cached
	logs  *rateLogger
}

// New builds an engine for snap.
func New(snap *istioconfig.Snapshot, opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.ErrorLogInterval == 0 {
		opts.ErrorLogInterval = 10 * time.Second
	}
	e := &Engine{opts: opts, logs: newRateLogger(opts.Logger, opts.ErrorLogInterval, opts.Now)}
	e.install(buildPlan(snap, opts.MaxSeriesPerMetric, opts.Now(), nil))
	return e
}

// Update switches to a new snapshot. Series of metrics whose identity (name,
// kind, help, labels, buckets) is unchanged carry over; the others restart.
func (e *Engine) Update(snap *istioconfig.Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.install(buildPlan(snap, e.opts.MaxSeriesPerMetric, e.opts.Now(), e.plan))
}

func (e *Engine) install(p *plan) {
	for _, err := range p.problems {
		e.opts.Logger.Error("Istio configuration: dropped", zap.Error(err))
	}
	e.plan = p
	e.bag = attribute.NewBag(p.vocab)
	e.dec = bagrecord.Decoder{Want: p.wanted}
	e.out.resize(len(p.groups))
}

// Snapshot returns the config snapshot the engine runs.
func (e *Engine) Snapshot() *istioconfig.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.plan.snap
}

// Dispatch evaluates every bag record of ld and appends the log records of
// the instances it produces to out (one ScopeLogs per handler and template,
// under a new ResourceLogs when there is any). Records that are not bags are
// skipped. It returns the number of bags dispatched.
func (e *Engine) Dispatch(ld plog.Logs, out plog.Logs) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out.begin(out)
	now := e.opts.Now()
	n := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				if !bagrecord.IsBag(lr) {
					continue
				}
				e.rec.rl, e.rec.sl, e.rec.lr = rl, sl, lr
				e.dispatchRecord(lr, now)
				e.rec.release()
				n++
			}
		}
	}
	e.out.end()
	return n
}

func (e *Engine) dispatchRecord(lr plog.LogRecord, now time.Time) {
	e.stats.BagsIn.Add(1)
	bad, err := e.dec.DecodeRecord(lr, e.bag)
	if bad > 0 {
		e.stats.AttributesUnconvertible.Add(uint64(bad))
	}
	if err != nil {
		// The attributes before the damage are dispatched.
		e.stats.BagsMalformed.Add(1)
		e.logs.warn("bag record", "packed bag record is malformed; dispatched with the attributes read before the damage", err)
	}
	e.gen++
	e.enrich() // kubernetesenv: fill what the proxy did not send (kubeenv.go)
	p := e.plan
	e.runRules(p.defaultRules, now)
	if ns := p.identityNamespace(e.bag); ns != "" && ns != p.defaultNamespace {
		e.runRules(p.nsRules[ns], now)
	}
}

func (e *Engine) runRules(rules []*rule, now time.Time) {
	for _, r := range rules {
		if !e.matches(&r.ruleMatch) {
			continue
		}
		e.stats.RulesMatched.Add(1)
		for i := range r.actions {
			a := &r.actions[i]
			if a.handler.prometheus && e.opts.SkipPrometheus {
				continue
			}
			for _, inst := range a.instances {
				if a.handler.prometheus {
					if e.evaluateSeries(inst) {
						e.record(inst, now)
					}
				} else if e.evaluate(inst) {
					e.emit(a.handler, inst, now)
				}
			}
		}
	}
}

// evaluate builds inst as values for the current bag, once per bag, and
// reports whether it could be built.
func (e *Engine) evaluate(inst *instance) bool {
	if inst.gen == e.gen {
		return inst.err == nil
	}
	inst.gen = e.gen
	inst.varsOnly = e.opts.PackedRecords && inst.packsDirectly()
	if inst.varsOnly {
		inst.err = inst.evalPacked(e.bag, &e.out.arena.packer)
	} else {
		inst.err = inst.evalValues(e.bag, &e.rec)
	}
	return e.built(inst, inst.err)
}

// evaluateSeries builds a metric instance as its series key and value, once
// per bag.
func (e *Engine) evaluateSeries(inst *instance) bool {
	if inst.template != templateMetric || inst.metric == nil {
		e.stats.DispatchErrors.Add(1)
		e.logs.warn("instance "+inst.fqn, "", fmt.Errorf("could not find metric info from adapter config for %s", inst.fqn))
		return false
	}
	if inst.gen2 == e.gen {
		return inst.err2 == nil
	}
	inst.gen2 = e.gen
	inst.err2 = inst.evalSeries(e.bag, e.gen, &e.rec)
	return e.built(inst, inst.err2)
}

func (e *Engine) built(inst *instance, err error) bool {
	if err != nil {
		e.stats.InstanceErrors.Add(1)
		e.logs.warn("instance "+inst.fqn, "instance could not be built for this report; skipped", err)
		return false
	}
	e.stats.InstancesBuilt.Add(1)
	return true
}

// record applies an evaluated metric instance to its series table.
func (e *Engine) record(inst *instance, now time.Time) {
	m := inst.metric
	if inst.numErr != nil {
		e.stats.DispatchErrors.Add(1)
		e.logs.warn("instance "+inst.fqn, "", fmt.Errorf("could not get value for metric %s: %w", inst.fqn, inst.numErr))
		return
	}
	out, err := m.record(inst.seriesKey(), inst.num, now)
	switch {
	case err != nil:
		e.stats.DispatchErrors.Add(1)
		e.logs.warn("instance "+inst.fqn, "", fmt.Errorf("metric %s: %w", m.name, err))
	case out == droppedOverflow:
		e.stats.SeriesDropped.Add(1)
		e.logs.warn("metric "+m.name, "", fmt.Errorf("metric %s has reached its cap of %d series; new series are dropped", m.name, m.maxSeries))
	case out == recordedNew:
		e.stats.SeriesCreated.Add(1)
	}
}

// emit appends inst as a log record under its handler's scope.
func (e *Engine) emit(h *handler, inst *instance, now time.Time) {
	g := h.groups[inst.template]
	if g == nil {
		return
	}
	lr := e.out.scope(g).LogRecords().AppendEmpty()
	if e.opts.PackedRecords {
		inst.appendPacked(lr, h, now, &e.out.arena)
	} else {
		inst.appendRecord(lr, h, now)
	}
	e.stats.RecordsEmitted.Add(1)
}

// Metrics returns the full current state of every prometheus metric as OTel
// metrics (DESIGN §3.2), after removing the series whose expiry has passed.
func (e *Engine) Metrics() pmetric.Metrics {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	e.expireLocked(now)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ts := pcommon.NewTimestampFromTime(now)
	for _, h := range e.plan.promHandlers {
		var sm pmetric.ScopeMetrics
		for _, m := range h.metrics {
			if len(m.series) == 0 {
				continue
			}
			if sm == (pmetric.ScopeMetrics{}) {
				sm = rm.ScopeMetrics().AppendEmpty()
				sm.Scope().SetName(h.fqn)
			}
			m.appendTo(sm.Metrics(), ts)
		}
	}
	if rm.ScopeMetrics().Len() == 0 {
		md.ResourceMetrics().RemoveIf(func(pmetric.ResourceMetrics) bool { return true })
	}
	return md
}

// Expire runs the expiry checks that are due at the engine's current time.
func (e *Engine) Expire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expireLocked(e.opts.Now())
}

// expireLocked runs the checks scheduled up to now, each as of its scheduled
// time, the way Mixer's ticker did; when several are overdue, the last one
// alone decides (earlier ones can only remove less).
func (e *Engine) expireLocked(now time.Time) {
	for _, h := range e.plan.promHandlers {
		pol := h.expiry
		if pol == nil || now.Before(pol.nextCheck) {
			continue
		}
		at := pol.nextCheck
		if behind := now.Sub(at); behind >= pol.interval {
			at = at.Add(behind / pol.interval * pol.interval)
		}
		for _, m := range h.metrics {
			if n := m.expire(at); n > 0 {
				e.stats.SeriesExpired.Add(uint64(n))
			}
		}
		pol.lastCheck = at
		pol.nextCheck = at.Add(pol.interval)
	}
}

// ActiveSeries counts the series currently held.
func (e *Engine) ActiveSeries() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, m := range e.plan.metrics {
		n += len(m.series)
	}
	return n
}

// Stats returns the engine's counters.
func (e *Engine) Stats() *Stats { return &e.stats }
