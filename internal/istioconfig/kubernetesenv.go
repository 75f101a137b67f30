package istioconfig

import (
	"slices"
	"strings"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
)

// Mixer's attribute generation on Kubernetes: instances of the kubernetes
// template, routed by rules to kubernetesenv handlers, fill workload
// attributes from the pods of the request (mixer-semantics §b.4).
const (
	TemplateKubernetes   = "kubernetes"
	AdapterKubernetesEnv = "kubernetesenv"
)

// KubernetesParams is a kubernetes instance: the inputs of the pod lookup,
// evaluated on the request, and the bindings that turn the lookup's outputs
// into attributes.
type KubernetesParams struct {
	// Inputs; nil when not configured. Types: STRING uids, IP_ADDRESS ips,
	// INT64 port.
	SourceUID, SourceIP, DestinationUID, DestinationIP, DestinationPort *Expr
	// Bindings sorted by attribute. Text is as written ($out.x); Compiled is
	// compiled against OutputVocabulary, where $out.x is the attribute
	// kubeenv.OutputAttribute(x).
	Bindings         []AttributeBinding
	OutputVocabulary *attribute.Vocabulary
}

// AttributeBinding fills Attribute with the value of Expr.
type AttributeBinding struct {
	Attribute string
	Expr      *Expr
}

// Spec returns the params in the form kubeenv.NewGenerator takes.
func (p *KubernetesParams) Spec() *kubeenv.Spec {
	s := &kubeenv.Spec{
		SourceUID: compiledExpr(p.SourceUID), SourceIP: compiledExpr(p.SourceIP),
		DestinationUID: compiledExpr(p.DestinationUID), DestinationIP: compiledExpr(p.DestinationIP),
		DestinationPort: compiledExpr(p.DestinationPort),
	}
	for _, b := range p.Bindings {
		s.Bindings = append(s.Bindings, kubeenv.Binding{Attribute: b.Attribute, Expr: b.Expr.Compiled})
	}
	return s
}

func compiledExpr(e *Expr) *cexl.Expression {
	if e == nil {
		return nil
	}
	return e.Compiled
}

// KubernetesEnvParams are the kubernetesenv adapter's params
// (adapter.kubernetesenv.config.Params). They are validated and kept; the
// pod cache itself is configured on the istio_config extension
// (kubernetes_enrichment), because one cache serves every handler.
type KubernetesEnvParams struct {
	KubeconfigPath             string
	CacheRefreshDuration       time.Duration
	ClusterRegistriesNamespace string
	ClusterDomainSuffix        string
}

// kubernetesInstance validates a kubernetes instance: the legacy kind
// (spec = params plus attribute_bindings) when bindings is empty, else the
// params and bindings of a generic instance.
func (b *builder) kubernetesInstance(r *Resource, rd *reader, params, bindings field) (*Instance, []Problem, string) {
	names := kubeenv.InputNames()
	var f map[string]field
	if r.Kind == TemplateKubernetes {
		f = rd.object(r.Spec, "", true, append(slices.Clone(names), "attribute_bindings")...)
		bindings = f["attribute_bindings"]
	} else {
		if params.path == "" {
			params.path = "params"
		}
		f = rd.object(params.val, params.path, true, names...)
	}
	lang := b.language(rd)
	if lang == LangOTTL {
		rd.failf(nil, "metadata.annotations."+LangAnnotation,
			"kubernetes instances are CEXL, COMPAT or CEL only: remove the annotation or write the expressions in CEXL")
	}
	if rd.failed() {
		return nil, rd.probs, ""
	}
	kp := &KubernetesParams{}
	c := &exprs{r: rd, lang: lang, vocab: b.snap.Vocabulary}
	for _, in := range []struct {
		name string
		dst  **Expr
	}{
		{"source_uid", &kp.SourceUID}, {"source_ip", &kp.SourceIP},
		{"destination_uid", &kp.DestinationUID}, {"destination_ip", &kp.DestinationIP},
		{"destination_port", &kp.DestinationPort},
	} {
		*in.dst = c.single(f, in.name, kubeenv.InputType(in.name))
	}
	out, err := kubeenv.OutputVocabulary(b.snap.Vocabulary)
	if err != nil {
		rd.failf(bindings.val, bindings.path, "%v", err)
		return nil, rd.probs, ""
	}
	kp.OutputVocabulary = out
	if bindings.val != nil {
		kp.Bindings = b.attributeBindings(rd, bindings, out)
	}
	if rd.failed() {
		return nil, rd.probs, "" // as for other templates, one bad expression drops the instance
	}
	return &Instance{
		FQN: r.FQN(), Name: r.Name, Namespace: r.Namespace, Kind: r.Kind,
		Template: TemplateKubernetes, Lang: lang, Annotations: r.Annotations,
		Kubernetes: kp, File: r.File, Line: r.Line,
	}, nil, ""
}

