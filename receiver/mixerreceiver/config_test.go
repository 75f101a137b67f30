package mixerreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-istio/otelcol-istio/internal/readmetest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id      component.ID
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{
			id: component.NewID(componentType),
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, createDefaultConfig(), c)
				assert.Equal(t, "localhost:9091", c.NetAddr.Endpoint)
				assert.Equal(t, "tcp", string(c.NetAddr.Transport))
				assert.Equal(t, EncodingAttributes, c.RecordEncoding)
				assert.Equal(t, int32(1<<20), c.InitialWindowSize)
				assert.Equal(t, int32(1<<20), c.InitialConnWindowSize)
			},
		},
		{
			id: component.NewIDWithName(componentType, "custom"),
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, "0.0.0.0:19091", c.NetAddr.Endpoint)
				assert.Equal(t, 16, c.MaxRecvMsgSizeMiB)
				require.True(t, c.Keepalive.HasValue())
				ka := c.Keepalive.Get()
				require.True(t, ka.ServerParameters.HasValue())
				assert.Equal(t, 5*time.Minute, ka.ServerParameters.Get().MaxConnectionAge)
				assert.Equal(t, 30*time.Second, ka.ServerParameters.Get().Time)
				require.True(t, ka.EnforcementPolicy.HasValue())
				assert.Equal(t, 10*time.Second, ka.EnforcementPolicy.Get().MinTime)
				assert.True(t, ka.EnforcementPolicy.Get().PermitWithoutStream)
				require.True(t, c.TLS.HasValue())
				assert.Equal(t, "/etc/certs/cert-chain.pem", c.TLS.Get().CertFile)
				assert.Equal(t, "/etc/certs/key.pem", c.TLS.Get().KeyFile)
				assert.Equal(t, "/etc/certs/root-cert.pem", c.TLS.Get().ClientCAFile)
			},
		},
		{
			id: component.NewIDWithName(componentType, "unix"),
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, "/var/run/mixer.sock", c.NetAddr.Endpoint)
				assert.Equal(t, "unix", string(c.NetAddr.Transport))
			},
		},
		{
			id: component.NewIDWithName(componentType, "packed"),
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, EncodingPacked, c.RecordEncoding)
			},
		},
		{
			id: component.NewIDWithName(componentType, "windows"),
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, int32(0), c.InitialWindowSize)
				assert.Equal(t, int32(4<<20), c.InitialConnWindowSize)
			},
		},
		{id: component.NewIDWithName(componentType, "small_window"), wantErr: "initial_window_size: 1024 is below HTTP/2's minimum of 65535 bytes"},
		{id: component.NewIDWithName(componentType, "no_endpoint"), wantErr: "endpoint: must be set"},
		{id: component.NewIDWithName(componentType, "bad_encoding"), wantErr: `record_encoding: "gzip" is not one of "attributes", "packed"`},
		{id: component.NewIDWithName(componentType, "udp"), wantErr: `transport: "udp" cannot carry gRPC`},
		{id: component.NewIDWithName(componentType, "bad_size"), wantErr: "max_recv_msg_size_mib"},
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
			tt.check(t, cfg.(*Config))
		})
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}

func TestDefaultConfig(t *testing.T) {
	want := configgrpc.NewDefaultServerConfig()
	want.NetAddr.Endpoint = "localhost:9091"
	assert.Equal(t, &Config{ServerConfig: want, RecordEncoding: "attributes",
		InitialWindowSize: 1 << 20, InitialConnWindowSize: 1 << 20}, createDefaultConfig())
	assert.NoError(t, createDefaultConfig().(*Config).Validate())
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "mixer", f.Type().String())
	assert.Equal(t, component.StabilityLevelAlpha, f.LogsStability())
}

// The configurations in README.md configure this receiver validly.
func TestREADMEConfigs(t *testing.T) {
	confs := readmetest.Configs(t, "README.md", "receivers::mixer")
	for _, sub := range confs {
		cfg := createDefaultConfig()
		require.NoError(t, sub.Unmarshal(cfg))
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, "0.0.0.0:9091", cfg.(*Config).NetAddr.Endpoint)
	}
	assert.Len(t, confs, 3)
}
