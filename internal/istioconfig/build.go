package istioconfig

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
)

// DefaultConfigNamespace is Mixer's default --configDefaultNamespace.
const DefaultConfigNamespace = "istio-system"

// Input is what the sources read: resources, and the problems of documents
// that did not decode into a resource.
type Input struct {
	Resources []*Resource
	Problems  []Problem
}

// Add appends another input.
func (in *Input) Add(o Input) {
	in.Resources = append(in.Resources, o.Resources...)
	in.Problems = append(in.Problems, o.Problems...)
}

// BuildOptions tune Build.
type BuildOptions struct {
	// DefaultNamespace is the namespace whose rules apply to every report
	// and the namespace of resources that name none; "" means istio-system.
	DefaultNamespace string
	// CompileOTTL checks an OTTL expression of a resource annotated
	// policy.istio.io/lang: OTTL; nil accepts them unchecked.
	CompileOTTL func(src string) error
	// Pods is handed to the snapshot for the kubernetesenv handlers; nil
	// when there is no pod cache.
	Pods kubeenv.Pods
	// Language, when set (LangCEXL, LangCOMPAT or LangCEL), is the language of every
	// rule and instance whatever its policy.istio.io/lang annotation, as
	// Mixer's ISTIO_LANG environment variable made it; resources annotated
	// OTTL stay OTTL. "" follows the annotations.
	Language Lang
	// Previous is the snapshot being replaced. A resource whose new version
	// is rejected keeps its last good version from it, and the resources of
	// a file that no longer parses are kept.
	Previous *Snapshot
}

// Build validates and compiles resources into a snapshot. It never fails as
// a whole: every problem is recorded in the snapshot, the resource (or the
// part of it) at fault is left out, and everything else is kept.
func Build(in Input, opts BuildOptions) *Snapshot {
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = DefaultConfigNamespace
	}
	b := &builder{
		opts: opts,
		snap: &Snapshot{
			DefaultNamespace: opts.DefaultNamespace,
			Pods:             opts.Pods,
			Instances:        map[string]*Instance{},
			Handlers:         map[string]*Handler{},
			CountsByKind:     map[string]Counts{},
			good:             map[Key]*Resource{},
		},
		known:    map[string]string{},
		promName: map[string]promOwner{},
	}
	if opts.Previous != nil {
		b.prevGood = opts.Previous.good
	}
	b.run(in)
	return b.snap
}

type builder struct {
	opts     BuildOptions
	snap     *Snapshot
	prevGood map[Key]*Resource

	// known maps the FQN of every resource that is not in the snapshot to
	// why ("rejected", or the unsupported reason), so that a rule naming it
	// gets a precise message.
	known map[string]string
	// promName maps each Prometheus metric name to its first definition.
	promName map[string]promOwner
}

type promOwner struct {
	handler string
	path    string
	info    *MetricInfo
}

const reasonRejected = "rejected"

func (b *builder) run(in Input) {
	res := slices.Clone(b.withLastGoodFiles(in))
	for i, r := range res {
		if r.Namespace == "" { // a copy: the caller's resources stay as read
			c := *r
			c.Namespace = b.opts.DefaultNamespace
			res[i] = &c
		}
	}
	b.snap.Problems = append(b.snap.Problems, in.Problems...)
	for _, p := range in.Problems {
		b.count(p.Kind, func(c *Counts) { c.Rejected++ }) // a document that did not decode
	}

	groups := map[string][]*Resource{}
	seen := map[Key]*Resource{}
	for _, r := range res {
		k := r.Key()
		if first, dup := seen[k]; dup {
			b.problem(r.problem(nil, "", "duplicate of the resource defined at "+where(first)+"; this one is ignored"))
			b.count(r.Kind, func(c *Counts) { c.Rejected++ })
			continue
		}
		seen[k] = r
		switch {
		case r.APIVersion != APIVersion:
			b.unsupported(r, fmt.Sprintf("apiVersion %s is not %s", r.APIVersion, APIVersion))
		case groupOf(r.Kind) == "":
			b.unsupported(r, fmt.Sprintf("kind %q is not supported", r.Kind))
		default:
			groups[groupOf(r.Kind)] = append(groups[groupOf(r.Kind)], r)
		}
	}
	for _, g := range groups {
		slices.SortFunc(g, func(x, y *Resource) int {
			return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name), cmp.Compare(x.Kind, y.Kind))
		})
	}

	// Each stage sees the final outcome of the stages before it: rules
	// resolve against accepted handlers and instances, handlers check
	// their metrics against accepted instances.
	b.manifests(groups["attributemanifest"])
	for _, r := range groups["instance"] {
		inst, _ := settle(b, r, b.instance)
		if inst != nil {
			b.snap.Instances[inst.FQN] = inst
		}
	}
	for _, r := range groups["handler"] {
		h, _ := settle(b, r, b.handler)
		if h != nil {
			b.snap.Handlers[h.FQN] = h
			b.registerMetrics(h)
		}
	}
	for _, r := range groups["rule"] {
		if rule, _ := settle(b, r, b.rule); rule != nil {
			b.snap.Rules = append(b.snap.Rules, rule)
		}
	}
	b.scope()
	slices.SortStableFunc(b.snap.Problems, func(x, y Problem) int {
		return cmp.Or(cmp.Compare(x.File, y.File), cmp.Compare(x.order(), y.order()))
	})
	slices.SortStableFunc(b.snap.Unsupported, func(x, y ResourceRef) int {
		return cmp.Or(cmp.Compare(x.File, y.File), cmp.Compare(x.Line, y.Line))
	})
}

