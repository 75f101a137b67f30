package istioconfig

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// rule validates a rule, resolving its handler and instance names against
// the accepted handlers and instances. As in Mixer, a bad action or instance
// is dropped and the rest of the rule is kept; a rule left without actions
// is dropped.
func (b *builder) rule(r *Resource) (*Rule, []Problem, string) {
	rd := &reader{res: r}
	f := rd.object(r.Spec, "", true, "match", "selector", "actions",
		"request_header_operations", "response_header_operations", "sampling")
	lang := b.language(rd)
	rule := &Rule{FQN: r.FQN(), Name: r.Name, Namespace: r.Namespace, Lang: lang, File: r.File, Line: r.Line}

	// Match; "selector" is its pre-1.0 name, which Mixer renamed silently.
	mf, hasMatch := f["match"]
	if sf, ok := f["selector"]; ok {
		if hasMatch {
			rd.failf(sf.key, sf.path, "give match or selector (its old name), not both")
		}
		mf, hasMatch = sf, true
	}
	if hasMatch {
		if src, ok := rd.str(mf, true); ok {
			t := strings.TrimSpace(src)
			// "" and "true" mean "always" without compiling anything.
			if t != "" && !(t == "true" && lang != LangOTTL) {
				c := &exprs{r: rd, lang: lang, vocab: b.snap.Vocabulary, ottl: b.opts.CompileOTTL}
				rule.Match = c.compile(mf.val, mf.path, src, attribute.TypeBool)
			}
		}
	}
	if rd.failed() {
		return nil, rd.probs, "" // Mixer dropped a rule whose match did not compile
	}

	af, ok := f["actions"]
	if ok && deref(af.val).Kind != yaml.SequenceNode {
		rd.failf(af.val, af.path, "must be a list of actions, not %s", describe(af.val))
		return nil, rd.probs, ""
	}
	if !ok || len(deref(af.val).Content) == 0 {
		if _, hdr := f["request_header_operations"]; hdr {
			return nil, nil, "the rule only has header operations, which apply to Check, not to telemetry"
		}
		if _, hdr := f["response_header_operations"]; hdr {
			return nil, nil, "the rule only has header operations, which apply to Check, not to telemetry"
		}
		rd.failf(nil, "actions", "the rule has no actions")
		return nil, rd.probs, ""
	}
	seq := deref(af.val)
	var unsupported []string
	for i, item := range seq.Content {
		a, why := b.action(rd, field{path: index(af.path, i), val: item}, r.Namespace)
		if why != "" {
			unsupported = append(unsupported, fmt.Sprintf("%s: %s", index(af.path, i), why))
		}
		if a != nil {
			rule.Actions = append(rule.Actions, *a)
		}
	}
	why := strings.Join(unsupported, "; ")
	if len(rule.Actions) == 0 {
		if rd.failed() {
			rd.failf(af.val, af.path, "no valid actions: the rule is ignored")
			return nil, rd.probs, ""
		}
		return nil, nil, why
	}
	return rule, rd.probs, why
}

// action resolves one action. It returns nil when nothing of it is left,
// and a reason when (part of) it names unsupported resources.
func (b *builder) action(rd *reader, item field, ns string) (*Action, string) {
	f := rd.object(item.val, item.path, true, "handler", "instances", "name")
	a := &Action{}
	if v, ok := f["name"]; ok {
		a.Name, _ = rd.str(v, false)
	}
	hf, ok := f["handler"]
	if !ok {
		rd.failf(item.val, item.path, "handler is missing")
		return nil, ""
	}
	href, ok := rd.str(hf, false)
	if !ok {
		return nil, ""
	}
	inf, ok := f["instances"]
	if !ok {
		rd.failf(item.val, item.path, "instances is missing")
		return nil, ""
	}
	refs, nodes, _ := rd.strList(inf)
	if len(refs) == 0 && deref(inf.val).Kind == yaml.SequenceNode {
		rd.failf(inf.val, inf.path, "lists no instances")
		return nil, ""
	}

	h, why, msg := b.resolveHandler(href, ns)
	switch {
	case msg != "":
		rd.failf(hf.val, hf.path, "%s", strings.Replace(msg, "{drop}", "; the action is dropped", 1))
		return nil, ""
	case h == nil:
		return nil, why
	}
	a.Handler = h
	var whys []string
	failedBefore := len(rd.probs)
	for i, ref := range refs {
		path := index(inf.path, i)
		inst, why, msg := b.resolveInstance(ref, ns)
		switch {
		case msg != "":
			rd.failf(nodes[i], path, "%s", strings.Replace(msg, "{drop}", "", 1))
			continue
		case inst == nil:
			whys = append(whys, why)
			continue
		}
		if slices.Contains(a.Instances, inst) {
			rd.failf(nodes[i], path, "instance %s is listed twice in this action; it is used once", inst.FQN)
			continue
		}
		if !h.Supports(inst.Template) {
			rd.failf(nodes[i], path, "instance %s is a %s instance, which handler %s (adapter %s) does not take",
				inst.FQN, inst.Template, h.FQN, h.Adapter)
			continue
		}
		a.Instances = append(a.Instances, inst)
	}
	if len(a.Instances) == 0 {
		if len(rd.probs) > failedBefore {
			rd.failf(inf.val, inf.path, "no valid instances: the action is dropped")
		}
		return nil, strings.Join(whys, "; ")
	}
	return a, strings.Join(whys, "; ")
}

