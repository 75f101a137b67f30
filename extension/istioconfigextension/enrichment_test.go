package istioconfigextension

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeconn"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
)

func TestEnrichmentConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "enrichment.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      string
		want    KubernetesEnrichmentConfig
		wantErr string
	}{
		{id: "daemonset", want: KubernetesEnrichmentConfig{Enabled: EnrichmentOn, NodeName: "node-7",
			Namespaces: []string{"default", "istio-system"}, ResyncPeriod: 5 * time.Minute, SyncTimeout: 3 * time.Second, MaxPods: 500}},
		{id: "auto", want: KubernetesEnrichmentConfig{Enabled: EnrichmentAuto}},
		{id: "off", want: KubernetesEnrichmentConfig{Enabled: EnrichmentOff}},
		{id: "off_string", want: KubernetesEnrichmentConfig{Enabled: EnrichmentOff}},
		{id: "empty", want: KubernetesEnrichmentConfig{}},
		{id: "bad", wantErr: `kubernetes_enrichment: enabled: "maybe" is not auto, true or false
kubernetes_enrichment: namespaces: "Default" is not a valid namespace name
kubernetes_enrichment: sync_timeout: must not be negative
kubernetes_enrichment: max_pods: must not be negative`},
		{id: "bad_type", wantErr: "enabled: want auto, true or false, not 1"},
		{id: "unknown_key", wantErr: "has invalid keys: node"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			sub, err := cm.Sub(component.NewIDWithName(Type, tt.id).String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = cfg.Validate()
			}
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.KubernetesEnrichment)
			assert.Len(t, cfg.Sources, 1, "the rest of the defaults stay")
		})
	}
}

// withKubeClient replaces the cluster connection for one test.
func withKubeClient(t *testing.T, fn func(EnrichmentMode) (kubernetes.Interface, string, error)) {
	old := kubeClient
	kubeClient = func(mode EnrichmentMode, _ *kubeconn.Monitor) (kubernetes.Interface, string, error) { return fn(mode) }
	t.Cleanup(func() { kubeClient = old })
}

func TestEnrichmentLifecycle(t *testing.T) {
	productpage := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "productpage-v1-6c886ff494-hm7zk", Namespace: "default"},
		Status:     corev1.PodStatus{PodIP: "10.44.0.11"},
	}
	noCluster := errors.New("no cluster here")
	tests := []struct {
		name     string
		mode     EnrichmentMode
		client   func() (kubernetes.Interface, error) // nil: must not be called
		wantErr  string
		wantPods bool
		wantLog  string
	}{
		{name: "on", mode: EnrichmentOn, client: func() (kubernetes.Interface, error) { return fake.NewClientset(productpage), nil },
			wantPods: true, wantLog: "Kubernetes enrichment is on"},
		{name: "auto in a cluster", client: func() (kubernetes.Interface, error) { return fake.NewClientset(productpage), nil },
			wantPods: true, wantLog: "Kubernetes enrichment is on"},
		{name: "auto off Kubernetes", client: func() (kubernetes.Interface, error) { return nil, nil },
			wantLog: "Kubernetes enrichment is off: not running in Kubernetes and KUBECONFIG is not set"},
		{name: "auto with a broken connection", client: func() (kubernetes.Interface, error) { return nil, noCluster },
			wantLog: "Kubernetes enrichment is off: cannot connect to the cluster"},
		{name: "required but no cluster", mode: EnrichmentOn, client: func() (kubernetes.Interface, error) { return nil, noCluster },
			wantErr: ": kubernetes_enrichment: no cluster here"},
		{name: "disabled", mode: EnrichmentOff, wantLog: "Kubernetes enrichment is disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withKubeClient(t, func(EnrichmentMode) (kubernetes.Interface, string, error) {
				if tt.client == nil {
					t.Error("connected although disabled")
					return nil, "", nil
				}
				c, err := tt.client()
				return c, "test", err
			})
			core, logs := observer.New(zapcore.InfoLevel)
			set := extensiontest.NewNopSettings(Type)
			set.Logger = zap.New(core)
			cfg := createDefaultConfig()
			cfg.KubernetesEnrichment.Enabled = tt.mode
			ext, err := newExtension(set, cfg)
			require.NoError(t, err)
			err = ext.Start(t.Context(), componenttest.NewNopHost())
			defer func() { require.NoError(t, ext.Shutdown(t.Context())) }()
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			s := ext.Snapshot()
			require.NotNil(t, s)
			assert.NoError(t, s.Err())
			assert.Empty(t, s.Unsupported, "kubernetesenv resources are supported with or without a cluster")
			assert.Equal(t, tt.wantPods, s.Pods != nil)
			if tt.wantPods {
				r := s.Pods.Lookup(&kubeenv.Input{SourceIP: []byte{10, 44, 0, 11}})
				require.NotNil(t, r.Source)
				assert.Equal(t, "productpage-v1-6c886ff494-hm7zk", r.SourceWorkload.Name)
			}
			var msgs []string
			for _, e := range logs.All() {
				msgs = append(msgs, e.Message)
			}
			n := 0
			for _, m := range msgs {
				if strings.Contains(m, tt.wantLog) {
					n++
				}
			}
			assert.Equal(t, 1, n, "one log line containing %q in %q", tt.wantLog, msgs)
		})
	}
}

