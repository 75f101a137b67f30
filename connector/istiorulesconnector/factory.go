package istiorulesconnector

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
)

var componentType = component.MustNewType("istio_rules")

// NewFactory returns the factory of the istio_rules connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(componentType, createDefaultConfig,
		connector.WithLogsToMetrics(createLogsToMetrics, component.StabilityLevelAlpha),
		connector.WithLogsToLogs(createLogsToLogs, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	return &Config{
		Config:             component.MustNewID("istio_config"),
		FlushInterval:      5 * time.Second,
		MaxSeriesPerMetric: 10000,
		RecordEncoding:     instancerecord.EncodingAttributes,
	}
}

func createLogsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	c := acquire(set, cfg.(*Config))
	c.metrics = next
	return &side{core: c, isLogs: false}, nil
}

func createLogsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Logs, error) {
	c := acquire(set, cfg.(*Config))
	c.logs = next
	return &side{core: c, isLogs: true}, nil
}