// candidates lists the FQNs a reference from a rule in namespace ns may mean
// (mixer-semantics §d.4): "a.b.c" verbatim; "a" as a.<kind>.ns; "a.b" first
// as a.b.ns (b a kind), then as a.<kind>.b (b a namespace).
func candidates(ref, desiredKind, ns string) []string {
	switch strings.Count(ref, ".") {
	case 0:
		return []string{ref + "." + desiredKind + "." + ns}
	case 1:
		a, n, _ := strings.Cut(ref, ".")
		return []string{ref + "." + ns, a + "." + desiredKind + "." + n}
	}
	return []string{ref}
}

// resolveHandler finds a handler. It returns the handler; or a reason when
// the name resolves to an unsupported resource; or an error message.
func (b *builder) resolveHandler(ref, ns string) (*Handler, string, string) {
	cands := candidates(ref, "handler", ns)
	for _, c := range cands {
		if h := b.snap.Handlers[c]; h != nil {
			return h, "", ""
		}
	}
	for _, c := range cands {
		if why, ok := b.known[c]; ok && why != reasonRejected {
			return nil, fmt.Sprintf("handler %s is unsupported (%s)", c, why), ""
		}
	}
	return nil, "", b.unresolved("handler", ref, ns, cands)
}

func (b *builder) resolveInstance(ref, ns string) (*Instance, string, string) {
	cands := candidates(ref, "instance", ns)
	for _, c := range cands {
		if i := b.snap.Instances[c]; i != nil {
			return i, "", ""
		}
	}
	for _, c := range cands {
		if why, ok := b.known[c]; ok && why != reasonRejected {
			return nil, fmt.Sprintf("instance %s is unsupported (%s)", c, why), ""
		}
	}
	return nil, "", b.unresolved("instance", ref, ns, cands)
}

// unresolved explains why a reference did not resolve. "{drop}" marks where
// the caller may say what it drops.
func (b *builder) unresolved(what, ref, ns string, cands []string) string {
	for _, c := range cands {
		if why, ok := b.known[c]; ok {
			if why == reasonRejected {
				return fmt.Sprintf("%s %q resolves to %s, which was rejected{drop}", what, ref, c)
			}
			return fmt.Sprintf("%s %q resolves to %s, which is unsupported (%s){drop}", what, ref, c, why)
		}
	}
	msg := fmt.Sprintf("%s %q not found (looked for %s){drop}", what, ref, strings.Join(cands, " and "))
	if !strings.Contains(ref, ".") {
		// A short name finds only the generic kind; point at a legacy one.
		var alts []string
		if what == "handler" {
			for _, h := range b.snap.Handlers {
				if h.Name == ref && h.Namespace == ns {
					alts = append(alts, h.Name+"."+h.Kind)
				}
			}
		} else {
			for _, i := range b.snap.Instances {
				if i.Name == ref && i.Namespace == ns {
					alts = append(alts, i.Name+"."+i.Kind)
				}
			}
		}
		if len(alts) > 0 {
			slices.Sort(alts)
			msg += fmt.Sprintf("; did you mean %q? (a name without a dot only finds kind %s)", alts[0], what)
		}
	}
	return msg
}
