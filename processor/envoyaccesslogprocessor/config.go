package envoyaccesslogprocessor // import "github.com/otelcol-istio/otelcol-istio/processor/envoyaccesslogprocessor"

import (
	"errors"
	"fmt"

	"github.com/otelcol-istio/otelcol-istio/internal/accesslog"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Formats besides the presets (istio-1.N, json).
const (
	FormatAuto   = "auto"
	FormatCustom = "custom"
)

// The forms of the bag records written (record_encoding).
const (
	EncodingAttributes = kvpack.EncodingAttributes
	EncodingPacked     = kvpack.EncodingPacked
)

// What happens to a record whose body is not an access-log line.
const (
	OnErrorDrop = "drop"
	OnErrorPass = "pass"
)

// Config configures the envoy_access_log processor.
type Config struct {
	// Format of the lines: auto (detect among Istio's default TEXT formats
	// and the JSON encoding, per line), istio-1.N (the default TEXT format
	// of Istio 1.N), json (Istio's JSON encoding) or custom (CustomFormat).
	Format string `mapstructure:"format"`
	// CustomFormat is an Envoy format string of command operators, TEXT or
	// a JSON object of keys to operators (meshConfig.accessLogFormat). With
	// format auto it is tried before the presets.
	CustomFormat string `mapstructure:"custom_format"`
	// OnError says what to do with a record that is not an access-log line
	// (istio-agent's own log lines share the container's stdout): drop it,
	// or pass it on unchanged. Either way it is counted.
	OnError string `mapstructure:"on_error"`
	// WorkloadFromPodName fills the reporting workload's name
	// (source.workload.name on the client side, destination.workload.name
	// on the server side) from its pod's name, the way Kubernetes names the
	// pods of Deployments, DaemonSets, Jobs and StatefulSets. A guess, off
	// by default.
	WorkloadFromPodName bool `mapstructure:"workload_from_pod_name"`
	// RecordEncoding is the form of the bag records: attributes (one per
	// Istio attribute, the default) or packed (one Bytes body, read by the
	// istio_rules components only; see internal/bagrecord).
	RecordEncoding string `mapstructure:"record_encoding"`
	_              struct{}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	_, err := c.formats()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if c.OnError != OnErrorDrop && c.OnError != OnErrorPass {
		errs = append(errs, fmt.Errorf("on_error: %q is neither drop nor pass", c.OnError))
	}
	if err := kvpack.CheckEncoding(c.RecordEncoding); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// parser returns the Parser the configuration asks for.
func (c *Config) parser() (*accesslog.Parser, error) {
	fs, err := c.formats()
	if err != nil {
		return nil, err
	}
	if c.Format == FormatAuto {
		return accesslog.NewAutoParser(fs...), nil
	}
	return accesslog.NewParser(fs...), nil
}

// formats returns the format to parse with, or for auto the custom format
// to try first (if any).
func (c *Config) formats() ([]*accesslog.Format, error) {
	var custom *accesslog.Format
	if c.CustomFormat != "" {
		f, err := accesslog.Compile(c.CustomFormat)
		if err != nil {
			return nil, fmt.Errorf("custom_format: %w", err)
		}
		custom = f
	}
	switch c.Format {
	case FormatAuto:
		if custom != nil {
			return []*accesslog.Format{custom}, nil
		}
		return nil, nil
	case FormatCustom:
		if custom == nil {
			return nil, errors.New("custom_format: must be set when format is custom")
		}
		return []*accesslog.Format{custom}, nil
	}
	f, err := accesslog.Preset(c.Format)
	if err != nil {
		return nil, fmt.Errorf("format: %q is not auto, custom, json or istio-1.N", c.Format)
	}
	if custom != nil {
		return nil, fmt.Errorf("custom_format: only used with format custom or auto, not %s", c.Format)
	}
	return []*accesslog.Format{f}, nil
}
