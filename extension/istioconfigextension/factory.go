package istioconfigextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

// Type is the extension's type name.
var Type = component.MustNewType("istio_config")

// NewFactory returns the factory of the istio_config extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type,
		func() component.Config { return createDefaultConfig() },
		func(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
			return newExtension(set, cfg.(*Config))
		},
		component.StabilityLevelAlpha)
}