// TestKubeClientOffKubernetes: auto mode without in-cluster credentials or
// KUBECONFIG does not connect; "true" insists and fails.
func TestKubeClientOffKubernetes(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir()) // no ~/.kube/config
	c, _, err := kubeClient(EnrichmentAuto, kubeconn.NewMonitor(nil))
	assert.NoError(t, err)
	assert.Nil(t, c)
	_, _, err = kubeClient(EnrichmentOn, kubeconn.NewMonitor(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no in-cluster config and no usable kubeconfig")
}

// startedSource is a config source that says when the loader starts it.
type startedSource struct{ started chan struct{} }

func (s *startedSource) String() string { return "test source" }
func (s *startedSource) Start(context.Context, func()) error {
	close(s.started)
	return nil
}
func (s *startedSource) Load() (istioconfig.Input, error) { return istioconfig.Input{}, nil }

// The pod cache's first listing and the config sources' are waited for
// together, so that an API server slow to answer delays Start by the longer
// of the two sync timeouts, not by their sum. Here the pods are listed only
// once the config source has started: waited for one after the other, the
// cache could not sync within its timeout.
func TestEnrichmentSyncsWhileSourcesLoad(t *testing.T) {
	src := &startedSource{started: make(chan struct{})}
	withKubeClient(t, func(EnrichmentMode) (kubernetes.Interface, string, error) {
		c := fake.NewClientset(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "productpage-v1-6c886ff494-hm7zk", Namespace: "default"},
			Status:     corev1.PodStatus{PodIP: "10.44.0.11"},
		})
		c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			select {
			case <-src.started:
			case <-time.After(30 * time.Second):
			}
			return false, nil, nil
		})
		return c, "test", nil
	})
	core, logs := observer.New(zapcore.InfoLevel)
	set := extensiontest.NewNopSettings(Type)
	set.Logger = zap.New(core)
	cfg := createDefaultConfig()
	cfg.KubernetesEnrichment.Enabled = EnrichmentOn
	cfg.KubernetesEnrichment.SyncTimeout = 5 * time.Second
	ext, err := newExtension(set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.start(t.Context(), []istioconfig.Source{src}))
	defer func() { require.NoError(t, ext.Shutdown(t.Context())) }()
	assert.Zero(t, logs.FilterMessageSnippet("not synced yet").Len(), "the pod cache waited out its timeout")
	assert.True(t, ext.kube.cache.Synced())
	assert.Equal(t, 1, ext.kube.cache.Len())
}

// failingSource cannot be started.
type failingSource struct{}

func (failingSource) String() string                      { return "failing source" }
func (failingSource) Start(context.Context, func()) error { return errors.New("no such directory") }
func (failingSource) Load() (istioconfig.Input, error)    { return istioconfig.Input{}, nil }

// A source that fails ends Start with its error at once, without waiting
// for a pod cache that is not listed.
func TestEnrichmentSourceFailureEndsStart(t *testing.T) {
	unblock := make(chan struct{})
	defer close(unblock)
	withKubeClient(t, func(EnrichmentMode) (kubernetes.Interface, string, error) {
		c := fake.NewClientset()
		c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			<-unblock
			return false, nil, nil
		})
		return c, "test", nil
	})
	cfg := createDefaultConfig()
	cfg.KubernetesEnrichment.Enabled = EnrichmentOn
	cfg.KubernetesEnrichment.SyncTimeout = time.Hour
	ext, err := newExtension(extensiontest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- ext.start(t.Context(), []istioconfig.Source{failingSource{}}) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "loading the Istio configuration")
		assert.Contains(t, err.Error(), "no such directory")
		assert.Nil(t, ext.kube, "the pod cache is stopped")
	case <-time.After(20 * time.Second):
		t.Fatal("Start still waits for the pod cache after its source failed")
	}
	require.NoError(t, ext.Shutdown(t.Context()))
}
