package istioconfig

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Mixer adapters that the distribution does not implement. A handler of one
// of them is kept (its metric and logentry instances are still emitted as
// OTel data) and listed as unsupported.
var mixerAdapters = map[string]bool{
	"bypass": true, "circonus": true, "cloudwatch": true, "denier": true, "dogstatsd": true,
	"fluentd": true, "list": true, "memquota": true, "noop": true,
	"opa": true, "rbac": true, "redisquota": true, "servicecontrol": true, "signalfx": true,
	"solarwinds": true, "stackdriver": true, "statsd": true, "zipkin": true,
}

// handler validates a `handler` (compiledAdapter + params) or a legacy
// `prometheus` / `stdio` / `kubernetesenv`, whose spec is the params.
func (b *builder) handler(r *Resource) (*Handler, []Problem, string) {
	rd := &reader{res: r}
	adapter := r.Kind
	params := field{val: r.Spec}
	if r.Kind == "handler" {
		f := rd.object(r.Spec, "", true, "compiled_adapter", "adapter", "params", "connection")
		if a, ok := f["adapter"]; ok {
			return nil, nil, fmt.Sprintf("out-of-process adapter %s is not supported", shown(a.val))
		}
		ca, ok := f["compiled_adapter"]
		if !ok {
			rd.failf(nil, "compiledAdapter", "compiledAdapter is missing")
			return nil, rd.probs, ""
		}
		if adapter, _ = rd.str(ca, false); adapter == "" {
			return nil, rd.probs, ""
		}
		params = f["params"]
		if params.path == "" {
			params.path = "params"
		}
		if rd.failed() { // an unknown key next to params: likely a misplaced param
			return nil, rd.probs, ""
		}
	}
	h := &Handler{
		FQN: r.FQN(), Name: r.Name, Namespace: r.Namespace, Kind: r.Kind, Adapter: adapter,
		File: r.File, Line: r.Line,
	}
	why := ""
	switch adapter {
	case AdapterPrometheus:
		p, fatal := b.prometheus(rd, params)
		if fatal {
			return nil, rd.probs, ""
		}
		h.Prometheus = p
	case AdapterStdio:
		p := stdio(rd, params)
		if rd.failed() {
			return nil, rd.probs, ""
		}
		h.Stdio = p
	case AdapterKubernetesEnv:
		p := kubernetesEnv(rd, params)
		if rd.failed() {
			return nil, rd.probs, ""
		}
		h.KubernetesEnv = p
	default:
		h.Raw = map[string]any{}
		if !isNull(params.val) {
			if err := deref(params.val).Decode(&h.Raw); err != nil {
				rd.failf(params.val, params.path, "must be a mapping: %v", err)
				return nil, rd.probs, ""
			}
		}
		if mixerAdapters[adapter] {
			why = fmt.Sprintf("adapter %s is not implemented: its instances are only emitted as OTel data", adapter)
		}
	}
	return h, rd.probs, why
}

// stdio decodes stdio params over the adapter defaults (§d.6, §d.8).
func stdio(rd *reader, params field) *StdioParams {
	p := DefaultStdioParams()
	f := rd.object(params.val, params.path, true,
		"log_stream", "severity_levels", "metric_level", "output_as_json", "output_level", "output_path",
		"max_megabytes_before_rotation", "max_days_before_rotation", "max_rotated_files")
	levels := []string{"INFO", "WARNING", "ERROR"}
	if v, ok := f["log_stream"]; ok {
		s, _ := rd.enum(v, []string{"STDOUT", "STDERR", "FILE", "ROTATED_FILE"})
		p.LogStream = StdioStream(s)
	}
	if v, ok := f["severity_levels"]; ok {
		// A map given in config replaces the default map entirely.
		p.SeverityLevels = map[string]StdioLevel{}
		if deref(v.val).Kind != yaml.MappingNode {
			rd.failf(v.val, v.path, "must be a mapping of severity to level (INFO, WARNING, ERROR), not %s", describe(v.val))
		}
		for _, e := range entries(v.val) {
			l, _ := rd.enum(field{path: join(v.path, e.key), key: e.k, val: e.v}, levels)
			p.SeverityLevels[e.key] = StdioLevel(l)
		}
	}
	if v, ok := f["metric_level"]; ok {
		l, _ := rd.enum(v, levels)
		p.MetricLevel = StdioLevel(l)
	}
	if v, ok := f["output_level"]; ok {
		l, _ := rd.enum(v, levels)
		p.OutputLevel = StdioLevel(l)
	}
	if v, ok := f["output_as_json"]; ok {
		p.OutputAsJSON, _ = rd.boolean(v)
	}
	if v, ok := f["output_path"]; ok {
		p.OutputPath, _ = rd.str(v, false)
	}
	for _, lim := range []struct {
		name string
		dst  *int32
	}{
		{"max_megabytes_before_rotation", &p.MaxMegabytesBeforeRotation},
		{"max_days_before_rotation", &p.MaxDaysBeforeRotation},
		{"max_rotated_files", &p.MaxRotatedFiles},
	} {
		name, dst := lim.name, lim.dst
		if v, ok := f[name]; ok {
			if n, ok := rd.int32(v); ok {
				if n < 0 {
					rd.failf(v.val, v.path, "must not be negative")
				}
				*dst = n
			}
		}
	}
	switch p.LogStream {
	case StreamFile, StreamRotatedFile:
		if p.OutputPath == "" {
			rd.failf(params.val, params.path, "outputPath is required when logStream is %s", p.LogStream)
		}
	default:
		if v, ok := f["output_path"]; ok && p.OutputPath != "" {
			rd.failf(v.val, v.path, "outputPath is only used with logStream FILE or ROTATED_FILE, not %s", p.LogStream)
		}
	}
	return &p
}

