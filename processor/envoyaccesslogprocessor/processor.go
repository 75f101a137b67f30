package envoyaccesslogprocessor

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	otelattr "go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-istio/otelcol-istio/internal/accesslog"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/envoycluster"
)

const scopeName = "github.com/otelcol-istio/otelcol-istio/processor/envoyaccesslogprocessor"

// Resource attributes the file_log receiver's container parser sets from
// the pod-log path /var/log/pods/<namespace>_<pod>_<uid>/<container>/N.log.
// Without them (add_metadata_from_filepath: false, which spares the parser a
// regular expression per line), the pod comes from the record's file path
// (include_file_path: true).
const (
	namespaceAttr = "k8s.namespace.name"
	podAttr       = "k8s.pod.name"
	fileAttr      = "log.file.path"
	// Envoy's OpenTelemetry access logger named the proxy by its node id
	// on the resource until Istio 1.20 (disable_builtin_labels).
	nodeAttr = "node_name"
)

// accessLogProcessor turns records whose body is an access-log line into
// attribute-bag records, in place.
type accessLogProcessor struct {
	logger  *zap.Logger
	parser  *accesslog.Parser
	mapper  *accesslog.Mapper
	pass    bool
	packed  bool
	entries sync.Pool

	parsed   metric.Int64Counter
	unparsed metric.Int64Counter
	// attribute sets of the unparsed counter, built once
	notAccessLog, noMatch metric.MeasurementOption
}

func newProcessor(set processor.Settings, cfg *Config) (*accessLogProcessor, error) {
	parser, err := cfg.parser()
	if err != nil {
		return nil, err
	}
	p := &accessLogProcessor{
		logger: set.Logger,
		parser: parser,
		mapper: accesslog.NewMapper(accesslog.MapperOptions{WorkloadFromPodName: cfg.WorkloadFromPodName}),
		pass:   cfg.OnError == OnErrorPass,
		packed: cfg.RecordEncoding == EncodingPacked,
	}
	p.entries.New = func() any { return new(accesslog.Entry) }
	m := set.MeterProvider.Meter(scopeName)
	var errs error
	p.parsed, err = m.Int64Counter("otelcol_envoy_access_log_parsed_lines",
		metric.WithDescription("Access-log lines turned into attribute-bag records."),
		metric.WithUnit("{line}"))
	errs = errors.Join(errs, err)
	p.unparsed, err = m.Int64Counter("otelcol_envoy_access_log_unparsed_lines",
		metric.WithDescription("Records that are not access-log lines, by reason (not_access_log: does not start like one, e.g. an istio-agent line; no_match: matches none of the formats) and action (drop or pass, per on_error)."),
		metric.WithUnit("{line}"))
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, errs
	}
	action := otelattr.String("action", cfg.OnError)
	p.notAccessLog = metric.WithAttributeSet(otelattr.NewSet(otelattr.String("reason", "not_access_log"), action))
	p.noMatch = metric.WithAttributeSet(otelattr.NewSet(otelattr.String("reason", "no_match"), action))
	return p, nil
}

func (p *accessLogProcessor) process(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	e := p.entries.Get().(*accesslog.Entry)
	defer p.entries.Put(e)
	var parsed, notAccessLog, noMatch int64
	w := bagrecord.NewWriter(p.packed)
	w.Reset(ld.LogRecordCount())
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rep := p.resourceReporter(rl.Resource().Attributes())
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				err := accesslog.ErrNotAccessLog
				body := lr.Body()
				if body.Type() == pcommon.ValueTypeStr {
					err = p.parser.Parse(body.Str(), e)
				}
				if err == nil {
					r := rep
					if r == nil {
						r = p.recordReporter(lr.Attributes())
					}
					p.mapper.Record(w, lr, e, r)
					parsed++
					return false
				}
				if errors.Is(err, accesslog.ErrNotAccessLog) {
					notAccessLog++
				} else {
					noMatch++
				}
				if ce := p.logger.Check(zap.DebugLevel, "not an access-log line"); ce != nil {
					ce.Write(zap.Error(err), zap.String("body", truncate(body.AsString(), 512)))
				}
				return !p.pass
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	if parsed > 0 {
		p.parsed.Add(ctx, parsed)
	}
	if notAccessLog > 0 {
		p.unparsed.Add(ctx, notAccessLog, p.notAccessLog)
	}
	if noMatch > 0 {
		p.unparsed.Add(ctx, noMatch, p.noMatch)
	}
	if ld.ResourceLogs().Len() == 0 {
		return ld, processorhelper.ErrSkipProcessingData
	}
	return ld, nil
}

// resourceReporter finds the pod of a resource's records: the container
// parser's attributes, or an Envoy node id.
func (p *accessLogProcessor) resourceReporter(res pcommon.Map) *accesslog.Reporter {
	return p.reporter(res, nodeAttr, podOfNodeID)
}

// podOfNodeID is the pod an Envoy node id names.
func podOfNodeID(id string) (namespace, pod string, ok bool) {
	n, ok := envoycluster.ParseNodeID(id)
	return n.Namespace, n.Pod, ok && n.Pod != ""
}

// recordReporter finds the pod of a record whose resource names none: on
// the record itself, where another parser or the provider's labels may
// have put it, or in the path of the pod-log file it was read from.
func (p *accessLogProcessor) recordReporter(attrs pcommon.Map) *accesslog.Reporter {
	return p.reporter(attrs, fileAttr, accesslog.PodOfLogPath)
}

// reporter is the pod that attrs name in k8s.namespace.name and
// k8s.pod.name, or else in the attribute other as podOf reads it.
func (p *accessLogProcessor) reporter(attrs pcommon.Map, other string, podOf func(string) (string, string, bool)) *accesslog.Reporter {
	if r := p.mapper.Reporter(str(attrs, namespaceAttr), str(attrs, podAttr)); r != nil {
		return r
	}
	if ns, pod, ok := podOf(str(attrs, other)); ok {
		return p.mapper.Reporter(ns, pod)
	}
	return nil
}

func str(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
