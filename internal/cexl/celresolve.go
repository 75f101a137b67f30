package cexl

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// celResolver rewrites a CEL parse tree into the operators the checker and
// compiler know, once the vocabulary is known. Mixer's CEL modelled dotted
// attribute names as nested messages: `a.b.c` selects field c of message
// a.b, a STRING_MAP's field is one of its keys, and has() tests presence.
type celResolver struct {
	vocab *attribute.Vocabulary
	ps    *parseState
}

func (r *celResolver) errorf(n *node, format string, args ...any) *CompileError {
	return r.ps.errorAt(n.pos, fmt.Sprintf(format, args...))
}

// celMacros are CEL's comprehensions; no attribute is a list, so none of
// them has anything to range over.
var celMacros = map[string]bool{"all": true, "exists": true, "exists_one": true, "map": true, "filter": true}

func (r *celResolver) resolve(n *node) (*node, error) {
	switch n.kind {
	case kindConst:
		return n, nil
	case kindVar:
		return r.path(n)
	}
	if n.target != nil && celMacros[n.fn] {
		return nil, r.errorf(n, "macro %s() is not supported: no attribute is a list", n.fn)
	}
	switch n.fn {
	case "PAREN":
		return r.resolve(n.args[0])
	case "HAS":
		return r.has(n)
	case "SELECT":
		x, err := r.resolve(n.args[0])
		if err != nil {
			return nil, err
		}
		n.fn, n.args[0] = "INDEX", x
		markLiteral(n)
		return n, nil
	case "LIST":
		return nil, r.errorf(n, "list values are not supported here: no attribute is a list; a list literal may follow `in` or be indexed by a constant")
	case "INDEX":
		if l := n.args[0]; l.kind == kindCall && l.fn == "LIST" {
			k := n.args[1]
			if k.kind != kindConst || k.typ != attribute.TypeInt64 {
				return nil, r.errorf(n, "a list literal can only be indexed by an integer constant")
			}
			if k.ival < 0 || k.ival >= int64(len(l.args)) {
				return nil, r.errorf(n, "index out of range: %d", k.ival)
			}
			return r.resolve(l.args[k.ival])
		}
		x, err := r.resolveArgs(n)
		if err == nil {
			markLiteral(x)
		}
		return x, err
	case "IN":
		if l := n.args[1]; l.kind == kindCall && l.fn == "LIST" {
			return r.inList(n, l)
		}
	case "MAP":
		return r.mapLiteral(n)
	case "pick":
		if len(n.args) < 2 {
			return nil, r.errorf(n, "pick() takes at least two arguments, got %d", len(n.args))
		}
		// pick(a, b, c) is a | b | c in COMPAT's terms.
		or := n.args[len(n.args)-1]
		for i := len(n.args) - 2; i >= 0; i-- {
			or = &node{kind: kindCall, pos: n.args[i].pos, fn: "OR", args: []*node{n.args[i], or}}
		}
		return r.resolve(or)
	case "size":
		if n.target != nil { // x.size() is size(x)
			n.args, n.target = append([]*node{n.target}, n.args...), nil
		}
	case "matches":
		if n.target == nil && len(n.args) == 2 { // matches(s, re) is s.matches(re)
			n.target, n.args = n.args[0], n.args[1:]
		}
	}
	return r.resolveArgs(n)
}

