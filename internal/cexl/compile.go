package cexl

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

type (
	strFn  = evalFn[string]
	intFn  = evalFn[int64]
	dblFn  = evalFn[float64]
	boolFn = evalFn[bool]
	timeFn = evalFn[time.Time]
	ipFn   = evalFn[[]byte]
	mapFn  = evalFn[*attribute.StringMap]
)

// compiler turns a checked tree into closures. Like Mixer's IL generator it
// keeps going after an error and reports the first one in evaluation order,
// so expressions with several problems report the same one Mixer did.
type compiler struct {
	ps     *parseState
	err    *CompileError
	compat bool // CEL's semantics and functions: COMPAT and CEL (see doc.go)
}

// epoch is the value an absent TIMESTAMP attribute reads as in COMPAT.
var epoch = time.Unix(0, 0).UTC()

// miss is the error for reading attribute n when it is absent: Mixer's
// "lookup failed", or nil in COMPAT, where it reads as its type's default.
func (c *compiler) miss(n *node) error {
	if c.compat {
		return nil
	}
	return lookupErr(n.name)
}

// topLevel reports whether n is an attribute whose name has no dot. COMPAT
// modelled dotted names as fields of messages, whose presence `|` tests; an
// undotted one has no presence and always counts as set.
func topLevel(n *node) bool { return n.kind == kindVar && !strings.Contains(n.name, ".") }

func (c *compiler) fail(n *node, format string, args ...any) {
	c.failf(n, "internal compiler error -- "+format, args...)
}

// failf records a compile error without Mixer's internal-error prefix.
func (c *compiler) failf(n *node, format string, args ...any) {
	if c.err == nil {
		c.err = c.ps.errorAt(n.pos, fmt.Sprintf(format, args...))
	}
}

// ilName is the name of Mixer's IL type for t, which its compiler errors
// print ("Add for type not yet implemented: bool").
func ilName(t attribute.Type) string {
	switch t {
	case attribute.TypeString, attribute.TypeDNSName, attribute.TypeEmailAddress, attribute.TypeURI:
		return "string"
	case attribute.TypeInt64:
		return "integer"
	case attribute.TypeDuration:
		return "duration"
	case attribute.TypeDouble:
		return "double"
	case attribute.TypeBool:
		return "bool"
	case attribute.TypeTimestamp, attribute.TypeIPAddress, attribute.TypeStringMap:
		return "interface"
	}
	return "unknown"
}

// placeholder returns a closure of the right Go type for a node that failed
// to compile, so compilation can continue to find the first error.
func placeholder(t attribute.Type) any {
	err := fmt.Errorf("expression failed to compile")
	switch repOf(t) {
	case repString:
		return errFn[string](err)
	case repInt:
		return errFn[int64](err)
	case repDouble:
		return errFn[float64](err)
	case repTime:
		return errFn[time.Time](err)
	case repIP:
		return errFn[[]byte](err)
	case repMap:
		return errFn[*attribute.StringMap](err)
	}
	return errFn[bool](err)
}

// Typed views of strict().
func (c *compiler) strOf(n *node) strFn   { return c.strict(n).(strFn) }
func (c *compiler) intOf(n *node) intFn   { return c.strict(n).(intFn) }
func (c *compiler) boolOf(n *node) boolFn { return c.strict(n).(boolFn) }
func (c *compiler) mapOf(n *node) mapFn   { return c.strict(n).(mapFn) }

// constOf returns a pointer to the value of a constant node of Go type T, or
// nil when n is not a constant.
func constOf[T any](n *node) *T {
	if n.kind != kindConst {
		return nil
	}
	var v any
	switch repOf(n.typ) {
	case repString:
		v = n.sval
	case repInt:
		v = n.ival
	case repDouble:
		v = n.fval
	case repBool:
		v = n.bval
	}
	if t, ok := v.(T); ok {
		return &t
	}
	return nil
}

