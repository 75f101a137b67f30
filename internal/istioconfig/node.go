package istioconfig

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file reads spec nodes the way Mixer's jsonpb decoding did: keys in
// snake_case or lowerCamelCase, enums by name or number, numbers also as
// quoted strings. Every complaint is recorded as a Problem with the field
// path and the node's position, so one bad field does not hide another.

// deref follows aliases and unwraps documents.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		default:
			return n
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names what a node is, for messages such as "must be a string,
// not a number".
func describe(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil || isNull(n):
		return "null"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!str":
		return "a string"
	case "!!timestamp":
		return "a timestamp"
	}
	return "a " + strings.TrimPrefix(n.Tag, "!!")
}

// kv is one mapping entry.
type kv struct {
	key  string
	k, v *yaml.Node
}

// entries lists a mapping's entries in order, with YAML merge keys (<<)
// expanded where they stand. Merges that refer to themselves, or that would
// expand beyond maxMergedEntries, are cut short: the YAML parser leaves
// aliases unexpanded in nodes, so guarding against alias bombs is ours.
func entries(n *yaml.Node) []kv {
	budget := maxMergedEntries
	return appendEntries(nil, n, map[*yaml.Node]bool{}, &budget)
}

const maxMergedEntries = 10000

func appendEntries(out []kv, n *yaml.Node, active map[*yaml.Node]bool, budget *int) []kv {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode || active[n] {
		return out
	}
	active[n] = true
	defer delete(active, n)
	for i := 0; i+1 < len(n.Content) && *budget > 0; i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			src := deref(v)
			if src != nil && src.Kind == yaml.SequenceNode {
				for _, c := range src.Content {
					out = appendEntries(out, c, active, budget)
				}
			} else {
				out = appendEntries(out, src, active, budget)
			}
			continue
		}
		*budget--
		out = append(out, kv{key: deref(k).Value, k: k, v: v})
	}
	return out
}