// resolveArgs resolves the target and arguments of call n.
func (r *celResolver) resolveArgs(n *node) (*node, error) {
	var err error
	if n.target != nil {
		if n.target, err = r.resolve(n.target); err != nil {
			return nil, err
		}
	}
	for i, a := range n.args {
		if n.args[i], err = r.resolve(a); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// markLiteral marks a lookup in a map literal: cel-go's maps, unlike
// Mixer's attribute maps, did not quote a missing key in their error.
func markLiteral(n *node) {
	if m := n.args[0]; m.kind == kindCall && (m.fn == "MAP" || m.lit == "{}") {
		n.lit = "literal"
	}
}

// inList rewrites x in [a, b, …] into INLIST(x == a, x == b, …): every
// comparison is made and an error in any of them is the result, as when CEL
// builds the list; the empty list holds nothing.
func (r *celResolver) inList(n, l *node) (*node, error) {
	x, err := r.resolve(n.args[0])
	if err != nil {
		return nil, err
	}
	if len(l.args) == 0 {
		return &node{kind: kindConst, pos: n.pos, typ: attribute.TypeBool, lit: "false"}, nil
	}
	out := &node{kind: kindCall, pos: n.pos, fn: "INLIST"}
	for i, e := range l.args {
		e, err := r.resolve(e)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			x = x.clone() // checking rewrites calls in place: no node is shared
		}
		out.args = append(out.args, &node{kind: kindCall, pos: n.pos, fn: "EQ", args: []*node{x, e}})
	}
	return out, nil
}

// clone copies the tree under n.
func (n *node) clone() *node {
	c := *n
	if n.target != nil {
		c.target = n.target.clone()
	}
	if n.args != nil {
		c.args = make([]*node, len(n.args))
		for i, a := range n.args {
			c.args[i] = a.clone()
		}
	}
	return &c
}

// mapLiteral accepts maps of string constants, the only map type there is.
func (r *celResolver) mapLiteral(n *node) (*node, error) {
	if len(n.args) == 0 {
		return &node{kind: kindCall, pos: n.pos, fn: "emptyStringMap", lit: "{}"}, nil
	}
	seen := map[string]bool{}
	for i := 0; i < len(n.args); i += 2 {
		k, v := n.args[i], n.args[i+1]
		if k.kind != kindConst || k.typ != attribute.TypeString || v.kind != kindConst || v.typ != attribute.TypeString {
			return nil, r.errorf(k, "map literals must map string constants to string constants")
		}
		if seen[k.sval] {
			return nil, r.errorf(k, "duplicate map key: %q", k.sval)
		}
		seen[k.sval] = true
	}
	return n, nil
}

// split finds the attribute a dotted name starts with: the shortest prefix
// that the vocabulary holds, as a field of message type ends the chain of
// messages. rest is what follows it.
func (r *celResolver) split(name string) (attr string, rest []string, ok bool) {
	parts := strings.Split(name, ".")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], ".")
		if _, _, ok := r.vocab.Lookup(prefix); ok {
			return prefix, parts[i:], true
		}
	}
	return "", nil, false
}

// isGroup reports whether some attribute's name starts with name + ".", so
// that name is a message of Mixer's model.
func (r *celResolver) isGroup(name string) bool {
	return slices.ContainsFunc(r.vocab.Names(), func(a string) bool { return strings.HasPrefix(a, name+".") })
}

// unknown explains why a dotted name selects nothing, in CEL's terms.
func (r *celResolver) unknown(n *node) error {
	parts := strings.Split(n.name, ".")
	if !r.isGroup(parts[0]) {
		return r.errorf(n, "undeclared reference to '%s'", parts[0])
	}
	for i := 2; i <= len(parts); i++ {
		if !r.isGroup(strings.Join(parts[:i], ".")) {
			return r.errorf(n, "undefined field '%s'", parts[i-1])
		}
	}
	return groupErr(r.ps, n)
}

// groupErr is the error for a group of attributes used as a value.
func groupErr(ps *parseState, n *node) error {
	return ps.errorAt(n.pos, fmt.Sprintf("'%s' is a group of attributes (%s.…), not a value; has() can test it", n.name, n.name))
}

func (r *celResolver) path(n *node) (*node, error) {
	attr, rest, ok := r.split(n.name)
	if !ok {
		if r.isGroup(n.name) {
			// A message of Mixer's model: no value, but an operand whose
			// type errors name it, as cel-go's did.
			return &node{kind: kindCall, pos: n.pos, fn: "GROUP", lit: "." + n.name, name: n.name}, nil
		}
		return nil, r.unknown(n)
	}
	v := &node{kind: kindVar, pos: n.pos, name: attr}
	if len(rest) == 0 {
		return v, nil
	}
	_, t, _ := r.vocab.Lookup(attr)
	if t != attribute.TypeStringMap || len(rest) > 1 {
		return nil, r.errorf(n, "type '%s' does not support field selection", t)
	}
	key := &node{kind: kindConst, pos: n.pos, typ: attribute.TypeString, lit: fmt.Sprintf("%q", rest[0]), sval: rest[0]}
	return &node{kind: kindCall, pos: n.pos, fn: "INDEX", args: []*node{v, key}}, nil
}

