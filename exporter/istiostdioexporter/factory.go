package istiostdioexporter // import "github.com/otelcol-istio/otelcol-istio/exporter/istiostdioexporter"

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
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
	return &logsExporter{Logs: exp, stdio: e, maxLines: queuedLines(c)}, nil
}

// queuedLines is the most lines one queued request holds (0: no limit, for
// an exporter without a queue).
func queuedLines(c *Config) int {
	if !c.QueueConfig.HasValue() {
		return 0
	}
	q := c.QueueConfig.Get()
	if q.Sizer == exporterhelper.RequestSizerTypeItems && q.QueueSize > 0 && q.QueueSize < maxQueuedLines {
		return int(q.QueueSize)
	}
	return maxQueuedLines
}

// logsExporter starts shutdown_timeout's clock before exporterhelper drains
// its queue, which it does before it calls the exporter's own shutdown.
type logsExporter struct {
	exporter.Logs
	stdio    *stdioExporter
	maxLines int
}

// ConsumeLogs queues a batch of more than maxLines lines in parts. When some
// parts are refused, the error names their records, so that the connector
// counts only those as lost.
func (l *logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if l.maxLines <= 0 || ld.LogRecordCount() <= l.maxLines {
		return l.Logs.ConsumeLogs(ctx, ld)
	}
	var errs []error
	failed := plog.NewLogs()
	for _, part := range splitLogs(ld, l.maxLines) {
		err := l.Logs.ConsumeLogs(ctx, part)
		if err == nil {
			continue
		}
		errs = append(errs, err)
		var named consumererror.Logs
		if errors.As(err, &named) {
			part = named.Data()
		}
		part.ResourceLogs().MoveAndAppendTo(failed.ResourceLogs())
	}
	if len(errs) == 0 {
		return nil
	}
	return consumererror.NewLogs(errors.Join(errs...), failed)
}

func (l *logsExporter) Shutdown(ctx context.Context) error {
	l.stdio.stopWriting(l.stdio.cfg.ShutdownTimeout)
	return l.Logs.Shutdown(ctx)
}
