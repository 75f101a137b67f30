package istiostdioexporter // import "github.com/otelcol-istio/otelcol-istio/exporter/istiostdioexporter"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config configures the istio_stdio exporter. Where and how each handler's
// lines are written is not configured here: it comes from the handler's
// params in the istio_config extension.
type Config struct {
	// Config names the istio_config extension that holds the stdio
	// handlers' params. When the collector runs no such extension, every
	// handler is written with the stdio adapter's defaults.
	Config component.ID `mapstructure:"config"`

	// ShutdownTimeout bounds how long shutdown waits for stdout or stderr
	// to take the lines still queued; what is left after it is dropped.
	// 0 waits as long as it takes.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`

	exporterhelper.TimeoutConfig `mapstructure:",squash"`
	QueueConfig                  configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig                  configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the exporter's own settings; the embedded helper configs
// are validated by the collector on their own.
func (c *Config) Validate() error {
	if c.Config.Type().String() == "" {
		return errors.New("config: must name the istio_config extension, e.g. `config: istio_config`")
	}
	if c.ShutdownTimeout < 0 {
		return errors.New("shutdown_timeout: must not be negative (0 waits as long as it takes)")
	}
	return nil
}