// has rewrites has(x.f): a present attribute, a message (always there), or
// a key of a map.
func (r *celResolver) has(n *node) (*node, error) {
	a := n.args[0]
	if a.kind == kindCall { // has(e.f) where e is not a name: f is a key of map e
		x, err := r.resolve(a.args[0])
		if err != nil {
			return nil, err
		}
		return &node{kind: kindCall, pos: n.pos, fn: "IN", args: []*node{a.args[1], x}}, nil
	}
	_, rest, ok := r.split(a.name)
	if !ok {
		if r.isGroup(a.name) {
			return &node{kind: kindConst, pos: n.pos, typ: attribute.TypeBool, lit: "true", bval: true}, nil
		}
		return nil, r.unknown(a)
	}
	v, err := r.path(a)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		return &node{kind: kindCall, pos: n.pos, fn: "HAS", args: []*node{v}}, nil
	}
	return &node{kind: kindCall, pos: n.pos, fn: "IN", args: []*node{v.args[1], v.args[0]}}, nil
}

// compatCELBuiltins are COMPAT's: CEL's, and our CEXL's toMilliseconds.
var compatCELBuiltins = func() map[string]*funcMeta {
	m := maps.Clone(celBuiltins)
	m["toMilliseconds"] = builtins["toMilliseconds"]
	return m
}()

// celOverload is one signature of an overloaded CEL function.
type celOverload struct {
	args []attribute.Type
	ret  attribute.Type
}

var (
	tInt  = attribute.TypeInt64
	tDbl  = attribute.TypeDouble
	tDur  = attribute.TypeDuration
	tTime = attribute.TypeTimestamp
	tMap  = attribute.TypeStringMap
)

// celOverloads are the functions of CEL whose result type depends on the
// argument types, and the ones called with a varying number of arguments.
// Functions not here are checked against celBuiltins.
var celOverloads = map[string][]celOverload{
	"ADD": {{[]attribute.Type{tInt, tInt}, tInt}, {[]attribute.Type{tDbl, tDbl}, tDbl}, {[]attribute.Type{tStr, tStr}, tStr},
		{[]attribute.Type{tDur, tDur}, tDur}, {[]attribute.Type{tTime, tDur}, tTime}, {[]attribute.Type{tDur, tTime}, tTime}},
	"SUB": {{[]attribute.Type{tInt, tInt}, tInt}, {[]attribute.Type{tDbl, tDbl}, tDbl}, {[]attribute.Type{tDur, tDur}, tDur},
		{[]attribute.Type{tTime, tDur}, tTime}, {[]attribute.Type{tTime, tTime}, tDur}},
	"MUL":    {{[]attribute.Type{tInt, tInt}, tInt}, {[]attribute.Type{tDbl, tDbl}, tDbl}},
	"QUO":    {{[]attribute.Type{tInt, tInt}, tInt}, {[]attribute.Type{tDbl, tDbl}, tDbl}},
	"REM":    {{[]attribute.Type{tInt, tInt}, tInt}},
	"NEG":    {{[]attribute.Type{tInt}, tInt}, {[]attribute.Type{tDbl}, tDbl}},
	"int":    {{[]attribute.Type{tInt}, tInt}, {[]attribute.Type{tDbl}, tInt}, {[]attribute.Type{tStr}, tInt}, {[]attribute.Type{tTime}, tInt}},
	"double": {{[]attribute.Type{tDbl}, tDbl}, {[]attribute.Type{tInt}, tDbl}, {[]attribute.Type{tStr}, tDbl}},
	"string": {{[]attribute.Type{tStr}, tStr}, {[]attribute.Type{tInt}, tStr}, {[]attribute.Type{tDbl}, tStr},
		{[]attribute.Type{tBool}, tStr}, {[]attribute.Type{tDur}, tStr}, {[]attribute.Type{tTime}, tStr}},
	"duration":  {{[]attribute.Type{tStr}, tDur}, {[]attribute.Type{tDur}, tDur}},
	"timestamp": {{[]attribute.Type{tStr}, tTime}, {[]attribute.Type{tTime}, tTime}},
	"size":      {{[]attribute.Type{tStr}, tInt}},
	// String extensions (cel-go's ext.Strings, which Mixer's CEL had).
	"indexOf":     {{[]attribute.Type{tStr, tStr}, tInt}, {[]attribute.Type{tStr, tStr, tInt}, tInt}},
	"lastIndexOf": {{[]attribute.Type{tStr, tStr}, tInt}, {[]attribute.Type{tStr, tStr, tInt}, tInt}},
	"substring":   {{[]attribute.Type{tStr, tInt}, tStr}, {[]attribute.Type{tStr, tInt, tInt}, tStr}},
	"replace":     {{[]attribute.Type{tStr, tStr, tStr}, tStr}, {[]attribute.Type{tStr, tStr, tStr, tInt}, tStr}},
}

