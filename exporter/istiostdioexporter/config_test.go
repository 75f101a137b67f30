package istiostdioexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig().(*Config)
	custom.Config = component.MustNewIDWithName("istio_config", "mesh")
	custom.Timeout = 2 * time.Second
	custom.ShutdownTimeout = 20 * time.Second
	q := custom.QueueConfig.Get()
	q.NumConsumers = 2
	q.QueueSize = 500
	custom.RetryConfig = configretry.BackOffConfig{
		Enabled:             true,
		InitialInterval:     time.Second,
		RandomizationFactor: custom.RetryConfig.RandomizationFactor,
		Multiplier:          custom.RetryConfig.Multiplier,
		MaxInterval:         10 * time.Second,
		MaxElapsedTime:      time.Minute,
	}

	noQueue := createDefaultConfig().(*Config)
	noQueue.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	noQueue.RetryConfig.Enabled = false

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(componentType), want: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(componentType, "custom"), want: custom},
		{id: component.NewIDWithName(componentType, "no_queue"), want: noQueue},
		{id: component.NewIDWithName(componentType, "no_extension"), wantErr: "'config' id must not be empty"},
		{id: component.NewIDWithName(componentType, "bad_timeout"), wantErr: "timeout"},
		{id: component.NewIDWithName(componentType, "bad_shutdown_timeout"), wantErr: "shutdown_timeout: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			if noQ := !tt.want.QueueConfig.HasValue(); noQ {
				assert.False(t, cfg.(*Config).QueueConfig.HasValue())
				cfg.(*Config).QueueConfig = tt.want.QueueConfig
			}
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, "istio_config", cfg.Config.String())
	require.True(t, cfg.QueueConfig.HasValue())
	assert.Equal(t, 1, cfg.QueueConfig.Get().NumConsumers)
	assert.Equal(t, 5*time.Second, cfg.ShutdownTimeout)
	assert.NoError(t, confmap.Validate(cfg))

	// A config built in code can still lack the extension id.
	cfg.Config = component.ID{}
	assert.ErrorContains(t, cfg.Validate(), "must name the istio_config extension")
}

// The queue is bounded in lines whatever the size of a Report, and keeps
// them in order.
func TestDefaultQueue(t *testing.T) {
	q := createDefaultConfig().(*Config).QueueConfig
	require.True(t, q.HasValue())
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, q.Get().Sizer)
	assert.Equal(t, int64(20_000), q.Get().QueueSize)
	assert.Equal(t, 1, q.Get().NumConsumers)
	assert.False(t, q.Get().BlockOnOverflow, "a stalled output must not hold up the rules")
}
