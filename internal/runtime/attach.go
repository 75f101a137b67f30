package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// SnapshotSource is what the istio_config extension offers its users:
// Subscribe calls fn with the current snapshot (if there is one) and after
// every change, until the returned function is called.
type SnapshotSource interface {
	Subscribe(fn func(*istioconfig.Snapshot)) (unsubscribe func())
}

// Attached is an engine kept up to date with an istio_config extension.
type Attached struct {
	mu          sync.RWMutex
	engine      *Engine
	opts        Options
	unsubscribe func()
	reg         metric.Registration
}

// Attach finds the extension id on host and keeps an engine built from its
// snapshots. Bags that arrive before the first snapshot are not dispatched.
func Attach(host component.Host, id component.ID, opts Options) (*Attached, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("extension %q not found: add it to the service's extensions", id)
	}
	src, ok := ext.(SnapshotSource)
	if !ok {
		return nil, fmt.Errorf("extension %q is not an istio_config extension", id)
	}
	a := &Attached{opts: opts}
	a.unsubscribe = src.Subscribe(a.update)
	return a, nil
}

func (a *Attached) update(s *istioconfig.Snapshot) {
	if s == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.engine == nil {
		a.engine = New(s, a.opts)
		return
	}
	a.engine.Update(s)
}

// Engine returns the engine, or nil before the first snapshot.
func (a *Attached) Engine() *Engine {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.engine
}

// RegisterTelemetry exports the engine's counters through meter.
func (a *Attached) RegisterTelemetry(meter metric.Meter) error {
	type counter struct {
		name, desc, unit string
		get              func(*Stats) uint64
	}
	counters := []counter{
		{"otelcol_istio_rules_bags", "Attribute bags dispatched through the rules.", "{bag}", func(s *Stats) uint64 { return s.BagsIn.Load() }},
		{"otelcol_istio_rules_attributes_unconvertible", "Bag attributes dropped because they could not be converted to their declared type.", "{attribute}", func(s *Stats) uint64 { return s.AttributesUnconvertible.Load() }},
		{"otelcol_istio_rules_bags_malformed", "Packed bag records whose bytes ended in damage (the attributes before it were dispatched).", "{bag}", func(s *Stats) uint64 { return s.BagsMalformed.Load() }},
		{"otelcol_istio_rules_matched", "Rules whose match was true for a bag.", "{rule}", func(s *Stats) uint64 { return s.RulesMatched.Load() }},
		{"otelcol_istio_rules_match_errors", "Rule matches that failed to evaluate (treated as not matching).", "{rule}", func(s *Stats) uint64 { return s.MatchErrors.Load() }},
		{"otelcol_istio_rules_instances", "Instances built.", "{instance}", func(s *Stats) uint64 { return s.InstancesBuilt.Load() }},
		{"otelcol_istio_rules_instance_errors", "Instances that could not be built for a bag.", "{instance}", func(s *Stats) uint64 { return s.InstanceErrors.Load() }},
		{"otelcol_istio_rules_dispatch_errors", "Instances a prometheus handler rejected (value not numeric, negative counter, no metric).", "{instance}", func(s *Stats) uint64 { return s.DispatchErrors.Load() }},
		{"otelcol_istio_rules_records", "Instance log records emitted.", "{record}", func(s *Stats) uint64 { return s.RecordsEmitted.Load() }},
		{"otelcol_istio_rules_series_created", "Series created.", "{series}", func(s *Stats) uint64 { return s.SeriesCreated.Load() }},
		{"otelcol_istio_rules_series_expired", "Series removed by a metricsExpirationPolicy.", "{series}", func(s *Stats) uint64 { return s.SeriesExpired.Load() }},
		{"otelcol_istio_rules_series_dropped", "Updates dropped because a metric reached max_series_per_metric.", "{series}", func(s *Stats) uint64 { return s.SeriesDropped.Load() }},
	}
	var obs []metric.Observable
	var insts []metric.Int64ObservableCounter
	for _, c := range counters {
		inst, err := meter.Int64ObservableCounter(c.name, metric.WithDescription(c.desc), metric.WithUnit(c.unit))
		if err != nil {
			return err
		}
		insts = append(insts, inst)
		obs = append(obs, inst)
	}
	active, err := meter.Int64ObservableGauge("otelcol_istio_rules_series_active", metric.WithDescription("Series currently held."), metric.WithUnit("{series}"))
	if err != nil {
		return err
	}
	enriched, err := meter.Int64ObservableCounter("otelcol_istio_rules_bags_enriched", metric.WithDescription("Bags that Kubernetes enrichment added attributes to."), metric.WithUnit("{bag}"))
	if err != nil {
		return err
	}
	generated, err := meter.Int64ObservableCounter("otelcol_istio_rules_attributes_generated", metric.WithDescription("Attributes Kubernetes enrichment added to bags."), metric.WithUnit("{attribute}"))
	if err != nil {
		return err
	}
	obs = append(obs, active, enriched, generated)
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		e := a.Engine()
		if e == nil {
			return nil
		}
		for i, c := range counters {
			o.ObserveInt64(insts[i], int64(c.get(&e.stats)))
		}
		o.ObserveInt64(active, int64(e.ActiveSeries()))
		es := e.EnrichmentStats()
		o.ObserveInt64(enriched, int64(es.BagsEnriched.Load()))
		o.ObserveInt64(generated, int64(es.AttributesGenerated.Load()))
		return nil
	}, obs...)
	if err != nil {
		return err
	}
	a.reg = reg
	return nil
}

// Detach stops following the extension.
func (a *Attached) Detach() error {
	var errs []error
	if a.unsubscribe != nil {
		a.unsubscribe()
		a.unsubscribe = nil
	}
	if a.reg != nil {
		errs = append(errs, a.reg.Unregister())
		a.reg = nil
	}
	return errors.Join(errs...)
}
