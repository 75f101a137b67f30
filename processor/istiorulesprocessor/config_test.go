package istiorulesprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(componentType), want: &Config{Config: component.MustNewID("istio_config"), RecordEncoding: "attributes"}},
		{id: component.NewIDWithName(componentType, "keep"), want: &Config{
			Config: component.MustNewIDWithName("istio_config", "mesh"), KeepAttributes: true, RecordEncoding: "attributes"}},
		{id: component.NewIDWithName(componentType, "packed"), want: &Config{Config: component.MustNewID("istio_config"), RecordEncoding: "packed"}},
		{id: component.NewIDWithName(componentType, "bad"), wantErr: `record_encoding: "gzip" is not one of "attributes", "packed"`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.wantErr != "" {
				assert.EqualError(t, confmap.Validate(cfg), tt.wantErr)
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}
