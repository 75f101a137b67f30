package istioconfigextension

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	otelattr "go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeconn"
)

const scopeName = "github.com/otelcol-istio/otelcol-istio/extension/istioconfigextension"

// telemetry is the extension's own metrics: reloads by outcome, the
// resources and problems of the snapshot in force, and whether the
// Kubernetes API server answers.
type telemetry struct {
	reloads metric.Int64Counter
	current atomic.Pointer[istioconfig.Snapshot]
	api     *kubeconn.Monitor // observed once a Kubernetes client is attached
	reg     metric.Registration
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	t := &telemetry{api: kubeconn.NewMonitor(set.Logger)}
	var errs, err error
	t.reloads, err = m.Int64Counter("otelcol_istio_config_reloads",
		metric.WithDescription("Reloads of the Istio configuration, by outcome: applied, unchanged or failed."),
		metric.WithUnit("{reload}"))
	errs = errors.Join(errs, err)
	resources, err := m.Int64ObservableGauge("otelcol_istio_config_resources",
		metric.WithDescription("Resources of the Istio configuration in force, by kind and status: accepted, rejected or unsupported."),
		metric.WithUnit("{resource}"))
	errs = errors.Join(errs, err)
	problems, err := m.Int64ObservableGauge("otelcol_istio_config_problems",
		metric.WithDescription("Problems found in the Istio configuration in force."),
		metric.WithUnit("{problem}"))
	errs = errors.Join(errs, err)
	apiUp, err := m.Int64ObservableGauge("otelcol_istio_config_kubernetes_api_up",
		metric.WithDescription("1 while the Kubernetes API server answers the collector's requests; 0 from a request that got no answer until one does. Only with a kubernetes source or the pod cache."))
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, errs
	}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if t.api.Attached() {
			up := int64(0)
			if t.api.Reachable() {
				up = 1
			}
			o.ObserveInt64(apiUp, up)
		}
		s := t.current.Load()
		if s == nil {
			return nil
		}
		for kind, c := range s.CountsByKind {
			if kind == "" {
				kind = "unknown"
			}
			for _, st := range []struct {
				name string
				n    int
			}{{"accepted", c.Accepted}, {"rejected", c.Rejected}, {"unsupported", c.Unsupported}} {
				o.ObserveInt64(resources, int64(st.n), metric.WithAttributes(
					otelattr.String("kind", kind), otelattr.String("status", st.name)))
			}
		}
		o.ObserveInt64(problems, int64(len(s.Problems)))
		return nil
	}, resources, problems, apiUp)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) reload(r istioconfig.Reload) {
	outcome := "unchanged"
	switch {
	case r.Err != nil:
		outcome = "failed"
	case r.Changed:
		outcome = "applied"
		t.current.Store(r.Snapshot)
	}
	t.reloads.Add(context.Background(), 1, metric.WithAttributes(otelattr.String("outcome", outcome)))
}

func (t *telemetry) shutdown() error {
	if t.reg == nil {
		return nil
	}
	return t.reg.Unregister()
}
