package runtime

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

const (
	templateMetric   = instancerecord.TemplateMetric
	templateLogEntry = instancerecord.TemplateLogEntry
)

// plan is a snapshot compiled for dispatch: rules grouped by namespace,
// instances with their per-bag evaluation state, handlers and series tables.
type plan struct {
	snap             *istioconfig.Snapshot
	vocab            *attribute.Vocabulary
	defaultNamespace string
	defaultRules     []*rule
	nsRules          map[string][]*rule
	instances        []*instance
	metrics          map[string]*promMetric // by instance FQN, shared by all prometheus handlers as in Mixer
	promHandlers     []*promHandler
	groups           []*group // output scopes (handler × template)
	keyGroups        map[string]*keyGroup
	problems         []error   // OTTL expressions that did not compile
	wanted           []bool    // attribute slots some expression reads
	kube             *kubeStep // kubernetesenv preprocessing; nil when off (kubeenv.go)

	// Slots of the attributes that decide the identity namespace; -1 when the
	// vocabulary lacks one.
	reporterKind, sourceNamespace, destinationNamespace int
}

type rule struct {
	ruleMatch
	actions []action
}

// ruleMatch is what decides whether a rule (or a kubernetesenv rule)
// applies to a bag: its OTTL condition, else its CEXL match, else always.
type ruleMatch struct {
	fqn       string
	match     *cexl.Expression
	matchOTTL *ottl.Condition[ottlTCtx]
}

// matches evaluates m for the current bag. A failed evaluation is counted
// and logged, and does not match.
func (e *Engine) matches(m *ruleMatch) bool {
	var ok bool
	var err error
	switch {
	case m.matchOTTL != nil:
		ok, err = m.matchOTTL.Eval(context.Background(), e.rec.context())
	case m.match != nil:
		ok, err = m.match.EvalBool(e.bag)
	default:
		return true
	}
	if err != nil {
		e.stats.MatchErrors.Add(1)
		e.logs.warn("rule "+m.fqn, "rule match evaluation failed; treated as not matching", err)
		return false
	}
	return ok
}

type action struct {
	handler   *handler
	instances []*instance
}

type handler struct {
	fqn        string
	adapter    string
	prometheus bool
	stdio      *istioconfig.StdioParams
	groups     map[string]*group // by template
}

type promHandler struct {
	fqn     string
	metrics []*promMetric
	expiry  *expiryPolicy
}

// group is one output ScopeLogs: a handler and a template.
type group struct {
	idx      int
	handler  string
	adapter  string
	template string
}

type namedExpr struct {
	name string
	expr *cexl.Expression
}

// instance is a compiled instance plus its evaluation for the current bag.
type instance struct {
	fqn       string
	template  string
	valueExpr *cexl.Expression
	dims      []namedExpr // metric dimensions or logentry variables, sorted by name: the order of a stdio line
	valueDim  int         // the metric dimension named `value`, -1 if none: it replaces the value
	timestamp *cexl.Expression
	severity  *cexl.Expression

	metric *promMetric   // the prometheus metric recording this instance, if any
	ottl   *ottlInstance // set for instances written in OTTL
	okey   []byte        // series key of an OTTL instance
	olabel []byte

	// The instance as values, for log records (evalValues).
	value     attribute.Value
	dimValues []attribute.Value
	ts        time.Time
	sev       string
	gen       uint64
	err       error
	packed    int // size of the last packed record: room to reserve for the next

	// A logentry instance written in the packed form is evaluated straight
	// into its packed variables (evalPacked), without values in between.
	vars     []byte
	varsOnly bool // this bag's evaluation is in vars, not in dimValues

	// The instance as a series key and a number, for its prometheus metric
	// (evalSeries).
	keys   *keyGroup
	num    float64
	numErr error
	gen2   uint64
	err2   error
}

// keyGroup renders the series key of every metric instance whose label
// expressions are the same (the default config's four HTTP metrics share
// theirs), once per bag. Labels are rendered straight from typed evaluations.
type keyGroup struct {
	labels []*cexl.Expression // in label order; nil: a label without dimension
	extra  []*cexl.Expression // dimensions that are not labels: evaluated, unused
	key    []byte
	label  []byte
	gen    uint64
	err    error
}