// strict compiles n for a context that needs its value: absent attributes
// are errors. The result is an evalFn of n's representation.
func (c *compiler) strict(n *node) any {
	switch n.kind {
	case kindConst:
		switch repOf(n.typ) {
		case repString:
			return constFn(n.sval)
		case repInt:
			return constFn(n.ival)
		case repDouble:
			return constFn(n.fval)
		default:
			return constFn(n.bval)
		}
	case kindVar:
		switch repOf(n.typ) {
		case repString:
			return resolveString(n.id, c.miss(n))
		case repInt:
			return resolveInt(n.id, c.miss(n))
		case repDouble:
			return resolveDouble(n.id, c.miss(n))
		case repBool:
			return resolveBool(n.id, c.miss(n))
		case repTime:
			if c.compat {
				return resolveTime(n.id, nil, epoch)
			}
			return resolveTime(n.id, c.miss(n), time.Time{})
		case repIP:
			if c.compat {
				return resolveIP(n.id, nil, []byte{})
			}
			return resolveIP(n.id, c.miss(n), nil)
		case repMap:
			return resolveMap(n.id, c.miss(n))
		}
		c.fail(n, "unhandled expression type: '%v'", n.typ)
		return placeholder(n.typ)
	}
	if c.compat {
		if f := c.celOperator(n); f != nil {
			return f
		}
	}
	switch n.fn {
	case "EQ", "NEQ":
		return c.equality(n, n.fn == "NEQ")
	case "LT", "LEQ", "GT", "GEQ":
		return c.ordering(n)
	case "LOR", "LAND":
		return c.logical(n, n.fn == "LOR")
	case "OR":
		return c.orStrict(n)
	case "INDEX":
		return c.indexStrict(n)
	case "conditional":
		return c.conditional(n)
	case "ADD":
		return c.add(n)
	case "NOT", "NEG", "SUB", "MUL", "QUO", "REM": // COMPAT and CEL only
		return c.arith(n)
	}
	return c.extern(n)
}

// try compiles n for the left of `|`: a tryFn that reports absence instead
// of failing. Only attributes, map lookups and nested `|` can be absent;
// everything else is evaluated strictly and always counts as present. In
// COMPAT an undotted attribute is one of those others, and a map lookup is
// absent only when its key is missing.
func (c *compiler) try(n *node) any {
	switch {
	case n.kind == kindVar && !(c.compat && topLevel(n)):
		switch repOf(n.typ) {
		case repString:
			return tryString(n.id)
		case repInt:
			return tryInt(n.id)
		case repDouble:
			return tryDouble(n.id)
		case repBool:
			return tryBool(n.id)
		case repTime:
			return tryTime(n.id)
		case repIP:
			return tryIP(n.id)
		case repMap:
			return tryMap(n.id)
		}
	case n.kind == kindCall && n.fn == "OR":
		return c.orTry(n)
	case n.kind == kindCall && n.fn == "INDEX":
		return c.indexTry(n)
	}
	switch f := c.strict(n).(type) {
	case strFn:
		if v := constOf[string](n); v != nil {
			return constTry(*v)
		}
		return present(f)
	case intFn:
		if v := constOf[int64](n); v != nil {
			return constTry(*v)
		}
		return present(f)
	case dblFn:
		return present(f)
	case boolFn:
		if v := constOf[bool](n); v != nil {
			return constTry(*v)
		}
		return present(f)
	case timeFn:
		return present(f)
	case ipFn:
		return present(f)
	case mapFn:
		return present(f)
	}
	panic("cexl: unreachable: untyped closure")
}

// orOperands compiles a `|` chain. Operands on the left are tries; the last
// one is strict unless the whole chain is itself being tried. A chain nested
// on the right (`a | (b | c)`) is flattened, so its last operand is the
// chain's last.
func (c *compiler) orOperands(n *node, tries *[]any) (last *node) {
	left, right := n.args[0], n.args[1]
	c.collectTries(left, tries)
	if right.kind == kindCall && right.fn == "OR" {
		return c.orOperands(right, tries)
	}
	return right
}

