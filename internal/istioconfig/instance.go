package istioconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// Template params (mixer-semantics §d.2), in snake_case.
var (
	metricParams   = []string{"value", "dimensions", "monitored_resource_type", "monitored_resource_dimensions"}
	logentryParams = []string{"variables", "timestamp", "severity", "monitored_resource_type", "monitored_resource_dimensions"}
)

// instance validates an `instance` (compiledTemplate + params) or a legacy
// `metric` / `logentry` / `kubernetes`, whose spec is the params.
func (b *builder) instance(r *Resource) (*Instance, []Problem, string) {
	rd := &reader{res: r}
	template := r.Kind
	params := field{val: r.Spec}
	if r.Kind == "instance" {
		f := rd.object(r.Spec, "", true, "compiled_template", "template", "params", "attribute_bindings")
		if t, ok := f["template"]; ok {
			return nil, nil, fmt.Sprintf("out-of-process template %s is not supported", shown(t.val))
		}
		ct, ok := f["compiled_template"]
		if !ok {
			rd.failf(nil, "compiledTemplate", "compiledTemplate is missing: want metric or logentry")
			return nil, rd.probs, ""
		}
		template, _ = rd.str(ct, false)
		switch template {
		case TemplateMetric, TemplateLogEntry:
		case TemplateKubernetes:
			return b.kubernetesInstance(r, rd, f["params"], f["attribute_bindings"])
		case "":
			return nil, rd.probs, ""
		default:
			return nil, nil, fmt.Sprintf("template %q is not supported (only metric, logentry and kubernetes are)", template)
		}
		params = f["params"]
		if params.path == "" {
			params.path = "params"
		}
	}
	if template == TemplateKubernetes { // the legacy kind
		return b.kubernetesInstance(r, rd, field{}, field{})
	}
	lang := b.language(rd)
	inst := &Instance{
		FQN: r.FQN(), Name: r.Name, Namespace: r.Namespace, Kind: r.Kind,
		Template: template, Lang: lang, Annotations: r.Annotations,
		File: r.File, Line: r.Line,
	}
	c := &exprs{r: rd, lang: lang, vocab: b.snap.Vocabulary, ottl: b.opts.CompileOTTL}
	if template == TemplateMetric {
		f := rd.object(params.val, params.path, true, metricParams...)
		inst.Value = c.single(f, "value", attribute.TypeUnspecified)
		inst.Dimensions = c.named(f, "dimensions")
		inst.MonitoredResourceType = c.single(f, "monitored_resource_type", attribute.TypeString)
		inst.MonitoredResourceDimensions = c.named(f, "monitored_resource_dimensions")
	} else {
		f := rd.object(params.val, params.path, true, logentryParams...)
		inst.Variables = c.named(f, "variables")
		inst.Timestamp = c.single(f, "timestamp", attribute.TypeTimestamp)
		inst.Severity = c.single(f, "severity", attribute.TypeString)
		inst.MonitoredResourceType = c.single(f, "monitored_resource_type", attribute.TypeString)
		inst.MonitoredResourceDimensions = c.named(f, "monitored_resource_dimensions")
	}
	if rd.failed() {
		// Mixer dropped an instance with any bad expression; so do we.
		return nil, rd.probs, ""
	}
	return inst, nil, ""
}

// single compiles an optional expression field. An empty string is no
// expression, as in Mixer's generated template builders.
func (c *exprs) single(f map[string]field, name string, want attribute.Type) *Expr {
	fl, ok := f[name]
	if !ok {
		return nil
	}
	src, ok := c.r.str(fl, true)
	if !ok || strings.TrimSpace(src) == "" {
		return nil
	}
	return c.compile(fl.val, fl.path, src, want)
}

// named compiles a map of expressions, sorted by name.
func (c *exprs) named(f map[string]field, name string) []NamedExpr {
	fl, ok := f[name]
	if !ok {
		return nil
	}
	var out []NamedExpr
	for _, e := range c.r.stringMap(fl, "expressions") {
		if x := c.compile(e.node, e.path, e.val, attribute.TypeUnspecified); x != nil {
			out = append(out, NamedExpr{Name: e.key, Expr: x})
		}
	}
	slices.SortFunc(out, func(a, b NamedExpr) int { return strings.Compare(a.Name, b.Name) })
	return out
}