func (g *keyGroup) eval(b *attribute.Bag, gen uint64) error {
	if g.gen == gen {
		return g.err
	}
	g.gen = gen
	g.err = g.render(b)
	return g.err
}

func (g *keyGroup) render(b *attribute.Bag) error {
	key := g.key[:0]
	for _, e := range g.labels {
		label := g.label[:0]
		if e != nil {
			var err error
			if label, err = renderLabel(label, e, b); err != nil {
				return err
			}
		}
		g.label = label
		key = seriesKey(key, label)
	}
	g.key = key
	// Mixer built every dimension, so one that fails fails the instance.
	for _, e := range g.extra {
		if _, err := e.Eval(b); err != nil {
			return err
		}
	}
	return nil
}

// evalValues evaluates every field of the instance on b (or, for OTTL, on
// the record).
func (inst *instance) evalValues(b *attribute.Bag, rec *ottlRecord) error {
	if inst.ottl != nil {
		return inst.evalOTTL(rec)
	}
	if inst.valueExpr != nil {
		v, err := inst.valueExpr.Eval(b)
		if err != nil {
			return err
		}
		inst.value = v
	}
	for i := range inst.dims {
		v, err := inst.dims[i].expr.Eval(b)
		if err != nil {
			return err
		}
		inst.dimValues[i] = v
	}
	return inst.evalEntry(b)
}

// evalEntry evaluates a logentry instance's timestamp and severity (none for
// a metric instance).
func (inst *instance) evalEntry(b *attribute.Bag) error {
	inst.ts, inst.sev = time.Time{}, ""
	if inst.timestamp != nil {
		v, err := inst.timestamp.Eval(b)
		if err != nil {
			return err
		}
		inst.ts = v.Time()
	}
	if inst.severity != nil {
		s, err := inst.severity.EvalString(b)
		if err != nil {
			return err
		}
		inst.sev = s
	}
	return nil
}

// packsDirectly reports whether the instance can be evaluated straight into
// the packed form: a CEXL logentry instance.
func (inst *instance) packsDirectly() bool {
	return inst.ottl == nil && inst.template == templateLogEntry && inst.valueExpr == nil
}

// evalPacked is evalValues for a logentry instance written in the packed
// form: the variables go straight into inst.vars, as appendPacked would
// write their values, with the same evaluation order and errors.
func (inst *instance) evalPacked(b *attribute.Bag, pk *packer) error {
	buf := inst.vars[:0]
	for i := range inst.dims {
		d := &inst.dims[i]
		switch t := d.expr.Type(); {
		case t.StringBacked():
			s, err := d.expr.EvalString(b)
			if err != nil {
				return err
			}
			buf = kvpack.AppendStr(buf, d.name, s)
		case t == attribute.TypeInt64:
			n, err := d.expr.EvalInt64(b)
			if err != nil {
				return err
			}
			buf = kvpack.AppendInt(buf, d.name, n)
		case t == attribute.TypeDouble:
			f, err := d.expr.EvalDouble(b)
			if err != nil {
				return err
			}
			buf = kvpack.AppendDouble(buf, d.name, f)
		case t == attribute.TypeBool:
			v, err := d.expr.EvalBool(b)
			if err != nil {
				return err
			}
			buf = kvpack.AppendBool(buf, d.name, v)
		default:
			v, err := d.expr.Eval(b)
			if err != nil {
				return err
			}
			buf = pk.variable(buf, d.name, v)
		}
	}
	inst.vars = buf
	return inst.evalEntry(b)
}

// evalSeries evaluates a metric instance into its series key and value. An
// error evaluating a field fails the instance (err); a value that is not a
// number only fails the prometheus dispatch (numErr), as in Mixer.
func (inst *instance) evalSeries(b *attribute.Bag, gen uint64, rec *ottlRecord) error {
	if inst.ottl != nil {
		if err := inst.evalOTTL(rec); err != nil {
			return err
		}
		inst.num, inst.numErr = numericValue(inst.value)
		key := inst.okey[:0]
		for _, d := range inst.ottl.labelIdx {
			label := inst.olabel[:0]
			if d >= 0 {
				label = appendLabel(label, inst.dimValues[d])
			}
			inst.olabel = label
			key = seriesKey(key, label)
		}
		inst.okey = key
		return nil
	}
	if inst.valueExpr != nil {
		var err error
		inst.num, inst.numErr, err = evalNumber(inst.valueExpr, b)
		if err != nil {
			return err
		}
	} else {
		inst.num, inst.numErr = numericValue(attribute.Value{})
	}
	return inst.keys.eval(b, gen)
}

