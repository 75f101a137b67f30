package runtime

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
)

// Explanation says what the engine does with one bag and why: which rules
// apply, how each match evaluated, every instance's fields, and the series
// and records that would result. It changes no state.
type Explanation struct {
	IdentityNamespace string             `json:"identity_namespace"`
	DefaultNamespace  string             `json:"default_namespace"`
	Rules             []RuleExplanation  `json:"rules"`
	Instances         []InstanceFields   `json:"instances"`
	Series            []SeriesUpdate     `json:"series"`
	Records           []RecordForHandler `json:"records"`
}

// RuleExplanation is the outcome of one rule.
type RuleExplanation struct {
	Rule      string   `json:"rule"`
	Namespace string   `json:"namespace"`
	Applies   bool     `json:"applies"` // in the default or the identity namespace
	Match     string   `json:"match,omitempty"`
	Language  string   `json:"language,omitempty"` // of the match when not CEXL: COMPAT or CEL
	Matched   bool     `json:"matched"`
	Error     string   `json:"error,omitempty"`
	Actions   []string `json:"actions,omitempty"` // handler: instances
}

// InstanceFields are the evaluated fields of one instance.
type InstanceFields struct {
	Instance string            `json:"instance"`
	Template string            `json:"template"`
	Fields   map[string]string `json:"fields,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// SeriesUpdate is what a metric instance does to its series.
type SeriesUpdate struct {
	Metric   string            `json:"metric"`
	Kind     string            `json:"kind"`
	Instance string            `json:"instance"`
	Handler  string            `json:"handler"`
	Labels   map[string]string `json:"labels,omitempty"`
	Value    float64           `json:"value"`
	Error    string            `json:"error,omitempty"`
}

// RecordForHandler is an instance record handed to a non-prometheus handler.
type RecordForHandler struct {
	Handler  string
	Adapter  string
	Template string
	Record   plog.LogRecord `json:"-"`
}

// Explain evaluates the bag record lr without recording anything.
func (e *Engine) Explain(lr plog.LogRecord) Explanation {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.plan
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	sl := rl.ScopeLogs().AppendEmpty()
	lr.CopyTo(sl.LogRecords().AppendEmpty())
	e.rec.rl, e.rec.sl, e.rec.lr = rl, sl, sl.LogRecords().At(0)
	defer e.rec.release()
	var dec bagrecord.Decoder
	_, _ = dec.DecodeRecord(lr, e.bag)
	e.gen++
	now := e.opts.Now()

	ex := Explanation{IdentityNamespace: p.identityNamespace(e.bag), DefaultNamespace: p.defaultNamespace}
	applies := map[*rule]bool{}
	for _, r := range p.defaultRules {
		applies[r] = true
	}
	if ex.IdentityNamespace != p.defaultNamespace {
		for _, r := range p.nsRules[ex.IdentityNamespace] {
			applies[r] = true
		}
	}
	var all []*rule
	all = append(all, p.defaultRules...)
	for _, ns := range sortedKeys(p.nsRules) {
		all = append(all, p.nsRules[ns]...)
	}
	seen := map[*instance]bool{}
	for _, r := range all {
		re := RuleExplanation{Rule: r.fqn, Namespace: ruleNamespace(p, r), Applies: applies[r], Matched: true}
		switch {
		case r.matchOTTL != nil:
			re.Match = "(OTTL)"
			if re.Applies {
				ok, err := r.matchOTTL.Eval(context.Background(), e.rec.context())
				re.Matched = ok && err == nil
				if err != nil {
					re.Error = err.Error()
				}
			}
		case r.match != nil:
			re.Match = r.match.String()
			if d := r.match.Dialect(); d != cexl.CEXL {
				re.Language = d.String()
			}
			if re.Applies {
				ok, err := r.match.EvalBool(e.bag)
				re.Matched = ok && err == nil
				if err != nil {
					re.Error = err.Error() + " (treated as not matching)"
				}
			}
		}
		if !re.Applies {
			re.Matched = false
		}
		for _, a := range r.actions {
			names := ""
			for i, inst := range a.instances {
				if i > 0 {
					names += ", "
				}
				names += inst.fqn
			}
			re.Actions = append(re.Actions, a.handler.fqn+": "+names)
		}
		ex.Rules = append(ex.Rules, re)
		if !re.Matched {
			continue
		}
		for _, a := range r.actions {
			for _, inst := range a.instances {
				if !seen[inst] {
					seen[inst] = true
					ex.Instances = append(ex.Instances, e.explainInstance(inst))
				}
				if inst.gen == e.gen && inst.err != nil {
					continue
				}
				if a.handler.prometheus {
					ex.Series = append(ex.Series, e.explainSeries(a.handler, inst))
					continue
				}
				out := plog.NewLogRecord()
				inst.appendRecord(out, a.handler, now)
				ex.Records = append(ex.Records, RecordForHandler{Handler: a.handler.fqn, Adapter: a.handler.adapter, Template: inst.template, Record: out})
			}
		}
	}
	return ex
}

func ruleNamespace(p *plan, r *rule) string {
	for _, d := range p.defaultRules {
		if d == r {
			return p.defaultNamespace
		}
	}
	for ns, rs := range p.nsRules {
		for _, x := range rs {
			if x == r {
				return ns
			}
		}
	}
	return ""
}

func (e *Engine) explainInstance(inst *instance) InstanceFields {
	out := InstanceFields{Instance: inst.fqn, Template: inst.template}
	inst.gen, inst.varsOnly = e.gen, false
	inst.err = inst.evalValues(e.bag, &e.rec)
	if inst.err != nil {
		out.Error = inst.err.Error()
		return out
	}
	out.Fields = map[string]string{}
	if inst.hasValue() {
		out.Fields["value"] = inst.value.Type().String() + " " + string(appendLabel(nil, inst.value))
	}
	for i, d := range inst.dims {
		v := inst.dimValues[i]
		out.Fields[d.name] = v.Type().String() + " " + string(appendLabel(nil, v))
	}
	if inst.template == templateLogEntry {
		out.Fields["timestamp"] = "TIMESTAMP " + inst.ts.UTC().Format(time.RFC3339Nano)
		out.Fields["severity"] = "STRING " + strconv.Quote(inst.sev)
	}
	return out
}

func (e *Engine) explainSeries(h *handler, inst *instance) SeriesUpdate {
	su := SeriesUpdate{Instance: inst.fqn, Handler: h.fqn}
	m := inst.metric
	if m == nil || inst.template != templateMetric {
		su.Error = fmt.Sprintf("could not find metric info from adapter config for %s", inst.fqn)
		return su
	}
	su.Metric, su.Kind = m.name, m.kind.String()
	inst.gen2 = e.gen
	if inst.err2 = inst.evalSeries(e.bag, e.gen, &e.rec); inst.err2 != nil {
		su.Error = inst.err2.Error()
		return su
	}
	if inst.numErr != nil {
		su.Error = fmt.Sprintf("could not get value for metric %s: %v", inst.fqn, inst.numErr)
		return su
	}
	su.Value = inst.num
	su.Labels = map[string]string{}
	for i, l := range splitSeriesKey(string(inst.seriesKey()), len(m.labelNames)) {
		su.Labels[m.labelNames[i]] = l
	}
	return su
}

// SortedLabelNames returns the label names of a series update in order.
func (s SeriesUpdate) SortedLabelNames() []string {
	names := make([]string, 0, len(s.Labels))
	for n := range s.Labels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