func (c *compiler) collectTries(n *node, tries *[]any) {
	if n.kind == kindCall && n.fn == "OR" {
		c.collectTries(n.args[0], tries)
		c.collectTries(n.args[1], tries)
		return
	}
	*tries = append(*tries, c.try(n))
}

func (c *compiler) orStrict(n *node) any {
	if f := c.orAttrDefault(n); f != nil {
		return f
	}
	var tries []any
	last := c.orOperands(n, &tries)
	switch repOf(n.typ) {
	case repString:
		return orStrict(castAll[tryFn[string]](tries), c.strict(last).(strFn), constOf[string](last))
	case repInt:
		return orStrict(castAll[tryFn[int64]](tries), c.strict(last).(intFn), constOf[int64](last))
	case repDouble:
		return orStrict(castAll[tryFn[float64]](tries), c.strict(last).(dblFn), constOf[float64](last))
	case repBool:
		return orStrict(castAll[tryFn[bool]](tries), c.strict(last).(boolFn), constOf[bool](last))
	case repTime:
		return orStrict(castAll[tryFn[time.Time]](tries), c.strict(last).(timeFn), nil)
	case repIP:
		return orStrict(castAll[tryFn[[]byte]](tries), c.strict(last).(ipFn), nil)
	case repMap:
		return orStrict(castAll[tryFn[*attribute.StringMap]](tries), c.strict(last).(mapFn), nil)
	}
	c.fail(n, "unhandled expression type: '%v'", n.typ)
	return placeholder(n.typ)
}

// orAttrDefault specialises `attr | constant` for strings and integers, the
// most common expression of Istio configs, into a single closure.
func (c *compiler) orAttrDefault(n *node) any {
	x, y := n.args[0], n.args[1]
	if x.kind != kindVar || y.kind != kindConst || (c.compat && topLevel(x)) {
		return nil
	}
	id := x.id
	switch repOf(n.typ) {
	case repString:
		def := y.sval
		return strFn(func(b *attribute.Bag) (string, error) {
			if s, ok := b.GetString(id); ok {
				return s, nil
			}
			return def, failRead(b, id, repString, nil)
		})
	case repInt:
		def := y.ival
		return intFn(func(b *attribute.Bag) (int64, error) {
			if i, ok := getInt(b, id); ok {
				return i, nil
			}
			return def, failRead(b, id, repInt, nil)
		})
	}
	return nil
}

func (c *compiler) orTry(n *node) any {
	var tries []any
	c.collectTries(n, &tries)
	switch repOf(n.typ) {
	case repString:
		return orTry(castAll[tryFn[string]](tries))
	case repInt:
		return orTry(castAll[tryFn[int64]](tries))
	case repDouble:
		return orTry(castAll[tryFn[float64]](tries))
	case repBool:
		return orTry(castAll[tryFn[bool]](tries))
	case repTime:
		return orTry(castAll[tryFn[time.Time]](tries))
	case repIP:
		return orTry(castAll[tryFn[[]byte]](tries))
	case repMap:
		return orTry(castAll[tryFn[*attribute.StringMap]](tries))
	}
	c.fail(n, "unhandled expression type: '%v'", n.typ)
	return constTry(false)
}

func castAll[T any](xs []any) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = x.(T)
	}
	return out
}

