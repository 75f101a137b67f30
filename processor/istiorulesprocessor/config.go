package istiorulesprocessor // import "github.com/otelcol-istio/otelcol-istio/processor/istiorulesprocessor"

import (
	"errors"

	"go.opentelemetry.io/collector/component"
)

// Config configures the istio_rules processor.
type Config struct {
	// Config is the istio_config extension that supplies the Istio
	// resources.
	Config component.ID `mapstructure:"config"`
	// KeepAttributes keeps the attribute-bag records next to the instance
	// records produced from them; by default they are replaced.
	KeepAttributes bool `mapstructure:"keep_attributes"`
	_              struct{}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Config.Type().String() == "" {
		return errors.New("config: the istio_config extension to use must be set")
	}
	return nil
}