func init() {
	// The parts of a timestamp (in UTC or the time zone given) and the
	// whole hours, minutes, seconds or milliseconds of a duration.
	for name := range celTimeParts {
		celOverloads[name] = []celOverload{{[]attribute.Type{tTime}, tInt}, {[]attribute.Type{tTime, tStr}, tInt}}
		celMethods[name] = true
	}
	for _, name := range []string{"getHours", "getMinutes", "getSeconds", "getMilliseconds"} {
		celOverloads[name] = append(celOverloads[name], celOverload{[]attribute.Type{tDur}, tInt})
	}
}

// celMethods are the functions called on a value (x.f(…)); the value is the
// first argument of the signature. matches and size may be called either way.
var celMethods = map[string]bool{
	"startsWith": true, "endsWith": true, "contains": true, "matches": true, "size": true, "reverse": true,
	"charAt": true, "indexOf": true, "lastIndexOf": true, "lowerAscii": true, "upperAscii": true,
	"replace": true, "substring": true, "trim": true,
}

// celBuiltins are CEXL's functions and the fixed signatures CEL adds; the
// operators and functions whose signature varies are in celOverloads.
var celBuiltins = func() map[string]*funcMeta {
	m := maps.Clone(builtins)
	m["reverse"] = &funcMeta{ret: tStr, args: []attribute.Type{tStr}} // or s.reverse()
	m["NOT"] = &funcMeta{ret: tBool, args: []attribute.Type{tBool}}
	m["IN"] = &funcMeta{ret: tBool, args: []attribute.Type{tStr, tMap}}
	m["HAS"] = &funcMeta{ret: tBool, args: []attribute.Type{tT}}
	m["MAP"] = &funcMeta{ret: tMap, args: []attribute.Type{}}
	m["contains"] = &funcMeta{instance: true, targetType: tStr, ret: tBool, args: []attribute.Type{tStr}}
	m["charAt"] = &funcMeta{instance: true, targetType: tStr, ret: tStr, args: []attribute.Type{tInt}}
	m["lowerAscii"] = &funcMeta{instance: true, targetType: tStr, ret: tStr, args: []attribute.Type{}}
	m["upperAscii"] = &funcMeta{instance: true, targetType: tStr, ret: tStr, args: []attribute.Type{}}
	m["trim"] = &funcMeta{instance: true, targetType: tStr, ret: tStr, args: []attribute.Type{}}
	delete(m, "toMilliseconds") // an extension of our CEXL, not a CEL function
	return m
}()

// celOpNames are CEL's names of operators, which its errors print.
var celOpNames = map[string]string{
	"EQ": "_==_", "NEQ": "_!=_", "LT": "_<_", "LEQ": "_<=_", "GT": "_>_", "GEQ": "_>=_",
	"LOR": "_||_", "LAND": "_&&_", "INDEX": "_[_]", "IN": "@in", "NOT": "!_", "NEG": "-_",
	"ADD": "_+_", "SUB": "_-_", "MUL": "_*_", "QUO": "_/_", "REM": "_%_", "conditional": "_?_:_",
	"OR": "pick", "HAS": "has",
}

func celOpName(fn string) string {
	if s, ok := celOpNames[fn]; ok {
		return s
	}
	return fn
}

// inListErr is the error of x in [a, b, …] whose comparison i failed with
// err. When the comparison itself found no overload and the list's elements
// have one type, x's is the other one: the error names CEL's `in` and the
// list's type, as cel-go's does. Otherwise it is err.
func (c *checker) inListErr(n *node, i int, err error) error {
	x, e := n.args[i].args[0], n.args[i].args[1]
	if x.typ == 0 || e.typ == 0 || x.typ == e.typ {
		return err // an operand failed, or not for want of an overload
	}
	for _, a := range n.args[i+1:] {
		if t, elemErr := c.check(a.args[1]); elemErr != nil || t != e.typ {
			return err
		}
	}
	for _, a := range n.args[:i] {
		if a.args[1].typ != e.typ {
			return err
		}
	}
	return c.errorf(n, "found no matching overload for '@in' applied to '(%s, list(%s))'", celTypeName(x.typ), celTypeName(e.typ))
}