// indexStrict is m[k] outside `|`: m and k must be present, a missing key
// reads as "" (in COMPAT: an absent map is empty, and a missing key is an
// error).
func (c *compiler) indexStrict(n *node) any {
	target, key := n.args[0], n.args[1]
	missingKey := noSuchKey
	if n.lit == "literal" { // CEL's map literals
		missingKey = func(k string) error { return fmt.Errorf("no such key: %s", k) }
	}
	if target.kind == kindVar && key.kind == kindConst && target.typ == attribute.TypeStringMap {
		id, k, miss := target.id, key.sval, c.miss(target)
		var noKey error
		if c.compat {
			noKey = missingKey(k)
		}
		return strFn(func(b *attribute.Bag) (string, error) {
			m, ok := b.GetStringMap(id)
			if !ok {
				if err := failRead(b, id, repMap, miss); err != nil || noKey == nil {
					return "", err
				}
			}
			s, ok := m.Get(k)
			if !ok {
				return "", noKey
			}
			return s, nil
		})
	}
	m, k := c.mapOf(target), c.strOf(key)
	compat := c.compat
	return strFn(func(b *attribute.Bag) (string, error) {
		sm, err := m(b)
		if err != nil {
			return "", err
		}
		key, err := k(b)
		if err != nil {
			return "", err
		}
		s, ok := sm.Get(key)
		if !ok && compat {
			return "", missingKey(key)
		}
		return s, nil
	})
}

// noSuchKey is COMPAT's error for a missing map key.
func noSuchKey(k string) error { return fmt.Errorf("no such key: '%s'", k) }

// indexTry is m[k] on the left of `|`: an absent map, an absent key
// attribute or a missing key all fall through.
func (c *compiler) indexTry(n *node) any {
	target, key := n.args[0], n.args[1]
	if c.compat {
		// `"k" in m ? m["k"] : …`: the map and the key are read as
		// anywhere else; only a missing key falls through.
		m, k := c.mapOf(target), c.strOf(key)
		return tryFn[string](func(b *attribute.Bag) (string, bool, error) {
			sm, err := m(b)
			if err != nil {
				return "", false, err
			}
			key, err := k(b)
			if err != nil {
				return "", false, err
			}
			s, ok := sm.Get(key)
			return s, ok, nil
		})
	}
	if target.kind == kindVar && key.kind == kindConst && target.typ == attribute.TypeStringMap {
		id, k := target.id, key.sval
		return tryFn[string](func(b *attribute.Bag) (string, bool, error) {
			m, ok := b.GetStringMap(id)
			if !ok {
				return "", false, failRead(b, id, repMap, nil)
			}
			s, ok := m.Get(k)
			return s, ok, nil
		})
	}
	m := c.try(target).(tryFn[*attribute.StringMap])
	var k tryFn[string]
	if key.kind == kindConst {
		k = constTry(key.sval)
	} else {
		k = c.try(key).(tryFn[string])
	}
	return tryFn[string](func(b *attribute.Bag) (string, bool, error) {
		sm, ok, err := m(b)
		if !ok || err != nil {
			return "", false, err
		}
		key, ok, err := k(b)
		if !ok || err != nil {
			return "", false, err
		}
		s, ok := sm.Get(key)
		return s, ok, nil
	})
}

func (c *compiler) conditional(n *node) any {
	cond, x, y := c.boolOf(n.args[0]), n.args[1], n.args[2]
	switch repOf(n.typ) {
	case repString:
		return conditional(cond, c.strict(x).(strFn), c.strict(y).(strFn), constOf[string](x), constOf[string](y))
	case repInt:
		return conditional(cond, c.strict(x).(intFn), c.strict(y).(intFn), constOf[int64](x), constOf[int64](y))
	case repDouble:
		return conditional(cond, c.strict(x).(dblFn), c.strict(y).(dblFn), constOf[float64](x), constOf[float64](y))
	case repBool:
		return conditional(cond, c.strict(x).(boolFn), c.strict(y).(boolFn), constOf[bool](x), constOf[bool](y))
	case repTime:
		return conditional(cond, c.strict(x).(timeFn), c.strict(y).(timeFn), nil, nil)
	case repIP:
		return conditional(cond, c.strict(x).(ipFn), c.strict(y).(ipFn), nil, nil)
	case repMap:
		return conditional(cond, c.strict(x).(mapFn), c.strict(y).(mapFn), nil, nil)
	}
	c.fail(n, "unhandled expression type: '%v'", n.typ)
	return placeholder(n.typ)
}

