package runtime

import (
	"fmt"
	"sync/atomic"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
)

// kubeStep is Mixer's preprocessing on Kubernetes: before the rules run,
// kubernetes instances routed to kubernetesenv handlers look the request's
// pods up and fill the workload attributes the bag lacks (mixer-semantics
// §b.4). Which instances run is decided like any rule: the rules of the
// default namespace and of the identity namespace, with their matches, all
// evaluated on the bag as it arrived. Each instance runs at most once per
// bag (the default config routes it from two rules for TCP); their results
// are merged after all have run, the first instance winning among them and
// the request winning over all.
type kubeStep struct {
	pods         kubeenv.Pods
	defaultRules []*kubeRule
	nsRules      map[string][]*kubeRule
	seq          uint64     // bumped per bag
	ran          []*kubeGen // generators run for the current bag, in order
	stats        *EnrichmentStats
}

type kubeRule struct {
	ruleMatch
	gens []*kubeGen
}

type kubeGen struct {
	fqn  string
	spec *kubeenv.Spec
	gen  *kubeenv.Generator
	seq  uint64 // the bag it last ran for
}

// EnrichmentStats counts what the kubernetesenv step did. Failed instances
// and rule matches are counted in Stats with the others.
type EnrichmentStats struct {
	BagsEnriched        atomic.Uint64 // bags that gained at least one attribute
	AttributesGenerated atomic.Uint64 // attributes set in bags
}

// buildKubeStep compiles the kubernetesenv routes of snap; nil when there is
// nothing to run (no pod lookup, or no such rule). The counters carry over
// from prev.
func buildKubeStep(snap *istioconfig.Snapshot, vocab *attribute.Vocabulary, prev *kubeStep) (*kubeStep, []error) {
	stats := &EnrichmentStats{}
	if prev != nil {
		stats = prev.stats
	}
	if snap.Pods == nil {
		return nil, nil
	}
	k := &kubeStep{pods: snap.Pods, nsRules: map[string][]*kubeRule{}, stats: stats}
	gens := map[string]*kubeGen{}
	var problems []error
	for _, sr := range snap.Rules {
		r := &kubeRule{ruleMatch: ruleMatch{fqn: sr.FQN, match: compiled(sr.Match)}}
		for _, sa := range sr.Actions {
			if sa.Handler == nil || sa.Handler.Adapter != istioconfig.AdapterKubernetesEnv {
				continue
			}
			for _, si := range sa.Instances {
				if si.Template != istioconfig.TemplateKubernetes || si.Kubernetes == nil {
					continue
				}
				g, seen := gens[si.FQN]
				if !seen {
					spec := si.Kubernetes.Spec()
					gen, err := kubeenv.NewGenerator(spec, vocab)
					if err != nil {
						problems = append(problems, fmt.Errorf("instance %s: %w", si.FQN, err))
					} else {
						g = &kubeGen{fqn: si.FQN, spec: spec, gen: gen}
					}
					gens[si.FQN] = g
				}
				if g != nil {
					r.gens = append(r.gens, g)
				}
			}
		}
		if len(r.gens) == 0 {
			continue
		}
		if sr.Lang == istioconfig.LangOTTL && sr.Match != nil {
			c, err := compileOTTLCondition(sr.Match.Text)
			if err != nil {
				problems = append(problems, fmt.Errorf("rule %s: match: %w", sr.FQN, err))
				continue
			}
			r.match, r.matchOTTL = nil, c
		}
		if sr.Namespace == snap.DefaultNamespace {
			k.defaultRules = append(k.defaultRules, r)
		} else {
			k.nsRules[sr.Namespace] = append(k.nsRules[sr.Namespace], r)
		}
	}
	if len(gens) == 0 {
		return nil, problems
	}
	return k, problems
}

// markWanted marks in want (indexed by vocabulary slot) the attributes the
// step reads: its rules' matches, its instances' inputs and the request
// attributes their bindings read — and the attributes it generates, since a
// value the proxy sent must be decoded to win over the generated one. A nil
// step marks nothing.
func (k *kubeStep) markWanted(vocab *attribute.Vocabulary, want []bool) {
	if k == nil {
		return
	}
	mark := func(names ...string) {
		for _, n := range names {
			if id, _, ok := vocab.Lookup(n); ok && id < len(want) {
				want[id] = true
			}
		}
	}
	exprs := func(es ...*cexl.Expression) {
		for _, e := range es {
			if e != nil {
				mark(e.Attributes()...)
			}
		}
	}
	rules := k.defaultRules
	for _, rs := range k.nsRules {
		rules = append(rules[:len(rules):len(rules)], rs...)
	}
	seen := map[*kubeGen]bool{}
	for _, r := range rules {
		exprs(r.match)
		for _, g := range r.gens {
			if seen[g] {
				continue
			}
			seen[g] = true
			s := g.spec
			exprs(s.SourceUID, s.SourceIP, s.DestinationUID, s.DestinationIP, s.DestinationPort)
			for _, b := range s.Bindings {
				mark(b.Attribute)
				exprs(b.Expr) // its $out fields are not in vocab and are skipped
			}
		}
	}
}

// enrich runs the kubernetesenv step on the bag just decoded.
func (e *Engine) enrich() {
	k := e.plan.kube
	if k == nil {
		return
	}
	k.seq++
	k.ran = k.ran[:0]
	ns := e.plan.identityNamespace(e.bag) // of the bag as it arrived, as in Mixer
	e.runKubeRules(k, k.defaultRules)
	if ns != "" && ns != e.plan.defaultNamespace {
		e.runKubeRules(k, k.nsRules[ns])
	}
	n := 0
	for _, g := range k.ran {
		n += g.gen.Merge(e.bag)
	}
	if n > 0 {
		k.stats.BagsEnriched.Add(1)
		k.stats.AttributesGenerated.Add(uint64(n))
	}
}

func (e *Engine) runKubeRules(k *kubeStep, rules []*kubeRule) {
	for _, r := range rules {
		if !e.matches(&r.ruleMatch) {
			continue
		}
		e.stats.RulesMatched.Add(1)
		for _, g := range r.gens {
			if g.seq == k.seq {
				continue
			}
			g.seq = k.seq
			if err := g.gen.Run(e.bag, k.pods); err != nil {
				e.stats.InstanceErrors.Add(1)
				e.logs.warn("instance "+g.fqn, "kubernetes attributes could not be generated for this report; skipped", err)
				continue
			}
			e.stats.InstancesBuilt.Add(1)
			k.ran = append(k.ran, g)
		}
	}
}

// EnrichmentStats returns the counters of the kubernetesenv step; zero
// counters when it does not run.
func (e *Engine) EnrichmentStats() *EnrichmentStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k := e.plan.kube; k != nil {
		return k.stats
	}
	return &EnrichmentStats{}
}
