package istioconfigextension

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"
	"k8s.io/client-go/dynamic"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeconn"
	"github.com/otelcol-istio/otelcol-istio/internal/runtime"
)

// Provider is what istio_config offers to other components: the current
// compiled Istio configuration and its changes.
type Provider interface {
	// Snapshot returns the current snapshot; nil before the extension has
	// started. Snapshots are immutable.
	Snapshot() *istioconfig.Snapshot
	// Subscribe calls fn at once with the current snapshot (if there is
	// one) and then after every change, one call at a time and in order.
	// fn must not call Subscribe. The returned function unsubscribes.
	Subscribe(fn func(*istioconfig.Snapshot)) (unsubscribe func())
}

// Find returns the istio_config extension with the given id from the host.
func Find(host component.Host, id component.ID) (Provider, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("extension %s not found: configure it under extensions and list it in service.extensions", id)
	}
	p, ok := ext.(Provider)
	if !ok {
		return nil, fmt.Errorf("extension %s is not an %s extension (it is a %T)", id, Type, ext)
	}
	return p, nil
}

type configExtension struct {
	cfg *Config
	set extension.Settings
	tel *telemetry

	loader *istioconfig.Loader
	kube   *enrichment // the pod cache; nil when enrichment is off

	// pub orders deliveries: a subscriber's first call and later publishes
	// never overtake each other.
	pub    sync.Mutex
	subsMu sync.Mutex
	subs   map[int]func(*istioconfig.Snapshot)
	nextID int
}

var (
	_ extension.Extension = (*configExtension)(nil)
	_ Provider            = (*configExtension)(nil)
)

func newExtension(set extension.Settings, cfg *Config) (*configExtension, error) {
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &configExtension{cfg: cfg, set: set, tel: tel, subs: map[int]func(*istioconfig.Snapshot){}}, nil
}

// sources turns the configuration into sources. The Kubernetes client is
// created here, at Start, not when the collector merely validates config.
func (e *configExtension) sources() ([]istioconfig.Source, error) {
	var out []istioconfig.Source
	for i, s := range e.cfg.Sources {
		switch {
		case s.Embedded != "":
			src, err := istioconfig.NewEmbeddedSource(s.Embedded)
			if err != nil {
				return nil, fmt.Errorf("sources[%d]: %w", i, err)
			}
			out = append(out, src)
		case s.Path != "":
			out = append(out, istioconfig.NewFileSource(s.Path))
		case s.Kubernetes != nil:
			cfg, _, err := kubeconn.Config(false)
			if err != nil {
				return nil, fmt.Errorf("sources[%d]: kubernetes: %w", i, err)
			}
			e.kubeAPI().Attach(cfg)
			client, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return nil, fmt.Errorf("sources[%d]: kubernetes: %w", i, err)
			}
			out = append(out, istioconfig.NewKubernetesSource(client, istioconfig.KubernetesOptions{
				Namespaces: s.Kubernetes.Namespaces,
				Logger:     e.set.Logger,
			}))
		}
	}
	return out, nil
}

func (e *configExtension) Start(ctx context.Context, _ component.Host) error {
	srcs, err := e.sources()
	if err != nil {
		return err
	}
	return e.start(ctx, srcs)
}

// start is Start with the sources given, for tests.
func (e *configExtension) start(ctx context.Context, srcs []istioconfig.Source) error {
	if err := e.startEnrichment(); err != nil { // before the first snapshot, which carries it
		return err
	}
	// The pod cache's first listing is waited for while the sources load:
	// with an API server that does not answer, Start takes the longer of
	// the two sync timeouts, not their sum.
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	synced := make(chan error, 1)
	if e.kube != nil {
		go func() { synced <- e.kube.cache.WaitForSync(waitCtx) }()
	} else {
		synced <- nil
	}
	err := e.load(ctx, srcs)
	if err != nil {
		cancelWait() // the loader's error is the one to report
	}
	if werr := <-synced; err == nil && werr != nil {
		err = fmt.Errorf("%s: kubernetes_enrichment: %w", e.set.ID, werr)
	}
	if err != nil {
		e.stopEnrichment()
		return err
	}
	return nil
}