var (
	promMetricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promLabelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// prometheus decodes prometheus params (§d.7). A bad metric entry drops
// that metric only (Mixer failed to register just that one); fatal is true
// when the params as a whole are unusable.
func (b *builder) prometheus(rd *reader, params field) (p *PrometheusParams, fatal bool) {
	p = &PrometheusParams{}
	before := len(rd.probs)
	f := rd.object(params.val, params.path, true, "metrics", "metrics_expiration_policy")
	if v, ok := f["metrics_expiration_policy"]; ok {
		pf := rd.object(v.val, v.path, true, "metrics_expiry_duration", "expiry_check_interval_duration")
		pol := &MetricsExpirationPolicy{}
		if d, ok := pf["metrics_expiry_duration"]; ok {
			pol.MetricsExpiryDuration = duration(rd, d)
		}
		if d, ok := pf["expiry_check_interval_duration"]; ok {
			pol.ExpiryCheckIntervalDuration = duration(rd, d)
		}
		if pol.MetricsExpiryDuration <= 0 && len(rd.probs) == before {
			rd.failf(v.val, v.path, "metricsExpiryDuration must be greater than 0 when metricsExpirationPolicy is given")
		}
		p.MetricsExpirationPolicy = pol
	}
	if len(rd.probs) > before {
		return nil, true
	}
	m, ok := f["metrics"]
	if !ok {
		return p, false
	}
	seq := deref(m.val)
	if seq.Kind != yaml.SequenceNode {
		rd.failf(m.val, m.path, "must be a list of metrics, not %s", describe(m.val))
		return nil, true
	}
	names := map[string]string{}
	for i, item := range seq.Content {
		path := index(m.path, i)
		at := len(rd.probs)
		info := b.metricInfo(rd, field{path: path, val: item})
		if len(rd.probs) > at {
			continue
		}
		full := info.PrometheusName()
		if prev, dup := names[full]; dup {
			rd.failf(item, path, "metric %s is defined twice in this handler (also at %s); this one is dropped", full, prev)
			continue
		}
		if o, clash := b.promName[full]; clash && !sameMetric(o.info, info) {
			rd.failf(item, path, "metric %s is already defined differently by %s (%s); this one is dropped", full, o.handler, o.path)
			continue
		}
		names[full] = path
		p.Metrics = append(p.Metrics, *info)
	}
	return p, false
}

// registerMetrics remembers the metric names of an accepted handler: all
// prometheus handlers share one registry.
func (b *builder) registerMetrics(h *Handler) {
	if h.Prometheus == nil {
		return
	}
	for i := range h.Prometheus.Metrics {
		m := &h.Prometheus.Metrics[i]
		if _, ok := b.promName[m.PrometheusName()]; !ok {
			b.promName[m.PrometheusName()] = promOwner{handler: h.FQN, path: fmt.Sprintf("metrics[%d]", i), info: m}
		}
	}
}

func sameMetric(a, b *MetricInfo) bool {
	return a.Kind == b.Kind && slices.Equal(a.SanitizedLabelNames(), b.SanitizedLabelNames()) &&
		slices.Equal(a.Buckets.Bounds(), b.Buckets.Bounds()) && a.InstanceName == b.InstanceName
}

func (b *builder) metricInfo(rd *reader, item field) *MetricInfo {
	info := &MetricInfo{}
	start := len(rd.probs)
	f := rd.object(item.val, item.path, true, "namespace", "name", "instance_name", "description", "kind", "buckets", "label_names")
	if v, ok := f["namespace"]; ok {
		info.Namespace, _ = rd.str(v, false)
	}
	if v, ok := f["name"]; ok {
		info.Name, _ = rd.str(v, false)
	}
	if v, ok := f["description"]; ok {
		info.Description, _ = rd.str(v, false)
	}
	if v, ok := f["instance_name"]; ok {
		info.InstanceName, _ = rd.str(v, false)
	}
	if info.InstanceName == "" {
		rd.failf(item.val, item.path, "instanceName is missing: name the metric instance it exports, e.g. requestcount.metric.istio-system")
	}
	if v, ok := f["kind"]; ok {
		k, ok := rd.enum(v, []string{"UNSPECIFIED", "GAUGE", "COUNTER", "DISTRIBUTION"})
		if ok && k == 0 {
			rd.failf(v.val, v.path, "kind must be GAUGE, COUNTER or DISTRIBUTION")
		}
		info.Kind = MetricKind(k)
	} else {
		rd.failf(item.val, item.path, "kind is missing: want GAUGE, COUNTER or DISTRIBUTION")
	}
	if v, ok := f["buckets"]; ok {
		info.Buckets = buckets(rd, v)
	}
	if v, ok := f["label_names"]; ok {
		labels, nodes, _ := rd.strList(v)
		info.LabelNames = labels
		seen := map[string]string{}
		for i, l := range labels {
			s := safeName(l)
			switch {
			case !promLabelNameRE.MatchString(s):
				rd.failf(nodes[i], index(v.path, i), "label name %q is not a valid Prometheus label name", s)
			case strings.HasPrefix(s, "__"):
				rd.failf(nodes[i], index(v.path, i), "label name %q is reserved (it starts with __)", s)
			case seen[s] != "":
				rd.failf(nodes[i], index(v.path, i), "label name %q is given twice (%q and %q)", s, seen[s], l)
			}
			seen[s] = l
		}
	}
	if full := info.PrometheusName(); info.InstanceName != "" && !promMetricNameRE.MatchString(full) {
		rd.failf(item.val, item.path, "metric name %q is not a valid Prometheus metric name", full)
	}
	if len(rd.probs) == start {
		b.checkLabels(rd, item, f, info)
	}
	return info
}

// checkLabels compares a metric's label names with the dimensions of the
// instance it exports. Mixer let the Prometheus client panic on the first
// report and lost the rest of the batch; we refuse the metric at load.
func (b *builder) checkLabels(rd *reader, item field, f map[string]field, info *MetricInfo) {
	inst := b.snap.Instances[info.InstanceName]
	if inst == nil {
		return // not (yet) defined: the runtime counts reports for it as unknown
	}
	at := item
	if v, ok := f["label_names"]; ok {
		at = v
	} else if v, ok := f["instance_name"]; ok {
		at = v
	}
	if inst.Template != TemplateMetric {
		rd.failf(f["instance_name"].val, f["instance_name"].path, "instance %s is a %s instance, not a metric", inst.FQN, inst.Template)
		return
	}
	dims := make([]string, 0, len(inst.Dimensions))
	for _, d := range inst.Dimensions {
		dims = append(dims, d.Name)
	}
	labels := info.SanitizedLabelNames()
	var missing, extra []string
	for _, l := range labels {
		if !slices.Contains(dims, l) {
			missing = append(missing, l)
		}
	}
	for _, d := range dims {
		if !slices.Contains(labels, d) {
			extra = append(extra, d)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return
	}
	var why []string
	if len(missing) > 0 {
		why = append(why, fmt.Sprintf("no dimension for label %s", quoteAll(missing)))
	}
	if len(extra) > 0 {
		why = append(why, fmt.Sprintf("no label for dimension %s", quoteAll(extra)))
	}
	for _, d := range extra {
		if s := safeName(d); s != d && slices.Contains(missing, s) {
			// Mixer sanitised label names but not dimension keys.
			why = append(why, fmt.Sprintf("dimension keys are not sanitised, so rename dimension %q to %q", d, s))
		}
	}
	rd.failf(at.val, at.path, "label names do not match the dimensions of instance %s: %s; the metric is dropped",
		inst.FQN, strings.Join(why, "; "))
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// buckets decodes a BucketsDefinition and checks it can build a histogram.
func buckets(rd *reader, v field) *BucketsDefinition {
	f := rd.object(v.val, v.path, true, "linear_buckets", "exponential_buckets", "explicit_buckets")
	if len(f) > 1 {
		rd.failf(v.val, v.path, "give only one of linearBuckets, exponentialBuckets and explicitBuckets")
		return nil
	}
	def := &BucketsDefinition{}
	switch {
	case f["linear_buckets"].val != nil:
		lf := f["linear_buckets"]
		g := rd.object(lf.val, lf.path, true, "num_finite_buckets", "width", "offset")
		l := &LinearBuckets{}
		l.NumFiniteBuckets = positiveInt(rd, lf, g, "num_finite_buckets")
		if w, ok := g["width"]; ok {
			if l.Width, ok = rd.number(w); ok && l.Width <= 0 {
				rd.failf(w.val, w.path, "width must be greater than 0, not %v", l.Width)
			}
		} else {
			rd.failf(lf.val, lf.path, "width is missing (it must be greater than 0)")
		}
		if o, ok := g["offset"]; ok {
			l.Offset, _ = rd.number(o)
		}
		def.Linear = l
	case f["exponential_buckets"].val != nil:
		ef := f["exponential_buckets"]
		g := rd.object(ef.val, ef.path, true, "num_finite_buckets", "growth_factor", "scale")
		e := &ExponentialBuckets{}
		e.NumFiniteBuckets = positiveInt(rd, ef, g, "num_finite_buckets")
		if gf, ok := g["growth_factor"]; ok {
			if e.GrowthFactor, ok = rd.number(gf); ok && e.GrowthFactor <= 1 {
				rd.failf(gf.val, gf.path, "growthFactor must be greater than 1, not %v", e.GrowthFactor)
			}
		} else {
			rd.failf(ef.val, ef.path, "growthFactor is missing (it must be greater than 1)")
		}
		if s, ok := g["scale"]; ok {
			if e.Scale, ok = rd.number(s); ok && e.Scale <= 0 {
				rd.failf(s.val, s.path, "scale must be greater than 0, not %v", e.Scale)
			}
		} else {
			rd.failf(ef.val, ef.path, "scale is missing (it must be greater than 0)")
		}
		def.Exponential = e
	case f["explicit_buckets"].val != nil:
		xf := f["explicit_buckets"]
		g := rd.object(xf.val, xf.path, true, "bounds")
		x := &ExplicitBuckets{}
		if bf, ok := g["bounds"]; ok {
			seq := deref(bf.val)
			if seq.Kind != yaml.SequenceNode {
				rd.failf(bf.val, bf.path, "must be a list of numbers, not %s", describe(bf.val))
				break
			}
			for i, n := range seq.Content {
				v, ok := rd.number(field{path: index(bf.path, i), val: n})
				if !ok {
					continue
				}
				if k := len(x.Bounds); k > 0 && v <= x.Bounds[k-1] {
					rd.failf(n, index(bf.path, i), "bounds must be strictly increasing: %v follows %v", v, x.Bounds[k-1])
				}
				x.Bounds = append(x.Bounds, v)
			}
		}
		if len(x.Bounds) == 0 {
			// The Prometheus client uses its default buckets then; say so
			// in the params rather than leave an empty list to interpret.
			return nil
		}
		def.Explicit = x
	default:
		return nil // buckets: {} means the default buckets
	}
	return def
}

func positiveInt(rd *reader, parent field, g map[string]field, name string) int32 {
	n, ok := g[name]
	if !ok {
		rd.failf(parent.val, parent.path, "numFiniteBuckets is missing (it must be greater than 0)")
		return 0
	}
	v, ok := rd.int32(n)
	if ok && v <= 0 {
		rd.failf(n.val, n.path, "numFiniteBuckets must be greater than 0, not %d", v)
	}
	return v
}

// duration reads a protobuf Duration written as a Go duration string
// ("10m", "600s", "1.5s").
func duration(rd *reader, f field) time.Duration {
	n := deref(f.val)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		rd.failf(f.val, f.path, "must be a duration such as \"10m\" or \"90s\", not %s", describe(f.val))
		return 0
	}
	s := n.Value
	d, err := time.ParseDuration(s)
	if err != nil {
		rd.failf(f.val, f.path, "invalid duration %q: write it like 10m, 90s or 1.5s", s)
		return 0
	}
	if d < 0 {
		rd.failf(f.val, f.path, "must not be negative")
	}
	return d
}
