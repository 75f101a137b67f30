package attribute

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Vocabulary is an immutable set of declared attributes (the merged attribute
// manifests). It assigns each attribute a dense id, its slot in a Bag. Ids
// follow the sorted attribute names, so the same manifests always give the
// same ids. A Vocabulary is safe for concurrent use.
type Vocabulary struct {
	names []string
	types []Type
	index map[string]int
}

// NewVocabulary builds a vocabulary from attribute name → type. The map is
// not retained.
func NewVocabulary(attrs map[string]Type) *Vocabulary {
	names := slices.Sorted(maps.Keys(attrs))
	v := &Vocabulary{
		names: names,
		types: make([]Type, len(names)),
		index: make(map[string]int, len(names)),
	}
	for i, n := range names {
		v.types[i] = attrs[n]
		v.index[n] = i
	}
	return v
}

// MergeManifests merges attribute manifests the way Mixer merged the
// manifests of all namespaces into one vocabulary: every declared attribute
// is kept and a later manifest overrides an earlier one. The merged map is
// always returned; the error, when not nil, names each attribute declared
// with two different types, so callers can warn or refuse.
func MergeManifests(manifests ...map[string]Type) (map[string]Type, error) {
	merged := map[string]Type{}
	var conflicts []string
	for _, m := range manifests {
		for _, n := range slices.Sorted(maps.Keys(m)) {
			t := m[n]
			if old, ok := merged[n]; ok && old != t {
				conflicts = append(conflicts, fmt.Sprintf("%s (%s and %s)", n, old, t))
			}
			merged[n] = t
		}
	}
	if len(conflicts) > 0 {
		return merged, fmt.Errorf("attributes declared with conflicting types: %s", strings.Join(conflicts, ", "))
	}
	return merged, nil
}

// Lookup returns the id and declared type of an attribute.
func (v *Vocabulary) Lookup(name string) (id int, t Type, ok bool) {
	id, ok = v.index[name]
	if !ok {
		return -1, TypeUnspecified, false
	}
	return id, v.types[id], true
}

// Name returns the name of attribute id; "" when id is out of range.
func (v *Vocabulary) Name(id int) string {
	if id < 0 || id >= len(v.names) {
		return ""
	}
	return v.names[id]
}

// Type returns the declared type of attribute id; TypeUnspecified when id is
// out of range.
func (v *Vocabulary) Type(id int) Type {
	if id < 0 || id >= len(v.types) {
		return TypeUnspecified
	}
	return v.types[id]
}

// Len returns the number of attributes; ids are 0 … Len()-1.
func (v *Vocabulary) Len() int { return len(v.names) }

// Names returns the attribute names in id order (sorted).
func (v *Vocabulary) Names() []string { return slices.Clone(v.names) }

// Manifest returns the vocabulary as a fresh name → type map.
func (v *Vocabulary) Manifest() map[string]Type {
	m := make(map[string]Type, len(v.names))
	for i, n := range v.names {
		m[n] = v.types[i]
	}
	return m
}

//go:embed data/attributes.tsv
var attributesTSV []byte

// defaultAttrs parses the embedded table once. The table is part of the
// binary, so a malformed line is a build defect and panics (a test guards it).
var defaultAttrs = sync.OnceValue(func() map[string]Type {
	m := map[string]Type{}
	sc := bufio.NewScanner(bytes.NewReader(attributesTSV))
	for line := 1; sc.Scan(); line++ {
		if line == 1 || strings.TrimSpace(sc.Text()) == "" {
			continue // header
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 2 {
			panic(fmt.Sprintf("attribute: data/attributes.tsv line %d: want name<TAB>type", line))
		}
		t, err := ParseType(f[1])
		if err != nil || !t.Valid() {
			panic(fmt.Sprintf("attribute: data/attributes.tsv line %d: bad type %q", line, f[1]))
		}
		m[f[0]] = t
	}
	return m
})

var defaultVocab = sync.OnceValue(func() *Vocabulary { return NewVocabulary(defaultAttrs()) })

// DefaultManifest returns a fresh copy of Istio's default attribute
// vocabulary: the union of the `istioproxy` and `kubernetes` attribute
// manifests shipped with Mixer (Istio 1.7; = 1.1 plus context.proxy_version),
// 90 attributes.
func DefaultManifest() map[string]Type { return maps.Clone(defaultAttrs()) }

// DefaultVocabulary returns the shared Vocabulary of DefaultManifest.
func DefaultVocabulary() *Vocabulary { return defaultVocab() }
