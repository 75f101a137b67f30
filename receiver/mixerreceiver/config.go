package mixerreceiver // import "github.com/otelcol-istio/otelcol-istio/receiver/mixerreceiver"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"

	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Config configures the mixer receiver: the collector's standard gRPC server
// settings (endpoint, transport, tls with client_ca_file for mTLS,
// keepalive, max_recv_msg_size_mib, auth ...) at the top level.
type Config struct {
	configgrpc.ServerConfig `mapstructure:",squash"`
	// RecordEncoding is how Mixer reports become bag records: `attributes`
	// (one attribute per Istio attribute, DESIGN §3.1; the default) or
	// `packed` (one Bytes body, read by the istio_rules components only).
	RecordEncoding string `mapstructure:"record_encoding"`
	// InitialWindowSize and InitialConnWindowSize are the HTTP/2 flow-control
	// windows the server grants each stream and each connection, in bytes.
	// A fixed window also turns off gRPC's bandwidth-delay probing, which
	// otherwise pings the sender while a large Report arrives. 0 keeps
	// gRPC's own behaviour (64 KiB, grown by probing).
	InitialWindowSize     int32 `mapstructure:"initial_window_size"`
	InitialConnWindowSize int32 `mapstructure:"initial_conn_window_size"`
}

// defaultWindow holds a proxy's largest usual Report (100 bags, 30–50 kB)
// many times over.
const defaultWindow = 1 << 20

// minWindow is HTTP/2's initial window; gRPC ignores smaller settings.
const minWindow = 65535

// The values of record_encoding.
const (
	EncodingAttributes = kvpack.EncodingAttributes
	EncodingPacked     = kvpack.EncodingPacked
)

var _ component.Config = (*Config)(nil)

// Validate checks what the embedded gRPC settings do not: that there is an
// address to listen on, on a stream transport.
func (c *Config) Validate() error {
	if c.NetAddr.Endpoint == "" {
		return errors.New("endpoint: must be set, e.g. `endpoint: localhost:9091`")
	}
	switch c.NetAddr.Transport {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return fmt.Errorf("transport: %q cannot carry gRPC; use tcp, tcp4, tcp6 or unix", c.NetAddr.Transport)
	}
	for _, w := range []struct {
		key string
		v   int32
	}{{"initial_window_size", c.InitialWindowSize}, {"initial_conn_window_size", c.InitialConnWindowSize}} {
		if w.v != 0 && w.v < minWindow {
			return fmt.Errorf("%s: %d is below HTTP/2's minimum of %d bytes (0 keeps gRPC's default)", w.key, w.v, minWindow)
		}
	}
	return kvpack.CheckEncoding(c.RecordEncoding)
}
