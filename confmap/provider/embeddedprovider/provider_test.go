package embeddedprovider

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

func TestRetrieve(t *testing.T) {
	p := NewFactory().Create(confmap.ProviderSettings{})
	assert.Equal(t, "embedded", p.Scheme())

	ret, err := p.Retrieve(context.Background(), DefaultURI, nil)
	require.NoError(t, err)
	conf, err := ret.AsConf()
	require.NoError(t, err)
	assert.True(t, conf.IsSet("service::pipelines"), "the default configuration must define pipelines")
	assert.True(t, conf.IsSet("extensions::health_check"), "the default configuration must serve health_check")

	_, err = p.Retrieve(context.Background(), "embedded:nosuch", nil)
	assert.ErrorContains(t, err, `embedded configuration "nosuch" does not exist (known: default`)

	_, err = p.Retrieve(context.Background(), "file:default", nil)
	assert.ErrorContains(t, err, "not supported")
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestNames(t *testing.T) {
	assert.Contains(t, Names(), "default")
}

// TestEmbeddedConfigsParse: every embedded configuration is YAML the
// provider serves, with the keys a runnable configuration needs.
func TestEmbeddedConfigsParse(t *testing.T) {
	p := NewFactory().Create(confmap.ProviderSettings{})
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			ret, err := p.Retrieve(context.Background(), "embedded:"+name, nil)
			require.NoError(t, err)
			conf, err := ret.AsConf()
			require.NoError(t, err)
			for _, key := range []string{"service::pipelines", "extensions::health_check", "extensions::istio_config"} {
				assert.True(t, conf.IsSet(key), "embedded:%s does not set %s", name, key)
			}
		})
	}
	assert.Contains(t, Names(), "telemetry-v2")
}
