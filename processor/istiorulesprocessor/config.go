package istiorulesprocessor // import "github.com/otelcol-istio/otelcol-istio/processor/istiorulesprocessor"

import (
	"errors"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Config configures the istio_rules processor.
type Config struct {
	// Config is the istio_config extension that supplies the Istio
	// resources.
	Config component.ID `mapstructure:"config"`
	// KeepAttributes keeps the attribute-bag records next to the instance
	// records produced from them; by default they are replaced.
	KeepAttributes bool `mapstructure:"keep_attributes"`
	// RecordEncoding is the form of the instance records: `attributes` (one
	// attribute per variable, DESIGN §3.3; the default) or `packed` (one
	// Bytes body, read by istio_stdio only).
	RecordEncoding string `mapstructure:"record_encoding"`
	_              struct{}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Config.Type().String() == "" {
		errs = append(errs, errors.New("config: the istio_config extension to use must be set"))
	}
	if err := kvpack.CheckEncoding(c.RecordEncoding); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
