package envoyaccesslogprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-istio/otelcol-istio/internal/readmetest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		name string
		want *Config
		err  string
	}{
		{"", &Config{Format: "auto", OnError: "drop", RecordEncoding: "attributes"}, ""},
		{"v1_1", &Config{Format: "istio-1.1", OnError: "pass", RecordEncoding: "attributes"}, ""},
		{"json", &Config{Format: "json", OnError: "drop", RecordEncoding: "attributes"}, ""},
		{"custom", &Config{Format: "custom", OnError: "drop", RecordEncoding: "attributes", WorkloadFromPodName: true,
			CustomFormat: `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% "%REQ(CONTENT-TYPE)%" %DURATION% %UPSTREAM_CLUSTER_RAW% %DOWNSTREAM_PEER_URI_SAN%`}, ""},
		{"auto_custom", &Config{Format: "auto", OnError: "drop", RecordEncoding: "attributes",
			CustomFormat: `{"start_time":"%START_TIME%","method":"%REQ(:METHOD)%","grpc_status":"%GRPC_STATUS(NUMBER)%"}`}, ""},
		{"bad_format", nil, `format: "istio-2.0" is not auto, custom, json or istio-1.N`},
		{"custom_missing", nil, "custom_format: must be set when format is custom"},
		{"custom_with_preset", nil, "custom_format: only used with format custom or auto, not istio-1.23"},
		{"custom_broken", nil, "custom_format: column 2: operator %START_TIME is not closed by %"},
		{"bad_on_error", nil, `on_error: "keep" is neither drop nor pass`},
		{"packed", &Config{Format: "auto", OnError: "drop", RecordEncoding: "packed"}, ""},
		{"bad_encoding", nil, `record_encoding: "zip" is not one of "attributes", "packed"`},
	}
	for _, tt := range tests {
		id := component.NewIDWithName(componentType, tt.name)
		t.Run(id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}

// The configurations in README.md configure this processor validly.
func TestREADMEConfigs(t *testing.T) {
	confs := readmetest.Configs(t, "README.md", "processors::envoy_access_log")
	for _, sub := range confs {
		cfg := createDefaultConfig()
		require.NoError(t, sub.Unmarshal(cfg))
		require.NoError(t, confmap.Validate(cfg))
	}
	assert.Len(t, confs, 2)
}
