package istioconfig

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// manifest is a validated attributemanifest.
type manifest struct {
	key   Key
	attrs []declared
}

type declared struct {
	name string
	typ  attribute.Type
	f    field
}

// manifests merges all attribute manifests into the vocabulary, as Mixer did
// across namespaces. An attribute declared again with another type keeps its
// first declaration; the second is reported.
func (b *builder) manifests(res []*Resource) {
	merged := map[string]attribute.Type{}
	owner := map[string]Key{}
	for _, r := range res {
		m, fellBack := settle(b, r, b.manifest)
		if m == nil {
			continue
		}
		for _, d := range m.attrs {
			if t, ok := merged[d.name]; ok && t != d.typ {
				if !fellBack {
					b.problem(r.problem(deref(d.f.val), d.f.path, fmt.Sprintf(
						"attribute %s is already declared as %s by %s; this declaration as %s is ignored",
						d.name, t, owner[d.name], d.typ)))
				}
				continue
			}
			merged[d.name] = d.typ
			if _, ok := owner[d.name]; !ok {
				owner[d.name] = m.key
			}
		}
	}
	if len(res) == 0 {
		b.snap.Vocabulary = attribute.DefaultVocabulary()
		b.snap.DefaultVocabulary = true
		return
	}
	b.snap.Vocabulary = attribute.NewVocabulary(merged)
}

func (b *builder) manifest(r *Resource) (*manifest, []Problem, string) {
	rd := &reader{res: r}
	f := rd.object(r.Spec, "", true, "revision", "name", "attributes")
	m := &manifest{key: r.Key()}
	if a, ok := f["attributes"]; ok {
		if deref(a.val).Kind != yaml.MappingNode {
			rd.failf(a.val, a.path, "must be a mapping of attribute name to {valueType: TYPE}, not %s", describe(a.val))
		}
		for _, e := range entries(a.val) {
			p := join(a.path, e.key)
			af := rd.object(e.v, p, true, "description", "value_type")
			vt, ok := af["value_type"]
			if !ok {
				rd.failf(e.k, p, "valueType is missing")
				continue
			}
			t, err := attribute.ParseType(scalar(vt.val))
			if err != nil || !t.Valid() {
				rd.failf(vt.val, vt.path, "unknown value type %s: want one of STRING, INT64, DOUBLE, BOOL, TIMESTAMP, IP_ADDRESS, EMAIL_ADDRESS, URI, DNS_NAME, DURATION, STRING_MAP", shown(vt.val))
				continue
			}
			m.attrs = append(m.attrs, declared{name: e.key, typ: t, f: field{path: p, key: e.k, val: e.v}})
		}
	}
	// A bad declaration loses only that attribute.
	return m, rd.probs, ""
}
