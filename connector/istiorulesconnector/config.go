package istiorulesconnector // import "github.com/otelcol-istio/otelcol-istio/connector/istiorulesconnector"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Config configures the istio_rules connector.
type Config struct {
	// Config is the istio_config extension that supplies the Istio
	// resources.
	Config component.ID `mapstructure:"config"`
	// FlushInterval is how often the full state of every metric is emitted.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// MaxSeriesPerMetric caps the series of each metric (0: no cap); new
	// series beyond it are dropped and counted.
	MaxSeriesPerMetric int `mapstructure:"max_series_per_metric"`
	// RecordEncoding is the form of the instance records on the logs
	// output: `attributes` (one attribute per variable, DESIGN §3.3; the
	// default) or `packed` (one Bytes body, read by istio_stdio only).
	RecordEncoding string `mapstructure:"record_encoding"`
	_              struct{}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Config.Type().String() == "" {
		errs = append(errs, errors.New("config: the istio_config extension to use must be set"))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, errors.New("flush_interval: must be positive"))
	}
	if c.MaxSeriesPerMetric < 0 {
		errs = append(errs, errors.New("max_series_per_metric: must not be negative"))
	}
	if err := kvpack.CheckEncoding(c.RecordEncoding); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
