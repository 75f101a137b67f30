// Package embeddedprovider is a confmap provider for collector configurations
// compiled into the otelcol-istio binary: `--config=embedded:default`.
//
// The binary runs `embedded:default` when it is started without any --config
// flag, so a newcomer gets a working pipeline with no file at all. Because it
// is an ordinary provider, the embedded configuration also merges with the
// user's own: `--config=embedded:default --config=file:overrides.yaml`.
package embeddedprovider // import "github.com/otelcol-istio/otelcol-istio/confmap/provider/embeddedprovider"

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

const schemeName = "embedded"

//go:embed configs/*.yaml
var configs embed.FS

// DefaultURI is the configuration the binary runs when no --config is given.
const DefaultURI = schemeName + ":default"

type provider struct{}

// NewFactory returns a factory for the `embedded:` scheme.
func NewFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return provider{} })
}

func (provider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	name, ok := strings.CutPrefix(uri, schemeName+":")
	if !ok {
		return nil, fmt.Errorf("%q uri is not supported by %q provider", uri, schemeName)
	}
	b, err := Config(name)
	if err != nil {
		return nil, err
	}
	return confmap.NewRetrievedFromYAML(b)
}

func (provider) Scheme() string { return schemeName }

func (provider) Shutdown(context.Context) error { return nil }

// Config returns the YAML of the named embedded configuration.
func Config(name string) ([]byte, error) {
	b, err := configs.ReadFile("configs/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("embedded configuration %q does not exist (known: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the embedded configurations.
func Names() []string {
	entries, _ := fs.ReadDir(configs, "configs")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}