func (inst *instance) evalOTTL(rec *ottlRecord) error {
	o := inst.ottl
	var err error
	if o.value != nil {
		if inst.value, err = ottlValue(o.value, "value", rec, false); err != nil {
			return err
		}
	}
	for i, d := range o.dims {
		if inst.dimValues[i], err = ottlValue(d, inst.dims[i].name, rec, false); err != nil {
			return err
		}
	}
	inst.ts, inst.sev = time.Time{}, ""
	if o.timestamp != nil {
		v, err := ottlValue(o.timestamp, "timestamp", rec, true)
		if err != nil {
			return err
		}
		inst.ts = v.Time()
	}
	if o.severity != nil {
		v, err := ottlValue(o.severity, "severity", rec, false)
		if err != nil {
			return err
		}
		inst.sev = v.String()
	}
	return nil
}

// seriesKey returns the series key of the instance evaluated last.
func (inst *instance) seriesKey() []byte {
	if inst.ottl != nil {
		return inst.okey
	}
	return inst.keys.key
}

// renderLabel appends the label value of e on b, with typed fast paths.
func renderLabel(dst []byte, e *cexl.Expression, b *attribute.Bag) ([]byte, error) {
	switch e.Type() {
	case attribute.TypeString:
		s, err := e.EvalString(b)
		return append(dst, s...), err
	case attribute.TypeInt64:
		n, err := e.EvalInt64(b)
		return strconv.AppendInt(dst, n, 10), err
	case attribute.TypeBool:
		v, err := e.EvalBool(b)
		return strconv.AppendBool(dst, v), err
	}
	v, err := e.Eval(b)
	if err != nil {
		return dst, err
	}
	return appendLabel(dst, v), nil
}

// evalNumber evaluates a metric value for the prometheus adapter: evalErr is
// an evaluation failure, numErr a value that is not a number.
func evalNumber(e *cexl.Expression, b *attribute.Bag) (f float64, numErr, evalErr error) {
	switch e.Type() {
	case attribute.TypeInt64:
		n, err := e.EvalInt64(b)
		return float64(n), nil, err
	case attribute.TypeDouble:
		f, err := e.EvalDouble(b)
		return f, nil, err
	}
	v, err := e.Eval(b)
	if err != nil {
		return 0, nil, err
	}
	f, numErr = numericValue(v)
	return f, numErr, nil
}

// appendRecord writes the evaluated instance into lr (instancerecord contract).
func (inst *instance) appendRecord(lr plog.LogRecord, h *handler, now time.Time) {
	lr.SetEventName(inst.fqn)
	attrs := lr.Attributes()
	if inst.template == templateLogEntry {
		instancerecord.SetTime(lr, inst.ts)
		lr.SetSeverityText(inst.sev)
		lr.SetSeverityNumber(severityNumber(h, inst.sev))
		attrs.EnsureCapacity(len(inst.dims))
		for i := range inst.dims {
			putVariable(attrs, inst.dims[i].name, inst.dimValues[i])
		}
		return
	}
	instancerecord.SetTime(lr, now)
	attrs.EnsureCapacity(len(inst.dims) + 1)
	if inst.hasValue() {
		putDimension(attrs, instancerecord.MetricValueKey, inst.value)
	}
	for i := range inst.dims {
		putDimension(attrs, inst.dims[i].name, inst.dimValues[i])
	}
}

// hasValue reports whether a metric instance has a value expression, in
// CEXL or in OTTL.
func (inst *instance) hasValue() bool {
	return inst.valueExpr != nil || (inst.ottl != nil && inst.ottl.value != nil)
}

