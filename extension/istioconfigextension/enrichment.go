package istioconfigextension

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/confmap"
	otelattr "go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"github.com/otelcol-istio/otelcol-istio/internal/kubeconn"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
)

// EnrichmentMode says whether the pod cache behind kubernetesenv handlers
// runs.
type EnrichmentMode string

const (
	// EnrichmentAuto runs it in a pod (in-cluster credentials) or when
	// KUBECONFIG is set, and otherwise leaves attribute generation off. The
	// empty mode means auto.
	EnrichmentAuto EnrichmentMode = "auto"
	// EnrichmentOn requires it: Start fails without a cluster.
	EnrichmentOn EnrichmentMode = "true"
	// EnrichmentOff never runs it.
	EnrichmentOff EnrichmentMode = "false"
)

// KubernetesEnrichmentConfig configures the pod cache that the kubernetes
// instances of the configuration (Istio's kubernetesenv adapter) look pods
// up in. Zero values mean the defaults.
type KubernetesEnrichmentConfig struct {
	// Enabled is auto (default), true or false; YAML booleans work.
	Enabled EnrichmentMode `mapstructure:"enabled"`
	// NodeName keeps only the pods of one node (in a DaemonSet:
	// ${env:NODE_NAME}). Peers on other nodes are then not found; see
	// docs/kubernetes-enrichment.md before setting it.
	NodeName string `mapstructure:"node_name"`
	// Namespaces to cache pods of; empty means all.
	Namespaces []string `mapstructure:"namespaces"`
	// ResyncPeriod is the informers' full resync period; 0 means none.
	ResyncPeriod time.Duration `mapstructure:"resync_period"`
	// SyncTimeout bounds how long Start waits for the first listing
	// (default 10s); the cache keeps filling afterwards.
	SyncTimeout time.Duration `mapstructure:"sync_timeout"`
	// MaxPods caps the pods cached (default 100000).
	MaxPods int `mapstructure:"max_pods"`
}

var _ confmap.Unmarshaler = (*KubernetesEnrichmentConfig)(nil)

// Unmarshal accepts enabled as a YAML boolean as well as a string.
func (c *KubernetesEnrichmentConfig) Unmarshal(conf *confmap.Conf) error {
	raw := conf.ToStringMap()
	if v, ok := raw["enabled"]; ok {
		switch x := v.(type) {
		case bool:
			c.Enabled = EnrichmentOff
			if x {
				c.Enabled = EnrichmentOn
			}
		case string:
			c.Enabled = EnrichmentMode(x)
		case nil:
			c.Enabled = ""
		default:
			return fmt.Errorf("enabled: want auto, true or false, not %v", v)
		}
		delete(raw, "enabled")
	}
	type plain KubernetesEnrichmentConfig // without this method: no recursion
	return confmap.NewFromStringMap(raw).Unmarshal((*plain)(c))
}

func (c *KubernetesEnrichmentConfig) mode() EnrichmentMode {
	if c.Enabled == "" {
		return EnrichmentAuto
	}
	return c.Enabled
}

func (c *KubernetesEnrichmentConfig) validate() []error {
	var errs []error
	switch c.mode() {
	case EnrichmentAuto, EnrichmentOn, EnrichmentOff:
	default:
		errs = append(errs, fmt.Errorf("kubernetes_enrichment: enabled: %q is not auto, true or false", c.Enabled))
	}
	for _, ns := range c.Namespaces {
		if !dnsLabel.MatchString(ns) {
			errs = append(errs, fmt.Errorf("kubernetes_enrichment: namespaces: %q is not a valid namespace name", ns))
		}
	}
	if c.ResyncPeriod < 0 {
		errs = append(errs, errors.New("kubernetes_enrichment: resync_period: must not be negative"))
	}
	if c.SyncTimeout < 0 {
		errs = append(errs, errors.New("kubernetes_enrichment: sync_timeout: must not be negative"))
	}
	if c.MaxPods < 0 {
		errs = append(errs, errors.New("kubernetes_enrichment: max_pods: must not be negative"))
	}
	return errs
}

// kubeClient connects to the cluster for the pod cache: in-cluster
// credentials, else KUBECONFIG; with EnrichmentOn also ~/.kube/config. A
// nil client without error means no cluster (auto mode only). api follows
// the client's requests. Tests replace it.
var kubeClient = func(mode EnrichmentMode, api *kubeconn.Monitor) (kubernetes.Interface, string, error) {
	cfg, how, err := kubeconn.Config(mode != EnrichmentOn)
	if err != nil || cfg == nil {
		return nil, "", err
	}
	api.Attach(cfg)
	c, err := kubernetes.NewForConfig(cfg)
	return c, how, err
}