// load starts the loader of the Istio configuration.
func (e *configExtension) load(ctx context.Context, srcs []istioconfig.Source) error {
	lang, _ := istioconfig.ParseLang(e.cfg.Language) // Validate refused anything else
	e.loader = istioconfig.NewLoader(istioconfig.LoaderOptions{
		Sources: srcs,
		Build: istioconfig.BuildOptions{DefaultNamespace: e.cfg.DefaultConfigNamespace, Language: lang,
			CompileOTTL: runtime.CheckOTTL, Pods: e.pods()},
		Debounce: e.cfg.Debounce,
		Logger:   e.set.Logger,
		OnReload: e.onReload,
	})
	if err := e.loader.Start(ctx); err != nil {
		return fmt.Errorf("%s: loading the Istio configuration: %w", e.set.ID, err)
	}
	return nil
}

// kubeAPI follows the extension's Kubernetes clients, the config source's
// and the pod cache's together, so that an outage of the API server is
// logged once for both.
func (e *configExtension) kubeAPI() *kubeconn.Monitor { return e.tel.api }

func (e *configExtension) Shutdown(context.Context) error {
	if e.loader != nil {
		e.loader.Shutdown()
	}
	e.stopEnrichment()
	return e.tel.shutdown()
}

func (e *configExtension) Snapshot() *istioconfig.Snapshot {
	if e.loader == nil {
		return nil
	}
	return e.loader.Snapshot()
}

func (e *configExtension) Subscribe(fn func(*istioconfig.Snapshot)) func() {
	e.pub.Lock()
	defer e.pub.Unlock()
	e.subsMu.Lock()
	id := e.nextID
	e.nextID++
	e.subs[id] = fn
	e.subsMu.Unlock()
	if s := e.Snapshot(); s != nil {
		fn(s)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			e.subsMu.Lock()
			delete(e.subs, id)
			e.subsMu.Unlock()
		})
	}
}

func (e *configExtension) publish(s *istioconfig.Snapshot) {
	e.pub.Lock()
	defer e.pub.Unlock()
	e.subsMu.Lock()
	fns := make([]func(*istioconfig.Snapshot), 0, len(e.subs))
	for id := 0; id < e.nextID; id++ { // subscription order
		if fn, ok := e.subs[id]; ok {
			fns = append(fns, fn)
		}
	}
	e.subsMu.Unlock()
	for _, fn := range fns {
		fn(s)
	}
}

// onReload logs and counts every reload and publishes new snapshots.
func (e *configExtension) onReload(r istioconfig.Reload) {
	log := e.set.Logger
	e.tel.reload(r)
	switch {
	case r.Err != nil:
		log.Error("Istio configuration reload failed; the last good configuration stays in force", zap.Error(r.Err))
		return
	case !r.Changed:
		log.Debug("Istio configuration unchanged", zap.Duration("took", r.Took))
		return
	}
	s := r.Snapshot
	log.Info("Istio configuration loaded",
		zap.Int("accepted", s.Counts.Accepted),
		zap.Int("rejected", s.Counts.Rejected),
		zap.Int("unsupported", s.Counts.Unsupported),
		zap.Int("problems", len(s.Problems)),
		zap.Int("rules", len(s.Rules)),
		zap.Int("instances", len(s.Instances)),
		zap.Int("handlers", len(s.Handlers)),
		zap.Int("attributes", s.Vocabulary.Len()),
		zap.Duration("took", r.Took))
	for _, p := range s.Problems {
		log.Warn("Istio configuration problem", zap.String("problem", p.Error()))
	}
	for _, u := range s.Unsupported {
		log.Info("Istio configuration not used", zap.String("resource", u.Kind+"/"+u.Namespace+"/"+u.Name), zap.String("reason", u.Reason))
	}
	if s.DefaultVocabulary {
		log.Info("No attributemanifest configured; using the built-in Istio attribute vocabulary")
	}
	e.publish(s)
}
