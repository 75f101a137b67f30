package istioconfigextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-istio/otelcol-istio/internal/readmetest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      string
		want    *Config
		wantErr string
	}{
		{id: "", want: createDefaultConfig()},
		{id: "all", want: &Config{
			Sources: []SourceConfig{
				{Embedded: "istio-1.1"},
				{Path: "/etc/istio-telemetry"},
				{Kubernetes: &KubernetesConfig{Namespaces: []string{"istio-system", "default"}}},
			},
			DefaultConfigNamespace: "mesh-config",
			Debounce:               500 * time.Millisecond,
			Language:               "compat",
		}},
		{id: "kube_all", want: &Config{
			Sources:                []SourceConfig{{Kubernetes: &KubernetesConfig{}}},
			DefaultConfigNamespace: "istio-system",
			Debounce:               200 * time.Millisecond,
		}},
		{id: "kube_null", wantErr: "sources[0]: set exactly one of embedded, path and kubernetes (for all namespaces write kubernetes: {})"},
		{id: "empty_source", wantErr: "sources[0]: set exactly one of embedded, path and kubernetes (for all namespaces write kubernetes: {})"},
		{id: "two_in_one", wantErr: "sources[0]: set exactly one of embedded, path and kubernetes (for all namespaces write kubernetes: {})"},
		{id: "bad_profile", wantErr: `sources[0]: embedded: unknown embedded profile "istio-0.8" (known: istio-1.1, istio-telemetry-v2)`},
		{id: "no_sources", wantErr: "sources: give at least one source (embedded, path or kubernetes)"},
		{id: "bad_values", wantErr: `sources[0]: kubernetes: namespaces: "Bad_NS" is not a valid namespace name
sources: give at most one kubernetes source (list its namespaces instead)
default_config_namespace: "Istio_System" is not a valid namespace name
debounce: must not be negative
language: "OTTL" is not supported: give CEXL, COMPAT or CEL, or leave it out to follow each resource's policy.istio.io/lang annotation`},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			id := component.NewID(Type)
			if tt.id != "" {
				id = component.NewIDWithName(Type, tt.id)
			}
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			require.NoError(t, sub.Unmarshal(cfg))
			err = cfg.Validate()
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}

// TestREADMEConfigs checks that the configurations in README.md decode and
// validate, and that the first one (the one that runs) starts.
func TestREADMEConfigs(t *testing.T) {
	confs := readmetest.Configs(t, "README.md", "extensions::istio_config")
	require.GreaterOrEqual(t, len(confs), 2)
	for i, sub := range confs {
		cfg := createDefaultConfig()
		require.NoError(t, sub.Unmarshal(cfg))
		require.NoError(t, cfg.Validate())
		if i == 0 {
			ext, err := NewFactory().Create(t.Context(), extensiontest.NewNopSettings(Type), cfg)
			require.NoError(t, err)
			require.NoError(t, ext.Start(t.Context(), componenttest.NewNopHost()))
			require.NoError(t, ext.Shutdown(t.Context()))
		}
	}
}