// enrichment is the running pod cache and its telemetry.
type enrichment struct {
	cache *kubeenv.Cache
	reg   metric.Registration
}

// startEnrichment starts the pod cache's informers when the configuration
// and the environment call for it, and says once why it does not
// otherwise. Start waits for their first listing.
func (e *configExtension) startEnrichment() error {
	cfg := &e.cfg.KubernetesEnrichment
	log := e.set.Logger
	mode := cfg.mode()
	if mode == EnrichmentOff {
		log.Info("Kubernetes enrichment is disabled (kubernetes_enrichment.enabled: false): kubernetesenv rules generate no attributes")
		return nil
	}
	client, how, err := kubeClient(mode, e.kubeAPI())
	switch {
	case err != nil && mode == EnrichmentOn:
		return fmt.Errorf("%s: kubernetes_enrichment: %w", e.set.ID, err)
	case err != nil:
		log.Warn("Kubernetes enrichment is off: cannot connect to the cluster; kubernetesenv rules generate no attributes", zap.Error(err))
		return nil
	case client == nil:
		log.Info("Kubernetes enrichment is off: not running in Kubernetes and KUBECONFIG is not set; " +
			"kubernetesenv rules generate no attributes, so workload labels not sent by the proxies stay \"unknown\"")
		return nil
	}
	c := kubeenv.NewCache(client, kubeenv.Options{
		Namespaces:   cfg.Namespaces,
		NodeName:     cfg.NodeName,
		ResyncPeriod: cfg.ResyncPeriod,
		SyncTimeout:  cfg.SyncTimeout,
		MaxPods:      cfg.MaxPods,
		Logger:       log,
	})
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: kubernetes_enrichment: %w", e.set.ID, err)
	}
	reg, err := enrichmentTelemetry(e.set.MeterProvider.Meter(scopeName), c)
	if err != nil {
		c.Stop()
		return err
	}
	e.kube = &enrichment{cache: c, reg: reg}
	log.Info("Kubernetes enrichment is on: kubernetesenv rules fill workload attributes from the pod cache",
		zap.String("connection", how), zap.String("node", cfg.NodeName), zap.Strings("namespaces", cfg.Namespaces))
	return nil
}

func (e *configExtension) stopEnrichment() {
	if e.kube == nil {
		return
	}
	if e.kube.reg != nil {
		_ = e.kube.reg.Unregister()
	}
	e.kube.cache.Stop()
	e.kube = nil
}

// pods is what snapshots get for their kubernetesenv handlers.
func (e *configExtension) pods() kubeenv.Pods {
	if e.kube == nil {
		return nil // a nil interface, not a nil *Cache: the runtime tests for nil
	}
	return e.kube.cache
}

func enrichmentTelemetry(m metric.Meter, c *kubeenv.Cache) (metric.Registration, error) {
	pods, err1 := m.Int64ObservableGauge("otelcol_istio_config_kubernetes_pods",
		metric.WithDescription("Pods held by the kubernetes_enrichment pod cache."), metric.WithUnit("{pod}"))
	dropped, err2 := m.Int64ObservableCounter("otelcol_istio_config_kubernetes_pods_dropped",
		metric.WithDescription("Pods not cached because kubernetes_enrichment.max_pods was reached."), metric.WithUnit("{pod}"))
	lookups, err3 := m.Int64ObservableCounter("otelcol_istio_config_kubernetes_lookups",
		metric.WithDescription("Pod lookups of kubernetesenv instances, per side of a request, by result: uid, ip, not_found or no_input."),
		metric.WithUnit("{lookup}"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(pods, int64(c.Len()))
		s := c.Stats()
		o.ObserveInt64(dropped, int64(s.Overflow))
		for _, r := range []struct {
			name string
			n    uint64
		}{{"uid", s.ByUID}, {"ip", s.ByIP}, {"not_found", s.NotFound}, {"no_input", s.NoInput}} {
			o.ObserveInt64(lookups, int64(r.n), metric.WithAttributes(otelattr.String("result", r.name)))
		}
		return nil
	}, pods, dropped, lookups)
}