func (c *compiler) logical(n *node, or bool) any {
	x, y := c.boolOf(n.args[0]), c.boolOf(n.args[1])
	if c.compat {
		// CEL's: an operand that decides the result wins over an error
		// in the other one (false && error is false, error || true is true).
		return boolFn(func(b *attribute.Bag) (bool, error) {
			l, lerr := x(b)
			if lerr == nil && l == or {
				return l, nil
			}
			r, rerr := y(b)
			switch {
			case rerr == nil && r == or:
				return r, nil
			case lerr != nil:
				return false, lerr
			}
			return r, rerr
		})
	}
	return boolFn(func(b *attribute.Bag) (bool, error) {
		l, err := x(b)
		if err != nil || l == or { // short circuit: true for ||, false for &&
			return l, err
		}
		return y(b)
	})
}

// equality compiles == and != by operand type. DOUBLE compares bit patterns,
// as Mixer's IL did (so NaN == NaN and 0.0 != -0.0).
func (c *compiler) equality(n *node, negate bool) any {
	x, y := n.args[0], n.args[1]
	t := x.typ
	switch t {
	case attribute.TypeString:
		if k := constOf[string](y); k != nil {
			return eqStringConst(c, x, *k, negate)
		}
		return compare2(c.strOf(x), c.strOf(y), func(a, b string) bool { return (a == b) != negate })
	case attribute.TypeDNSName:
		return compare2E(c.strOf(x), c.strOf(y), dnsNameEqual, negate)
	case attribute.TypeEmailAddress:
		return compare2E(c.strOf(x), c.strOf(y), emailEqual, negate)
	case attribute.TypeURI:
		return compare2E(c.strOf(x), c.strOf(y), uriEqual, negate)
	case attribute.TypeInt64:
		if k := constOf[int64](y); k != nil {
			f, kv := c.intOf(x), *k
			return boolFn(func(b *attribute.Bag) (bool, error) {
				v, err := f(b)
				return (v == kv) != negate && err == nil, err
			})
		}
		return compare2(c.intOf(x), c.intOf(y), func(a, b int64) bool { return (a == b) != negate })
	case attribute.TypeDouble:
		return compare2(c.strict(x).(dblFn), c.strict(y).(dblFn), func(a, b float64) bool {
			return (math.Float64bits(a) == math.Float64bits(b)) != negate
		})
	case attribute.TypeBool:
		if k := constOf[bool](y); k != nil {
			f, want := c.boolOf(x), *k != negate
			return boolFn(func(b *attribute.Bag) (bool, error) {
				v, err := f(b)
				return v == want && err == nil, err
			})
		}
		return compare2(c.boolOf(x), c.boolOf(y), func(a, b bool) bool { return (a == b) != negate })
	case attribute.TypeIPAddress:
		return compare2(c.strict(x).(ipFn), c.strict(y).(ipFn), func(a, b []byte) bool { return ipEqual(a, b) != negate })
	case attribute.TypeTimestamp:
		return compare2(c.strict(x).(timeFn), c.strict(y).(timeFn), func(a, b time.Time) bool { return a.Equal(b) != negate })
	case attribute.TypeDuration:
		if c.compat { // CEL compares durations; Mixer's IL could not
			return compare2(c.intOf(x), c.intOf(y), func(a, b int64) bool { return (a == b) != negate })
		}
	}
	// Mixer generated both operands before giving up on the type.
	c.strict(x)
	c.strict(y)
	c.fail(n, "equality for type not yet implemented: %s", ilName(t))
	return placeholder(attribute.TypeBool)
}

// eqStringConst is `x == "k"`, the most common rule condition; an attribute
// on the left is read in place.
func eqStringConst(c *compiler, x *node, k string, negate bool) boolFn {
	if x.kind == kindVar {
		id, miss := x.id, c.miss(x)
		return func(b *attribute.Bag) (bool, error) {
			s, ok := b.GetString(id)
			if !ok {
				if err := failRead(b, id, repString, miss); err != nil {
					return false, err
				}
				// COMPAT: absent reads as "".
			}
			return (s == k) != negate, nil
		}
	}
	f := c.strOf(x)
	return func(b *attribute.Bag) (bool, error) {
		v, err := f(b)
		return (v == k) != negate && err == nil, err
	}
}

