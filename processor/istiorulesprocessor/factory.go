package istiorulesprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
)

var componentType = component.MustNewType("istio_rules")

// NewFactory returns the factory of the istio_rules processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(componentType, createDefaultConfig,
		processor.WithLogs(createLogs, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	return &Config{Config: component.MustNewID("istio_config"), RecordEncoding: instancerecord.EncodingAttributes}
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p := &rulesProcessor{set: set, cfg: cfg.(*Config)}
	return processorhelper.NewLogs(ctx, set, cfg, next, p.process,
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown),
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