// groupOf maps a kind to the stage that handles it.
func groupOf(kind string) string {
	switch kind {
	case "attributemanifest":
		return "attributemanifest"
	case "instance", TemplateMetric, TemplateLogEntry, TemplateKubernetes:
		return "instance"
	case "handler", AdapterPrometheus, AdapterStdio, AdapterKubernetesEnv:
		return "handler"
	case "rule":
		return "rule"
	}
	return ""
}

// withLastGoodFiles keeps resources whose documents no longer decode: a
// half-saved file must not make them vanish. A problem that names its
// resource keeps that resource's last good version; one that names nothing
// (a syntax error) keeps the last good resources of its file that are
// missing now.
func (b *builder) withLastGoodFiles(in Input) []*Resource {
	if len(b.prevGood) == 0 || len(in.Problems) == 0 {
		return in.Resources
	}
	defaulted := func(k Key) Key {
		if k.Namespace == "" {
			k.Namespace = b.opts.DefaultNamespace
		}
		return k
	}
	broken := map[string]bool{}
	named := map[Key]bool{}
	for _, p := range in.Problems {
		switch {
		case p.Kind != "" && p.Name != "":
			named[defaulted(Key{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name})] = true
		case p.File != "":
			broken[p.File] = true
		}
	}
	present := map[Key]bool{}
	for _, r := range in.Resources {
		present[defaulted(r.Key())] = true
	}
	var kept []*Resource
	for k, r := range b.prevGood {
		if !present[k] && (named[k] || broken[r.File]) {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		return in.Resources
	}
	slices.SortFunc(kept, func(x, y *Resource) int {
		return cmp.Or(cmp.Compare(x.File, y.File), cmp.Compare(x.Line, y.Line))
	})
	return append(slices.Clone(in.Resources), kept...)
}

// settle validates r. When the new version has problems and the previous
// snapshot holds a good version of the same resource that still validates,
// that version is kept: a broken edit must not take a working resource away.
// validate returns the compiled value (nil when rejected), the problems, and
// a reason when the resource is (partly) unsupported.
func settle[T any](b *builder, r *Resource, validate func(*Resource) (*T, []Problem, string)) (*T, bool) {
	v, probs, why := validate(r)
	used := r
	fellBack := false
	if len(probs) > 0 {
		if old := b.prevGood[r.Key()]; old != nil && old != r {
			if ov, oprobs, owhy := validate(old); len(oprobs) == 0 && ov != nil {
				probs = append(probs, r.problem(nil, "", "rejected; keeping the last good version"+fromWhere(old)))
				v, why, used, fellBack = ov, owhy, old, true
			}
		}
	}
	b.snap.Problems = append(b.snap.Problems, probs...)
	switch {
	case fellBack:
		b.snap.good[r.Key()] = used
		b.count(r.Kind, func(c *Counts) { c.Rejected++ })
	case v == nil && why != "" && len(probs) == 0:
		b.unsupported(r, why)
		return nil, false
	case v == nil:
		b.known[r.FQN()] = reasonRejected
		b.count(r.Kind, func(c *Counts) { c.Rejected++ })
	case why != "":
		b.snap.Unsupported = append(b.snap.Unsupported, r.ref(why))
		b.count(r.Kind, func(c *Counts) { c.Unsupported++ })
	default:
		if len(probs) == 0 {
			b.snap.good[r.Key()] = used
		}
		b.count(r.Kind, func(c *Counts) { c.Accepted++ })
	}
	return v, fellBack
}

func (b *builder) unsupported(r *Resource, why string) {
	b.snap.Unsupported = append(b.snap.Unsupported, r.ref(why))
	b.known[r.FQN()] = why
	b.count(r.Kind, func(c *Counts) { c.Unsupported++ })
}

func (b *builder) problem(p Problem) { b.snap.Problems = append(b.snap.Problems, p) }

func (b *builder) count(kind string, f func(*Counts)) {
	c := b.snap.CountsByKind[kind]
	f(&c)
	b.snap.CountsByKind[kind] = c
	f(&b.snap.Counts)
}

// where names a resource's origin for messages.
func where(r *Resource) string {
	if r.File == "" {
		return "another source (" + r.Key().String() + ")"
	}
	if r.Line > 0 {
		return r.File + ":" + strconv.Itoa(r.Line)
	}
	return r.File
}

func fromWhere(r *Resource) string {
	if r.File == "" {
		return ""
	}
	return " (" + where(r) + ")"
}

// scope builds the per-namespace rule lists of §d.5. Each namespace gets its
// own slice: Mixer appended to the shared default list and let namespaces
// overwrite each other's rules.
func (b *builder) scope() {
	s := b.snap
	slices.SortFunc(s.Rules, func(x, y *Rule) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	})
	own := map[string][]*Rule{}
	for _, r := range s.Rules {
		if r.Namespace == s.DefaultNamespace {
			s.defaultList = append(s.defaultList, r)
		} else {
			own[r.Namespace] = append(own[r.Namespace], r)
		}
	}
	s.rulesByNS = make(map[string][]*Rule, len(own))
	for ns, rules := range own {
		l := make([]*Rule, 0, len(s.defaultList)+len(rules))
		l = append(l, s.defaultList...)
		s.rulesByNS[ns] = append(l, rules...)
	}
	if s.Vocabulary == nil {
		s.Vocabulary = attribute.DefaultVocabulary()
	}
}