// celTypeName is a type as CEL's errors print it.
func celTypeName(t attribute.Type) string {
	switch t {
	case attribute.TypeString:
		return "string"
	case attribute.TypeInt64:
		return "int"
	case attribute.TypeDouble:
		return "double"
	case attribute.TypeBool:
		return "bool"
	case attribute.TypeTimestamp:
		return "google.protobuf.Timestamp"
	case attribute.TypeDuration:
		return "google.protobuf.Duration"
	case attribute.TypeStringMap:
		return "map(string, string)"
	case attribute.TypeIPAddress:
		return "istio.policy.v1beta1.IPAddress"
	case attribute.TypeDNSName:
		return "istio.policy.v1beta1.DNSName"
	case attribute.TypeEmailAddress:
		return "istio.policy.v1beta1.EmailAddress"
	case attribute.TypeURI:
		return "istio.policy.v1beta1.Uri"
	}
	return t.String()
}

// checkCEL types a call with CEL's rules: exact arity, overloads chosen by
// the argument types, methods only on values. On success the call is left in
// the form the compiler reads: a method's value stays the target for the
// functions CEXL declared as methods, and becomes the first argument for the
// others.
func (c *checker) checkCEL(n *node) (attribute.Type, error) {
	switch n.fn {
	case "MAP": // string constants only (celResolver)
		n.typ = tMap
		return n.typ, nil
	case "GROUP": // a group where a value must be
		return 0, groupErr(c.ps, n)
	case "INLIST": // comparisons made by celResolver
		for i, a := range n.args {
			if _, err := c.check(a); err != nil {
				return 0, c.inListErr(n, i, err)
			}
		}
		n.typ = tBool
		return n.typ, nil
	}
	method := n.target != nil
	if method && !celMethods[n.fn] {
		return 0, c.errorf(n, "found no matching overload for '%s' applied to a value: it is not a method", n.fn)
	}
	if !method && celMethods[n.fn] && n.fn != "size" && n.fn != "reverse" {
		return 0, c.errorf(n, "%s is a method: call it on a value, as in x.%s(…)", n.fn, n.fn)
	}
	args := n.args
	if method {
		args = append([]*node{n.target}, n.args...)
	}
	types := make([]attribute.Type, len(args))
	names := make([]string, len(args))
	group := false
	for i, a := range args {
		if a.kind == kindCall && a.fn == "GROUP" { // no overload takes a group
			group, names[i] = true, a.lit
			continue
		}
		t, err := c.check(a)
		if err != nil {
			return 0, err
		}
		types[i], names[i] = t, celTypeName(t)
	}
	noMatch := func() error {
		return c.errorf(n, "found no matching overload for '%s' applied to '(%s)'", celOpName(n.fn), strings.Join(names, ", "))
	}
	if group {
		return 0, noMatch()
	}
	if ovs, ok := celOverloads[n.fn]; ok {
		for _, ov := range ovs {
			if slices.Equal(ov.args, types) {
				n.target, n.args = nil, args // the compiler reads these as plain calls
				n.typ = ov.ret
				return n.typ, nil
			}
		}
		return 0, noMatch()
	}
	fn, ok := c.funcs[n.fn]
	if !ok {
		return 0, c.errorf(n, "undeclared reference to '%s'", n.fn)
	}
	want := fn.args
	if fn.instance {
		want = append([]attribute.Type{fn.targetType}, fn.args...)
		if !method {
			return 0, noMatch()
		}
	} else if method {
		if n.fn != "reverse" {
			return 0, noMatch()
		}
		n.target, n.args = nil, args
	}
	if len(want) != len(types) {
		return 0, noMatch()
	}
	tmpl := attribute.TypeUnspecified
	for i, w := range want {
		if w == attribute.TypeUnspecified {
			if tmpl == attribute.TypeUnspecified {
				tmpl = types[i]
				continue
			}
			w = tmpl
		}
		if types[i] != w {
			return 0, noMatch()
		}
	}
	n.typ = fn.ret
	if n.typ == attribute.TypeUnspecified {
		n.typ = tmpl
	}
	return n.typ, nil
}