var orderingNames = map[string]string{
	"LT": "less than", "LEQ": "less or equal", "GT": "greater than", "GEQ": "greater or equal",
}

// ordering compiles < <= > >= for strings (byte order; DNS_NAME, EMAIL and
// URI included, as in Mixer), INT64, DOUBLE and TIMESTAMP.
func (c *compiler) ordering(n *node) any {
	x, y := n.args[0], n.args[1]
	switch repOf(x.typ) {
	case repString:
		return compare2(c.strOf(x), c.strOf(y), orderFunc[string](n.fn))
	case repInt:
		if x.typ == attribute.TypeInt64 || c.compat {
			return compare2(c.intOf(x), c.intOf(y), orderFunc[int64](n.fn))
		}
	case repDouble:
		return compare2(c.strict(x).(dblFn), c.strict(y).(dblFn), orderFunc[float64](n.fn))
	case repTime:
		var f func(a, b time.Time) bool
		switch n.fn {
		case "LT":
			f = func(a, b time.Time) bool { return a.Before(b) }
		case "LEQ":
			f = func(a, b time.Time) bool { return !a.After(b) }
		case "GT":
			f = func(a, b time.Time) bool { return a.After(b) }
		default:
			f = func(a, b time.Time) bool { return !a.Before(b) }
		}
		return compare2(c.strict(x).(timeFn), c.strict(y).(timeFn), f)
	}
	c.strict(x)
	c.strict(y)
	c.fail(n, "%s for type not yet implemented: %s", orderingNames[n.fn], ilName(x.typ))
	return placeholder(attribute.TypeBool)
}

func orderFunc[T int64 | float64 | string](op string) func(a, b T) bool {
	switch op {
	case "LT":
		return func(a, b T) bool { return a < b }
	case "LEQ":
		return func(a, b T) bool { return a <= b }
	case "GT":
		return func(a, b T) bool { return a > b }
	}
	return func(a, b T) bool { return a >= b }
}

// add is `+`: concatenation, wrapping integer addition, float addition.
func (c *compiler) add(n *node) any {
	x, y := n.args[0], n.args[1]
	switch repOf(x.typ) {
	case repString:
		f, g := c.strOf(x), c.strOf(y)
		return strFn(func(b *attribute.Bag) (string, error) {
			l, err := f(b)
			if err != nil {
				return "", err
			}
			r, err := g(b)
			if err != nil {
				return "", err
			}
			return l + r, nil
		})
	case repInt:
		if x.typ == attribute.TypeInt64 {
			f, g := c.intOf(x), c.intOf(y)
			return intFn(func(b *attribute.Bag) (int64, error) {
				l, err := f(b)
				if err != nil {
					return 0, err
				}
				r, err := g(b)
				return l + r, err
			})
		}
	case repDouble:
		f, g := c.strict(x).(dblFn), c.strict(y).(dblFn)
		return dblFn(func(b *attribute.Bag) (float64, error) {
			l, err := f(b)
			if err != nil {
				return 0, err
			}
			r, err := g(b)
			return l + r, err
		})
	}
	c.strict(x)
	c.strict(y)
	c.fail(n, "Add for type not yet implemented: %s", ilName(x.typ))
	return placeholder(n.typ)
}