// appendPacked writes the evaluated instance into lr in the packed form, with
// its Body in a: the same fields as appendRecord, in the order of a stdio
// line.
func (inst *instance) appendPacked(lr plog.LogRecord, h *handler, now time.Time, a *arena) {
	lr.SetEventName(inst.fqn)
	buf := a.begin(inst.packed + inst.packed/4 + 64)
	if inst.template == templateLogEntry {
		buf = instancerecord.BeginPacked(buf, lr, inst.ts)
		lr.SetSeverityText(inst.sev)
		lr.SetSeverityNumber(severityNumber(h, inst.sev))
		if inst.varsOnly {
			buf = append(buf, inst.vars...)
		} else {
			for i := range inst.dims {
				buf = a.variable(buf, inst.dims[i].name, inst.dimValues[i])
			}
		}
	} else {
		buf = instancerecord.BeginPacked(buf, lr, now)
		// `value` first, then the dimensions. In the attribute form a
		// dimension named `value` replaces the value where it stands, and
		// one without a value (nothing to put) leaves it.
		var value attribute.Value
		if inst.hasValue() {
			value = inst.value
		}
		if inst.valueDim >= 0 && !inst.dimValues[inst.valueDim].IsZero() {
			value = inst.dimValues[inst.valueDim]
		}
		buf = a.dimension(buf, instancerecord.MetricValueKey, value)
		for i := range inst.dims {
			if i != inst.valueDim {
				buf = a.dimension(buf, inst.dims[i].name, inst.dimValues[i])
			}
		}
	}
	inst.packed = len(buf)
	instancerecord.SetPacked(lr, a.commit(buf))
}

var defaultStdio = istioconfig.DefaultStdioParams()

func severityNumber(h *handler, sev string) plog.SeverityNumber {
	p := h.stdio
	if p == nil {
		p = &defaultStdio
	}
	switch p.Level(sev) {
	case istioconfig.LevelWarning:
		return plog.SeverityNumberWarn
	case istioconfig.LevelError:
		return plog.SeverityNumberError
	}
	return plog.SeverityNumberInfo
}

// identityNamespace is the namespace whose rules apply besides the default
// namespace's (Mixer semantics §d.5): the destination's for inbound reports,
// the source's for outbound ones; an absent or non-string kind is inbound.
func (p *plan) identityNamespace(b *attribute.Bag) string {
	kind := "inbound"
	if v := b.Peek(p.reporterKind); v != nil && v.Type() == attribute.TypeString {
		kind = v.Str()
	}
	slot := -1
	switch kind {
	case "inbound":
		slot = p.destinationNamespace
	case "outbound":
		slot = p.sourceNamespace
	}
	if v := b.Peek(slot); v != nil && v.Type() == attribute.TypeString {
		return v.Str()
	}
	return ""
}

func slotOf(v *attribute.Vocabulary, name string) int {
	if id, _, ok := v.Lookup(name); ok {
		return id
	}
	return -1
}