// camel turns a proto snake_case field name into its JSON lowerCamelCase name.
func camel(snake string) string {
	var b strings.Builder
	up := false
	for _, r := range snake {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// field is a recognised mapping entry: its value node and its path as the
// user spelled it.
type field struct {
	path string
	key  *yaml.Node
	val  *yaml.Node
}

// reader collects the problems of one resource.
type reader struct {
	res   *Resource
	probs []Problem
}

func (r *reader) failf(n *yaml.Node, path, format string, args ...any) {
	r.probs = append(r.probs, r.res.problem(deref(n), path, fmt.Sprintf(format, args...)))
}

func (r *reader) failed() bool { return len(r.probs) > 0 }

// object reads a message-like mapping at path whose fields are named (in
// snake_case) by names. Unknown keys are errors when strict; a field given
// twice (also once in each spelling) is always an error. A null field counts
// as absent, as in jsonpb.
func (r *reader) object(n *yaml.Node, path string, strict bool, names ...string) map[string]field {
	out := map[string]field{}
	if isNull(n) {
		return out
	}
	m := deref(n)
	if m.Kind != yaml.MappingNode {
		r.failf(n, path, "must be a mapping, not %s", describe(n))
		return out
	}
	spell := make(map[string]string, 2*len(names))
	for _, s := range names {
		spell[s] = s
		spell[camel(s)] = s
	}
	for _, e := range entries(m) {
		name, ok := spell[e.key]
		p := join(path, e.key)
		if !ok {
			if strict {
				r.failf(e.k, p, "unknown field %q%s", e.key, suggest(e.key, names))
			}
			continue
		}
		if prev, dup := out[name]; dup {
			r.failf(e.k, p, "given twice (also at line %d)", deref(prev.key).Line)
			continue
		}
		if isNull(e.v) {
			continue
		}
		out[name] = field{path: p, key: e.k, val: e.v}
	}
	return out
}

// suggest proposes the known field closest to a misspelt key.
func suggest(key string, names []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(strings.ReplaceAll(key, "_", ""))
	for _, n := range names {
		cand := strings.ToLower(strings.ReplaceAll(n, "_", ""))
		if d := editDistance(lk, cand); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// stringMap reads a map of scalar strings (dimensions, variables, …).
// Values that are not strings are errors: Mixer's decoder refused them too.
func (r *reader) stringMap(f field, what string) []kvString {
	m := deref(f.val)
	if m.Kind != yaml.MappingNode {
		r.failf(f.val, f.path, "must be a mapping of %s, not %s", what, describe(f.val))
		return nil
	}
	var out []kvString
	seen := map[string]int{}
	for _, e := range entries(m) {
		p := join(f.path, e.key)
		if line, dup := seen[e.key]; dup {
			r.failf(e.k, p, "given twice (also at line %d)", line)
			continue
		}
		seen[e.key] = deref(e.k).Line
		s, ok := r.str(field{path: p, key: e.k, val: e.v}, true)
		if !ok {
			continue
		}
		out = append(out, kvString{key: e.key, val: s, node: deref(e.v), path: p})
	}
	return out
}

type kvString struct {
	key, val string
	node     *yaml.Node
	path     string
}

// str reads a string. expr says the string is an expression, so that a YAML
// number gets the hint to quote it (Mixer: "cannot unmarshal number into Go
// value of type string").
func (r *reader) str(f field, expr bool) (string, bool) {
	n := deref(f.val)
	if n.Kind != yaml.ScalarNode {
		r.failf(f.val, f.path, "must be a string, not %s", describe(f.val))
		return "", false
	}
	if n.Tag != "!!str" {
		if expr {
			r.failf(f.val, f.path, "must be a string, not %s: an expression is written as a YAML string, e.g. '%s'", describe(f.val), quoteHint(n.Value))
		} else {
			r.failf(f.val, f.path, "must be a string, not %s", describe(f.val))
		}
		return "", false
	}
	return n.Value, true
}

func quoteHint(v string) string {
	if v == "" {
		return `""`
	}
	return `"` + v + `"`
}

// strList reads a list of strings.
func (r *reader) strList(f field) ([]string, []*yaml.Node, bool) {
	n := deref(f.val)
	if n.Kind != yaml.SequenceNode {
		r.failf(f.val, f.path, "must be a list of strings, not %s", describe(f.val))
		return nil, nil, false
	}
	ok := true
	out := make([]string, 0, len(n.Content))
	nodes := make([]*yaml.Node, 0, len(n.Content))
	for i, c := range n.Content {
		s, good := r.str(field{path: index(f.path, i), val: c}, false)
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
		nodes = append(nodes, deref(c))
	}
	return out, nodes, ok
}

// boolean accepts true/false, also quoted.
func (r *reader) boolean(f field) (bool, bool) {
	n := deref(f.val)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!bool" || n.Tag == "!!str") {
		switch strings.ToLower(n.Value) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	r.failf(f.val, f.path, "must be true or false, not %s", describe(f.val))
	return false, false
}

// number reads a finite double; jsonpb also took numbers written as strings.
func (r *reader) number(f field) (float64, bool) {
	n := deref(f.val)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!str") {
		switch strings.ToLower(strings.TrimLeft(n.Value, "+-")) {
		case ".inf", ".nan", "inf", "infinity", "nan":
			r.failf(f.val, f.path, "must be a finite number, not %s", n.Value)
			return 0, false
		}
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, true
		}
	}
	r.failf(f.val, f.path, "must be a number, not %s", shown(n))
	return 0, false
}

// int32 reads an integer that fits in 32 bits.
func (r *reader) int32(f field) (int32, bool) {
	n := deref(f.val)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!str") {
		v, err := strconv.ParseInt(n.Value, 0, 32)
		if err == nil {
			return int32(v), true
		}
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			r.failf(f.val, f.path, "%s does not fit in 32 bits", n.Value)
			return 0, false
		}
	}
	r.failf(f.val, f.path, "must be an integer, not %s", describe(f.val))
	return 0, false
}

// enum reads an enum by name (any letter case) or number.
func (r *reader) enum(f field, names []string) (int32, bool) {
	n := deref(f.val)
	if n.Kind == yaml.ScalarNode {
		for i, name := range names {
			if strings.EqualFold(n.Value, name) {
				return int32(i), true
			}
		}
		if v, err := strconv.ParseInt(n.Value, 10, 32); err == nil && v >= 0 && int(v) < len(names) {
			return int32(v), true
		}
	}
	r.failf(f.val, f.path, "must be one of %s (or its number 0-%d), not %s", strings.Join(names, ", "), len(names)-1, shown(n))
	return 0, false
}

// shown prints a scalar's text for messages, or what the node is.
func shown(n *yaml.Node) string {
	n = deref(n)
	if n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return strconv.Quote(n.Value)
	}
	return describe(n)
}