// arith compiles COMPAT's !, unary -, and binary -, *, / and % with CEL's
// semantics: integer division and modulus by zero fail, integers otherwise
// wrap like `+`, doubles follow IEEE 754.
func (c *compiler) arith(n *node) any {
	x := n.args[0]
	switch {
	case n.fn == "NOT":
		f := c.boolOf(x)
		return boolFn(func(b *attribute.Bag) (bool, error) {
			v, err := f(b)
			return !v && err == nil, err
		})
	case n.fn == "NEG" && x.typ == attribute.TypeInt64:
		f := c.intOf(x)
		return intFn(func(b *attribute.Bag) (int64, error) {
			v, err := f(b)
			return -v, err
		})
	case n.fn == "NEG" && x.typ == attribute.TypeDouble:
		f := c.strict(x).(dblFn)
		return dblFn(func(b *attribute.Bag) (float64, error) {
			v, err := f(b)
			return -v, err
		})
	case n.fn != "NEG" && x.typ == attribute.TypeInt64:
		return combine2(c.intOf(x), c.intOf(n.args[1]), intOp(n.fn))
	case n.fn != "NEG" && n.fn != "REM" && x.typ == attribute.TypeDouble:
		return combine2(c.strict(x).(dblFn), c.strict(n.args[1]).(dblFn), doubleOp(n.fn))
	}
	types := make([]string, len(n.args))
	for i, a := range n.args {
		types[i] = celTypeName(a.typ)
	}
	// checkCEL refuses these first; kept so a gap between the two cannot panic.
	c.failf(n, "found no matching overload for '%s' applied to '(%s)'", celOpName(n.fn), strings.Join(types, ", "))
	return placeholder(n.typ)
}

func intOp(fn string) func(l, r int64) (int64, error) {
	switch fn {
	case "SUB":
		return func(l, r int64) (int64, error) { return l - r, nil }
	case "MUL":
		return func(l, r int64) (int64, error) { return l * r, nil }
	case "QUO":
		return func(l, r int64) (int64, error) {
			if r == 0 {
				return 0, errDivideByZero
			}
			return l / r, nil // MinInt64 / -1 wraps to MinInt64, as in Go
		}
	}
	return func(l, r int64) (int64, error) {
		if r == 0 {
			return 0, errModulusByZero
		}
		return l % r, nil
	}
}

func doubleOp(fn string) func(l, r float64) (float64, error) {
	switch fn {
	case "SUB":
		return func(l, r float64) (float64, error) { return l - r, nil }
	case "MUL":
		return func(l, r float64) (float64, error) { return l * r, nil }
	}
	return func(l, r float64) (float64, error) { return l / r, nil }
}

var (
	errDivideByZero  = errors.New("divide by zero")
	errModulusByZero = errors.New("modulus by zero")
)

// extern compiles the named functions. Arguments are evaluated target first,
// then left to right, all strictly; arguments beyond the declared ones are
// ignored. Conversions of constants are done once here; a constant that does
// not convert still fails only when evaluated, as in Mixer.
func (c *compiler) extern(n *node) any {
	if c.compat {
		if f := c.celExtern(n); f != nil {
			return f
		}
	}
	arg := func(i int) *node { return n.args[i] }
	switch n.fn {
	case "size":
		length := func(s string) int64 { return int64(len(s)) }
		if c.compat {
			length = func(s string) int64 { return int64(utf8.RuneCountInString(s)) } // CEL counts code points
		}
		if k := constOf[string](arg(0)); k != nil {
			return constFn(length(*k))
		}
		f := c.strOf(arg(0))
		return intFn(func(b *attribute.Bag) (int64, error) {
			s, err := f(b)
			return length(s), err
		})
	case "reverse": // COMPAT and CEL only
		f := c.strOf(arg(0))
		return strFn(func(b *attribute.Bag) (string, error) {
			s, err := f(b)
			return reverseRunes(s), err
		})
	case "toLower":
		if k := constOf[string](arg(0)); k != nil {
			return constFn(strings.ToLower(*k))
		}
		f := c.strOf(arg(0))
		return strFn(func(b *attribute.Bag) (string, error) {
			s, err := f(b)
			return strings.ToLower(s), err
		})
	case "grpcToHttp":
		return convert(c, arg(0), grpcToHTTP)
	case "ip":
		return convert(c, arg(0), toIP)
	case "timestamp":
		return convert(c, arg(0), toTimestamp)
	case "dnsName":
		return convert(c, arg(0), toDNSName)
	case "email":
		return convert(c, arg(0), toEmail)
	case "uri":
		return convert(c, arg(0), toURI)
	case "emptyStringMap":
		return constFn[*attribute.StringMap](nil) // a nil map reads as empty
	case "conditionalString":
		cond, x, y := c.boolOf(arg(0)), c.strOf(arg(1)), c.strOf(arg(2))
		return strFn(func(b *attribute.Bag) (string, error) {
			cv, err := cond(b)
			if err != nil {
				return "", err
			}
			l, err := x(b)
			if err != nil {
				return "", err
			}
			r, err := y(b)
			if err != nil {
				return "", err
			}
			if cv {
				return l, nil
			}
			return r, nil
		})
	case "match":
		s := c.strOf(arg(0))
		if k := constOf[string](arg(1)); k != nil {
			return matchConst(s, *k)
		}
		return compare2(s, c.strOf(arg(1)), globMatch)
	case "startsWith":
		return compare2(c.strOf(n.target), c.strOf(arg(0)), strings.HasPrefix)
	case "endsWith":
		return compare2(c.strOf(n.target), c.strOf(arg(0)), strings.HasSuffix)
	case "matches":
		return c.matches(n)
	case "toMilliseconds":
		if k := constOf[int64](arg(0)); k != nil {
			return constFn(nanosToMillis(*k))
		}
		f := c.intOf(arg(0))
		return dblFn(func(b *attribute.Bag) (float64, error) {
			ns, err := f(b)
			return nanosToMillis(ns), err
		})
	}
	c.fail(n, "function not yet implemented: %s", n.fn)
	return placeholder(n.typ)
}