// buildPlan compiles snap for dispatch. Series of prev's metrics carry over
// where the metric's identity is unchanged.
func buildPlan(snap *istioconfig.Snapshot, maxSeries int, now time.Time, prev *plan) *plan {
	p := &plan{
		snap:             snap,
		vocab:            snap.Vocabulary,
		defaultNamespace: snap.DefaultNamespace,
		nsRules:          map[string][]*rule{},
		metrics:          map[string]*promMetric{},
		keyGroups:        map[string]*keyGroup{},
	}
	if p.vocab == nil {
		p.vocab = attribute.DefaultVocabulary()
	}
	p.reporterKind = slotOf(p.vocab, "context.reporter.kind")
	p.sourceNamespace = slotOf(p.vocab, "source.namespace")
	p.destinationNamespace = slotOf(p.vocab, "destination.namespace")

	// Prometheus handlers and their metrics, in a stable order.
	handlers := map[string]*handler{}
	for _, fqn := range sortedKeys(snap.Handlers) {
		h := snap.Handlers[fqn]
		rh := &handler{fqn: fqn, adapter: h.Adapter, groups: map[string]*group{}}
		handlers[fqn] = rh
		switch {
		case h.Prometheus != nil:
			rh.prometheus = true
			ph := &promHandler{fqn: fqn}
			if pol := h.Prometheus.MetricsExpirationPolicy; pol != nil && pol.MetricsExpiryDuration > 0 {
				interval := pol.ExpiryCheckIntervalDuration
				if interval <= 0 {
					interval = pol.MetricsExpiryDuration / 2
				}
				ph.expiry = &expiryPolicy{expiry: pol.MetricsExpiryDuration, interval: interval, lastCheck: now, nextCheck: now.Add(interval)}
			}
			for i := range h.Prometheus.Metrics {
				mi := &h.Prometheus.Metrics[i]
				if _, dup := p.metrics[mi.InstanceName]; dup {
					continue // instance_name is Mixer's global key: the first definition wins
				}
				m := newPromMetric(fqn, mi, ph.expiry, maxSeries)
				if prev != nil {
					if old := prev.metrics[mi.InstanceName]; old != nil && old.identity == m.identity {
						m.series = old.series
						if m.expiry != nil {
							for _, s := range m.series {
								s.deadline = m.expiry.lastCheck.Add(m.expiry.expiry)
							}
						}
					}
				}
				p.metrics[mi.InstanceName] = m
				ph.metrics = append(ph.metrics, m)
			}
			p.promHandlers = append(p.promHandlers, ph)
		case h.Stdio != nil:
			rh.stdio = h.Stdio
		}
	}

	instances := map[string]*instance{}
	for _, fqn := range sortedKeys(snap.Instances) {
		si := snap.Instances[fqn]
		inst := &instance{fqn: fqn, template: si.Template}
		var fields []istioconfig.NamedExpr
		switch si.Template {
		case templateMetric:
			fields = si.Dimensions
		case templateLogEntry:
			fields = si.Variables
		default:
			continue // only metric and logentry instances can be built
		}
		if si.Lang == istioconfig.LangOTTL {
			o, err := compileOTTLInstance(si, fields)
			if err != nil {
				p.problems = append(p.problems, fmt.Errorf("instance %s: %w", fqn, err))
				continue
			}
			inst.ottl = o
			for _, f := range sortedFields(fields) {
				inst.dims = append(inst.dims, namedExpr{name: f.Name})
			}
		} else {
			inst.dims = namedExprs(fields)
			if si.Template == templateMetric {
				inst.valueExpr = compiled(si.Value)
			} else {
				inst.timestamp = compiled(si.Timestamp)
				inst.severity = compiled(si.Severity)
			}
		}
		inst.dimValues = make([]attribute.Value, len(inst.dims))
		inst.valueDim = -1
		for i := range inst.dims {
			if inst.dims[i].name == instancerecord.MetricValueKey && si.Template == templateMetric {
				inst.valueDim = i
			}
		}
		if m := p.metrics[fqn]; m != nil && si.Template == templateMetric {
			inst.metric = m
			if inst.ottl != nil {
				inst.ottl.labelIdx = labelIndexes(m, inst.dims)
			} else {
				inst.keys = p.keyGroup(m, inst.dims)
			}
		}
		instances[fqn] = inst
		p.instances = append(p.instances, inst)
	}

	for _, sr := range snap.Rules {
		r := &rule{ruleMatch: ruleMatch{fqn: sr.FQN, match: compiled(sr.Match)}}
		if sr.Lang == istioconfig.LangOTTL && sr.Match != nil {
			c, err := compileOTTLCondition(sr.Match.Text)
			if err != nil {
				p.problems = append(p.problems, fmt.Errorf("rule %s: match: %w", sr.FQN, err))
				continue
			}
			r.match, r.matchOTTL = nil, c
		}
		for _, sa := range sr.Actions {
			if sa.Handler == nil {
				continue
			}
			h := handlers[sa.Handler.FQN]
			if h == nil {
				continue
			}
			a := action{handler: h}
			for _, si := range sa.Instances {
				inst := instances[si.FQN]
				if inst == nil {
					continue
				}
				a.instances = append(a.instances, inst)
				if !h.prometheus && h.groups[inst.template] == nil {
					g := &group{idx: len(p.groups), handler: h.fqn, adapter: h.adapter, template: inst.template}
					h.groups[inst.template] = g
					p.groups = append(p.groups, g)
				}
			}
			if len(a.instances) > 0 {
				r.actions = append(r.actions, a)
			}
		}
		if len(r.actions) == 0 {
			continue
		}
		if sr.Namespace == p.defaultNamespace {
			p.defaultRules = append(p.defaultRules, r)
		} else {
			p.nsRules[sr.Namespace] = append(p.nsRules[sr.Namespace], r)
		}
	}
	p.wanted = p.wantedAttributes()
	var prevKube *kubeStep
	if prev != nil {
		prevKube = prev.kube
	}
	var kubeProblems []error
	p.kube, kubeProblems = buildKubeStep(snap, p.vocab, prevKube)
	p.problems = append(p.problems, kubeProblems...)
	p.kube.markWanted(p.vocab, p.wanted) // whatever fills wanted must run before this line
	return p
}

