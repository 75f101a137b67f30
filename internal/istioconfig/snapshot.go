package istioconfig

import (
	"slices"
	"strings"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
)

// Lang is the expression language of a rule or instance, chosen with the
// annotation policy.istio.io/lang.
type Lang string

const (
	LangCEXL   Lang = "CEXL"   // Mixer's expression language; the default
	LangCOMPAT Lang = "COMPAT" // CEXL's syntax with CEL's semantics (Mixer 1.2 – 1.7)
	LangCEL    Lang = "CEL"    // CEL's syntax and semantics (Mixer 1.2 – 1.7)
	LangOTTL   Lang = "OTTL"   // OpenTelemetry Transformation Language over the bag record
)

// LangAnnotation selects the expression language of a rule or instance.
const LangAnnotation = "policy.istio.io/lang"

// ParseLang reads a language override (BuildOptions.Language, the
// extension's language option, istiotel's -lang): "" follows each
// resource's annotation, CEXL, COMPAT or CEL in any letter case sets them
// all; ok is false for anything else.
func ParseLang(s string) (l Lang, ok bool) {
	switch l := Lang(strings.ToUpper(strings.TrimSpace(s))); l {
	case "", LangCEXL, LangCOMPAT, LangCEL:
		return l, true
	}
	return "", false
}

// Dialect is the dialect of internal/cexl that expressions of language l
// are compiled with (CEXL for OTTL, which cexl does not compile).
func (l Lang) Dialect() cexl.Dialect {
	switch l {
	case LangCOMPAT:
		return cexl.COMPAT
	case LangCEL:
		return cexl.CEL
	}
	return cexl.CEXL
}

// Expr is one expression of the configuration.
type Expr struct {
	Text string
	Lang Lang
	// Compiled is the CEXL program; nil for OTTL, whose compilation belongs
	// to the component that evaluates it.
	Compiled *cexl.Expression
}

// Type returns the static type of a CEXL expression, TypeUnspecified for
// OTTL.
func (e *Expr) Type() attribute.Type {
	if e == nil || e.Compiled == nil {
		return attribute.TypeUnspecified
	}
	return e.Compiled.Type()
}

func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	return e.Text
}

// NamedExpr is a dimension, variable or monitored-resource dimension.
type NamedExpr struct {
	Name string
	Expr *Expr
}

// Template names of the instances the distribution evaluates.
const (
	TemplateMetric   = "metric"
	TemplateLogEntry = "logentry"
)

// Adapter names with an implementation.
const (
	AdapterPrometheus = "prometheus"
	AdapterStdio      = "stdio"
)

// Instance is a compiled metric or logentry instance.
type Instance struct {
	FQN       string // name.kind.namespace: what adapters and logs call it
	Name      string
	Namespace string
	Kind      string // "instance", or the legacy "metric" / "logentry" / "kubernetes"
	Template  string // TemplateMetric, TemplateLogEntry or TemplateKubernetes
	Lang      Lang

	// metric
	Value      *Expr       // nil when not configured
	Dimensions []NamedExpr // sorted by name

	// logentry
	Variables []NamedExpr // sorted by name
	Timestamp *Expr       // nil when not configured
	Severity  *Expr       // nil when not configured

	// both
	MonitoredResourceType       *Expr
	MonitoredResourceDimensions []NamedExpr // sorted by name

	// kubernetes (attribute generation; see kubernetesenv.go)
	Kubernetes *KubernetesParams

	Annotations map[string]string
	File        string
	Line        int
}

// Handler is a compiled handler. Exactly one of Prometheus, Stdio and
// KubernetesEnv is set for the adapters the distribution implements; Raw
// holds the params of any other adapter, as decoded from YAML.
type Handler struct {
	FQN       string
	Name      string
	Namespace string
	Kind      string // "handler", or the legacy "prometheus" / "stdio" / "kubernetesenv"
	Adapter   string

	Prometheus    *PrometheusParams
	Stdio         *StdioParams
	KubernetesEnv *KubernetesEnvParams
	Raw           map[string]any

	File string
	Line int
}

// Supports reports whether the handler's adapter takes instances of a
// template (Mixer dropped an instance routed to an adapter that does not).
// Adapters without an implementation take metric and logentry instances:
// they are emitted as plain OTel data. Only kubernetesenv takes kubernetes
// instances, and it takes nothing else.
func (h *Handler) Supports(template string) bool {
	switch h.Adapter {
	case AdapterPrometheus:
		return template == TemplateMetric
	case AdapterStdio:
		return template == TemplateMetric || template == TemplateLogEntry
	case AdapterKubernetesEnv:
		return template == TemplateKubernetes
	}
	return template != TemplateKubernetes
}

// Action routes instances to a handler.
type Action struct {
	Name      string // optional name from config
	Handler   *Handler
	Instances []*Instance // resolved, without duplicates, in config order
}

// Rule is a compiled rule.
type Rule struct {
	FQN       string
	Name      string
	Namespace string
	Lang      Lang
	// Match is nil when the rule always applies (no match, "", or "true").
	Match   *Expr
	Actions []Action

	File string
	Line int
}

// Counts counts resources by outcome. A resource that was partly dropped (a
// rule with one bad action) counts as accepted; its problems are listed.
type Counts struct {
	Accepted    int
	Rejected    int
	Unsupported int
}

// Snapshot is a compiled, immutable configuration. Nothing in it may be
// modified after Build returns it; share it freely between goroutines.
type Snapshot struct {
	// Vocabulary is the merge of all attribute manifests; the default Istio
	// vocabulary when the configuration declares none.
	Vocabulary *attribute.Vocabulary
	// DefaultVocabulary is true when no attribute manifest was given and the
	// built-in Istio vocabulary was used.
	DefaultVocabulary bool
	DefaultNamespace  string

	Rules     []*Rule              // sorted by namespace, then name
	Instances map[string]*Instance // by FQN
	Handlers  map[string]*Handler  // by FQN

	Problems    []Problem
	Unsupported []ResourceRef

	// Pods serves the kubernetesenv handlers: nil when attribute generation
	// is off (no cluster), and then kubernetes instances generate nothing.
	// It is the one live part of a snapshot: the pods behind it change.
	Pods kubeenv.Pods

	Counts       Counts
	CountsByKind map[string]Counts

	// rulesByNS holds, per namespace with rules, the default namespace's
	// rules followed by its own, each list its own slice.
	rulesByNS   map[string][]*Rule
	defaultList []*Rule
	// good remembers every resource that validated without a problem, for
	// the next Build to fall back on (see BuildOptions.Previous).
	good map[Key]*Resource
}

// RulesFor returns the rules that apply to a report whose identity namespace
// is ns (mixer-semantics §d.5): the default namespace's rules, then ns's own.
// The slice is shared; do not modify it.
func (s *Snapshot) RulesFor(ns string) []*Rule {
	if l, ok := s.rulesByNS[ns]; ok {
		return l
	}
	return s.defaultList
}

// Namespaces returns the namespaces that have rules of their own, sorted.
func (s *Snapshot) Namespaces() []string {
	out := make([]string, 0, len(s.rulesByNS))
	for ns := range s.rulesByNS {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// Err returns nil when the snapshot has no problems, else an error listing
// them one per line.
func (s *Snapshot) Err() error {
	if len(s.Problems) == 0 {
		return nil
	}
	return ProblemList(s.Problems)
}

// ProblemList is a list of problems as one error.
type ProblemList []Problem

func (l ProblemList) Error() string {
	var b []byte
	for i, p := range l {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, p.Error()...)
	}
	return string(b)
}