// convert compiles a string→T conversion function.
func convert[T any](c *compiler, a *node, conv func(string) (T, error)) evalFn[T] {
	if k := constOf[string](a); k != nil {
		v, err := conv(*k)
		if err != nil {
			return errFn[T](err)
		}
		return constFn(v)
	}
	return apply(c.strOf(a), conv)
}

// matchConst specialises match() for a constant pattern.
func matchConst(s strFn, pattern string) boolFn {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return func(b *attribute.Bag) (bool, error) {
			v, err := s(b)
			return strings.HasPrefix(v, p) && err == nil, err
		}
	}
	if p, ok := strings.CutPrefix(pattern, "*"); ok {
		return func(b *attribute.Bag) (bool, error) {
			v, err := s(b)
			return strings.HasSuffix(v, p) && err == nil, err
		}
	}
	return func(b *attribute.Bag) (bool, error) {
		v, err := s(b)
		return v == pattern && err == nil, err
	}
}

// matches is `pattern.matches(s)`: the receiver is the regular expression
// (RE2, unanchored). A constant pattern is compiled once; an invalid one
// fails every evaluation, after the argument, as in Mixer. COMPAT took it
// the CEL way round, `s.matches(pattern)`.
func (c *compiler) matches(n *node) any {
	pat, subject := n.target, n.args[0]
	if c.compat {
		pat, subject = subject, pat
	}
	s := c.strOf(subject)
	if k := constOf[string](pat); k != nil {
		re, reErr := regexp.Compile(*k)
		return boolFn(func(b *attribute.Bag) (bool, error) {
			v, err := s(b)
			if err != nil {
				return false, err
			}
			if reErr != nil {
				return false, reErr
			}
			return re.MatchString(v), nil
		})
	}
	p := c.strOf(pat)
	var cache atomic.Pointer[regexp.Regexp] // the last pattern seen, compiled
	match := func(ps, v string) (bool, error) {
		re := cache.Load()
		if re == nil || re.String() != ps {
			var err error
			if re, err = regexp.Compile(ps); err != nil {
				return false, err
			}
			cache.Store(re)
		}
		return re.MatchString(v), nil
	}
	if c.compat { // the receiver, here the subject, is evaluated first
		return combine2(s, p, func(v, ps string) (bool, error) { return match(ps, v) })
	}
	return combine2(p, s, match)
}