func compileOTTLInstance(si *istioconfig.Instance, fields []istioconfig.NamedExpr) (*ottlInstance, error) {
	o := &ottlInstance{}
	var err error
	if si.Template == templateMetric {
		if o.value, err = compileOTTLValue(si.Value); err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
	} else {
		if o.timestamp, err = compileOTTLValue(si.Timestamp); err != nil {
			return nil, fmt.Errorf("timestamp: %w", err)
		}
		if o.severity, err = compileOTTLValue(si.Severity); err != nil {
			return nil, fmt.Errorf("severity: %w", err)
		}
	}
	for _, f := range sortedFields(fields) {
		v, err := compileOTTLValue(f.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		o.dims = append(o.dims, v)
	}
	return o, nil
}

func sortedFields(in []istioconfig.NamedExpr) []istioconfig.NamedExpr {
	out := append([]istioconfig.NamedExpr(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// labelIndexes maps each label of m to the dimension of that (sanitised) name.
func labelIndexes(m *promMetric, dims []namedExpr) []int {
	idx := make([]int, len(m.labelNames))
	for i, l := range m.labelNames {
		idx[i] = -1
		for j := range dims {
			if istioconfig.SanitizeName(dims[j].name) == l {
				idx[i] = j
			}
		}
	}
	return idx
}

// wantedAttributes marks the attributes that the rules and instances read,
// so that decoding a bag skips the rest.
func (p *plan) wantedAttributes() []bool {
	want := make([]bool, p.vocab.Len())
	mark := func(e *cexl.Expression) {
		if e == nil {
			return
		}
		for _, name := range e.Attributes() {
			if id, _, ok := p.vocab.Lookup(name); ok {
				want[id] = true
			}
		}
	}
	for _, slot := range []int{p.reporterKind, p.sourceNamespace, p.destinationNamespace} {
		if slot >= 0 {
			want[slot] = true
		}
	}
	for _, r := range p.defaultRules {
		mark(r.match)
	}
	for _, rules := range p.nsRules {
		for _, r := range rules {
			mark(r.match)
		}
	}
	for _, inst := range p.instances {
		mark(inst.valueExpr)
		mark(inst.timestamp)
		mark(inst.severity)
		for _, d := range inst.dims {
			mark(d.expr)
		}
	}
	return want
}

func namedExprs(in []istioconfig.NamedExpr) []namedExpr {
	out := make([]namedExpr, 0, len(in))
	for _, ne := range in {
		if c := compiled(ne.Expr); c != nil {
			out = append(out, namedExpr{name: ne.Name, expr: c})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// keyGroup returns the shared key renderer for a metric's labels taken from
// dims (matched by sanitised name, as Mixer's adapter did).
func (p *plan) keyGroup(m *promMetric, dims []namedExpr) *keyGroup {
	g := &keyGroup{}
	used := make([]bool, len(dims))
	var sig strings.Builder
	for _, l := range m.labelNames {
		var e *cexl.Expression
		for j := range dims {
			if istioconfig.SanitizeName(dims[j].name) == l {
				e, used[j] = dims[j].expr, true
			}
		}
		g.labels = append(g.labels, e)
		if e != nil {
			sig.WriteString(e.Dialect().String() + ":" + e.Type().String() + ":" + e.String())
		}
		sig.WriteByte(0)
	}
	sig.WriteByte(1)
	for j := range dims {
		if !used[j] {
			g.extra = append(g.extra, dims[j].expr)
			sig.WriteString(dims[j].expr.Dialect().String() + ":" + dims[j].expr.String())
			sig.WriteByte(0)
		}
	}
	if shared, ok := p.keyGroups[sig.String()]; ok {
		return shared
	}
	p.keyGroups[sig.String()] = g
	return g
}

// compiled returns e's CEXL program; nil for an absent expression.
func compiled(e *istioconfig.Expr) *cexl.Expression {
	if e == nil {
		return nil
	}
	return e.Compiled
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
