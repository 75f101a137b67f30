package istiostdioexporter // import "github.com/otelcol-istio/otelcol-istio/exporter/istiostdioexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

var componentType = component.MustNewType("istio_stdio")

// NewFactory returns the factory of the istio_stdio exporter, which writes
// logentry and metric instance records as Mixer's stdio adapter did.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(componentType, createDefaultConfig,
		exporter.WithLogs(createLogs, component.StabilityLevelAlpha))
}

// defaultQueueLines bounds the lines waiting for their output: about 30 MB
// of heap, a second of the most a collector on one core takes, and many
// seconds at a node's usual rate.
const defaultQueueLines = 20_000

// defaultShutdownTimeout leaves most of a pod's default 30 s grace period
// to the other exporters when stdout has stalled.
const defaultShutdownTimeout = 5 * time.Second

func createDefaultConfig() component.Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	// One consumer keeps batches, and so lines, in the order they arrived;
	// encoding and writing are cheap next to the rules evaluation.
	queue.NumConsumers = 1
	// The queue is bounded in lines, not batches: a batch is one Report's
	// worth (1 to 100 lines), and 1 000 full batches behind a stalled
	// stdout held 141 MB of heap, 335 MB resident at GOGC=200.
	queue.Sizer = exporterhelper.RequestSizerTypeItems
	queue.QueueSize = defaultQueueLines
	return &Config{
		Config:          component.MustNewID("istio_config"),
		ShutdownTimeout: defaultShutdownTimeout,
		TimeoutConfig:   exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig:     configoptional.Some(queue),
		RetryConfig:     configretry.NewDefaultBackOffConfig(),
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	return newLogsExporter(ctx, set, newStdioExporter(c, set.Logger))
}

// newLogsExporter puts e behind exporterhelper's timeout, retry and queue.
func newLogsExporter(ctx context.Context, set exporter.Settings, e *stdioExporter) (exporter.Logs, error) {
	c := e.cfg
	exp, err := exporterhelper.NewLogs(ctx, set, c, e.pushLogs,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
	)
	if err != nil {
		return nil, err
	}
	return &logsExporter{Logs: exp, stdio: e}, nil
}

// logsExporter starts shutdown_timeout's clock before exporterhelper drains
// its queue, which it does before it calls the exporter's own shutdown.
type logsExporter struct {
	exporter.Logs
	stdio *stdioExporter
}

func (l *logsExporter) Shutdown(ctx context.Context) error {
	l.stdio.stopWriting(l.stdio.cfg.ShutdownTimeout)
	return l.Logs.Shutdown(ctx)
}