// attributeBindings compiles `attribute: $out.field | default` entries.
// Each attribute must be declared, and its expression must have the
// attribute's type, since the value lands in the request bag.
func (b *builder) attributeBindings(rd *reader, f field, out *attribute.Vocabulary) []AttributeBinding {
	if f.path == "" {
		f.path = "attributeBindings"
	}
	var res []AttributeBinding
	for _, e := range rd.stringMap(f, "attribute: expression") {
		want, known := b.attributeType(e.key)
		if !known {
			rd.failf(e.node, e.path, "attribute %q is not declared in any attributemanifest, so it cannot be generated", e.key)
			continue
		}
		src, refs := kubeenv.RewriteOutputs(e.val)
		bad := false
		for _, name := range refs {
			if _, ok := kubeenv.FieldByName(name); !ok {
				rd.failf(e.node, e.path, "$out.%s is not an output of the kubernetes template%s", name, suggest(name, kubeenv.FieldNames()))
				bad = true
			}
		}
		if bad {
			continue
		}
		at := len(rd.probs)
		// The bindings map the adapter's outputs, not the request's
		// attributes: CEXL whatever the instance's language.
		c := &exprs{r: rd, lang: LangCEXL, vocab: out}
		x := c.compile(e.node, e.path, src, attribute.TypeUnspecified)
		for i := at; i < len(rd.probs); i++ {
			rd.probs[i].Message = kubeenv.RestoreOutputs(rd.probs[i].Message)
		}
		if x == nil {
			continue
		}
		x.Text = e.val
		if x.Type() != want {
			rd.failf(e.node, e.path, "expression '%s' evaluated to type %s, but attribute %s is of type %s", e.val, x.Type(), e.key, want)
			continue
		}
		res = append(res, AttributeBinding{Attribute: e.key, Expr: x})
	}
	slices.SortFunc(res, func(x, y AttributeBinding) int { return strings.Compare(x.Attribute, y.Attribute) })
	return res
}

func (b *builder) attributeType(name string) (attribute.Type, bool) {
	_, t, ok := b.snap.Vocabulary.Lookup(name)
	return t, ok
}

// kubernetesEnv decodes kubernetesenv params over the adapter defaults.
func kubernetesEnv(rd *reader, params field) *KubernetesEnvParams {
	p := &KubernetesEnvParams{CacheRefreshDuration: 5 * time.Minute}
	f := rd.object(params.val, params.path, true,
		"kubeconfig_path", "cache_refresh_duration", "is_v18_cluster", "cluster_registries_namespace", "cluster_domain_suffix")
	if v, ok := f["kubeconfig_path"]; ok {
		p.KubeconfigPath, _ = rd.str(v, false)
	}
	if v, ok := f["cache_refresh_duration"]; ok {
		p.CacheRefreshDuration = duration(rd, v)
	}
	if v, ok := f["is_v18_cluster"]; ok {
		_, _ = rd.boolean(v) // Kubernetes 1.8 support; nothing to do today
	}
	if v, ok := f["cluster_registries_namespace"]; ok {
		p.ClusterRegistriesNamespace, _ = rd.str(v, false)
	}
	if v, ok := f["cluster_domain_suffix"]; ok {
		p.ClusterDomainSuffix, _ = rd.str(v, false)
	}
	return p
}
