package mixerreceiver // import "github.com/otelcol-istio/otelcol-istio/receiver/mixerreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

var componentType = component.MustNewType("mixer")

// defaultEndpoint is where Mixer's API server (istio-telemetry) listened.
const defaultEndpoint = "localhost:9091"

// NewFactory returns the factory of the mixer receiver: Mixer's Report and
// Check API and Envoy's Access Log Service on one gRPC server, every report
// or access-log entry turned into an attribute-bag log record.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(componentType, createDefaultConfig,
		receiver.WithLogs(createLogs, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	srv := configgrpc.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = defaultEndpoint
	return &Config{ServerConfig: srv, RecordEncoding: EncodingAttributes,
		InitialWindowSize: defaultWindow, InitialConnWindowSize: defaultWindow}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
