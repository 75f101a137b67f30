package cexl

import (
	"errors"
	"fmt"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// Compiled expressions are trees of typed closures. A node of static type T
// compiles to an evalFn of T's Go representation; on the left of `|` nodes
// compile to a tryFn, which also reports whether a value was present.
//
//	STRING, DNS_NAME, EMAIL_ADDRESS, URI  string
//	INT64, DURATION                       int64 (DURATION in nanoseconds)
//	DOUBLE                                float64
//	BOOL                                  bool
//	TIMESTAMP                             time.Time
//	IP_ADDRESS                            []byte
//	STRING_MAP                            *attribute.StringMap
type (
	evalFn[T any] func(*attribute.Bag) (T, error)
	tryFn[T any]  func(*attribute.Bag) (T, bool, error)
)

// rep is the Go representation class of a type.
type rep uint8

const (
	repNone rep = iota
	repString
	repInt
	repDouble
	repBool
	repTime
	repIP
	repMap
)

func repOf(t attribute.Type) rep {
	switch t {
	case attribute.TypeString, attribute.TypeDNSName, attribute.TypeEmailAddress, attribute.TypeURI:
		return repString
	case attribute.TypeInt64, attribute.TypeDuration:
		return repInt
	case attribute.TypeDouble:
		return repDouble
	case attribute.TypeBool:
		return repBool
	case attribute.TypeTimestamp:
		return repTime
	case attribute.TypeIPAddress:
		return repIP
	case attribute.TypeStringMap:
		return repMap
	}
	return repNone
}

// lookupErr is Mixer's error for an absent attribute; built once per
// attribute at compile time so failing lookups allocate nothing.
func lookupErr(name string) error { return errors.New("lookup failed: '" + name + "'") }

// convErr is Mixer's error for a present value of the wrong Go type. The
// first four texts are Mixer's; Mixer did not check the others (it handed the
// value on and failed, or misbehaved, later), so those are ours.
func convErr(r rep, v *attribute.Value) error {
	what := "string"
	switch r {
	case repInt:
		what = "integer or duration"
	case repDouble:
		what = "double"
	case repBool:
		what = "bool"
	case repTime:
		what = "TIMESTAMP"
	case repIP:
		what = "IP_ADDRESS"
	case repMap:
		what = "STRING_MAP"
	}
	return fmt.Errorf("error converting value to %s: '%s'", what, v.String())
}

// Strict attribute reads: absent is the error miss, or, where miss is nil
// (COMPAT), the type's default value. Mixer read every string-backed
// type as a Go string and every INT64 or DURATION as an integer, so a
// DURATION value in an INT64 attribute (or the reverse) is accepted.
//
// Reads go through the Bag's typed getters, which look at the slot in place;
// the slow path (absent or wrong type) tells the two apart.

// failRead returns the error for a read that found no value of the wanted
// representation: the conversion error if something else is there, else
// miss (nil for try reads).
func failRead(b *attribute.Bag, id int, r rep, miss error) error {
	if v := b.Peek(id); v != nil {
		return convErr(r, v)
	}
	return miss
}

// getInt reads an INT64 or DURATION slot as an integer.
func getInt(b *attribute.Bag, id int) (int64, bool) {
	if i, ok := b.GetInt64(id); ok {
		return i, true
	}
	d, ok := b.GetDuration(id)
	return int64(d), ok
}

func resolveString(id int, miss error) evalFn[string] {
	return func(b *attribute.Bag) (string, error) {
		if s, ok := b.GetString(id); ok {
			return s, nil
		}
		return "", failRead(b, id, repString, miss)
	}
}

func resolveInt(id int, miss error) evalFn[int64] {
	return func(b *attribute.Bag) (int64, error) {
		if i, ok := getInt(b, id); ok {
			return i, nil
		}
		return 0, failRead(b, id, repInt, miss)
	}
}

func resolveDouble(id int, miss error) evalFn[float64] {
	return func(b *attribute.Bag) (float64, error) {
		if f, ok := b.GetDouble(id); ok {
			return f, nil
		}
		return 0, failRead(b, id, repDouble, miss)
	}
}

func resolveBool(id int, miss error) evalFn[bool] {
	return func(b *attribute.Bag) (bool, error) {
		if v, ok := b.GetBool(id); ok {
			return v, nil
		}
		return false, failRead(b, id, repBool, miss)
	}
}

func resolveTime(id int, miss error, absent time.Time) evalFn[time.Time] {
	return func(b *attribute.Bag) (time.Time, error) {
		if t, ok := b.GetTime(id); ok {
			return t, nil
		}
		return absent, failRead(b, id, repTime, miss)
	}
}

func resolveIP(id int, miss error, absent []byte) evalFn[[]byte] {
	return func(b *attribute.Bag) ([]byte, error) {
		if ip, ok := b.GetBytes(id); ok {
			return ip, nil
		}
		return absent, failRead(b, id, repIP, miss)
	}
}

func resolveMap(id int, miss error) evalFn[*attribute.StringMap] {
	return func(b *attribute.Bag) (*attribute.StringMap, error) {
		if m, ok := b.GetStringMap(id); ok {
			return m, nil
		}
		return nil, failRead(b, id, repMap, miss)
	}
}

// Try reads: absent means "fall through to the right of |"; a present value
// of the wrong type is still an error, as in Mixer.

func tryString(id int) tryFn[string] {
	return func(b *attribute.Bag) (string, bool, error) {
		if s, ok := b.GetString(id); ok {
			return s, true, nil
		}
		return "", false, failRead(b, id, repString, nil)
	}
}

func tryInt(id int) tryFn[int64] {
	return func(b *attribute.Bag) (int64, bool, error) {
		if i, ok := getInt(b, id); ok {
			return i, true, nil
		}
		return 0, false, failRead(b, id, repInt, nil)
	}
}

func tryDouble(id int) tryFn[float64] {
	return func(b *attribute.Bag) (float64, bool, error) {
		if f, ok := b.GetDouble(id); ok {
			return f, true, nil
		}
		return 0, false, failRead(b, id, repDouble, nil)
	}
}

func tryBool(id int) tryFn[bool] {
	return func(b *attribute.Bag) (bool, bool, error) {
		if v, ok := b.GetBool(id); ok {
			return v, true, nil
		}
		return false, false, failRead(b, id, repBool, nil)
	}
}

func tryTime(id int) tryFn[time.Time] {
	return func(b *attribute.Bag) (time.Time, bool, error) {
		if t, ok := b.GetTime(id); ok {
			return t, true, nil
		}
		return time.Time{}, false, failRead(b, id, repTime, nil)
	}
}

func tryIP(id int) tryFn[[]byte] {
	return func(b *attribute.Bag) ([]byte, bool, error) {
		if ip, ok := b.GetBytes(id); ok {
			return ip, true, nil
		}
		return nil, false, failRead(b, id, repIP, nil)
	}
}

func tryMap(id int) tryFn[*attribute.StringMap] {
	return func(b *attribute.Bag) (*attribute.StringMap, bool, error) {
		if m, ok := b.GetStringMap(id); ok {
			return m, true, nil
		}
		return nil, false, failRead(b, id, repMap, nil)
	}
}

// Generic building blocks.

func constFn[T any](v T) evalFn[T] {
	return func(*attribute.Bag) (T, error) { return v, nil }
}

func errFn[T any](err error) evalFn[T] {
	return func(*attribute.Bag) (T, error) {
		var zero T
		return zero, err
	}
}

func constTry[T any](v T) tryFn[T] {
	return func(*attribute.Bag) (T, bool, error) { return v, true, nil }
}

// present turns a strict evaluation into a try that is always present: on
// the left of `|`, calls, operators and constants never fall through.
func present[T any](f evalFn[T]) tryFn[T] {
	return func(b *attribute.Bag) (T, bool, error) {
		v, err := f(b)
		return v, err == nil, err
	}
}

// orStrict is `t1 | t2 | … | last`: the first present value of the tries,
// else last. When last is a constant it is inlined.
func orStrict[T any](tries []tryFn[T], last evalFn[T], lastConst *T) evalFn[T] {
	if len(tries) == 1 {
		t := tries[0]
		if lastConst != nil {
			c := *lastConst
			return func(b *attribute.Bag) (T, error) {
				v, ok, err := t(b)
				if ok || err != nil {
					return v, err
				}
				return c, nil
			}
		}
		return func(b *attribute.Bag) (T, error) {
			v, ok, err := t(b)
			if ok || err != nil {
				return v, err
			}
			return last(b)
		}
	}
	if lastConst != nil {
		c := *lastConst
		return func(b *attribute.Bag) (T, error) {
			for _, t := range tries {
				if v, ok, err := t(b); ok || err != nil {
					return v, err
				}
			}
			return c, nil
		}
	}
	return func(b *attribute.Bag) (T, error) {
		for _, t := range tries {
			if v, ok, err := t(b); ok || err != nil {
				return v, err
			}
		}
		return last(b)
	}
}

// orTry is a `|` chain that itself sits on the left of `|` (or is the target
// of an index there): every operand may fall through.
func orTry[T any](tries []tryFn[T]) tryFn[T] {
	return func(b *attribute.Bag) (T, bool, error) {
		for _, t := range tries {
			if v, ok, err := t(b); ok || err != nil {
				return v, ok, err
			}
		}
		var zero T
		return zero, false, nil
	}
}

// conditional evaluates only the branch it picks. Constant branches are
// inlined.
func conditional[T any](cond evalFn[bool], x, y evalFn[T], xc, yc *T) evalFn[T] {
	if xc != nil && yc != nil {
		a, b := *xc, *yc
		return func(bag *attribute.Bag) (T, error) {
			c, err := cond(bag)
			if err != nil {
				var zero T
				return zero, err
			}
			if c {
				return a, nil
			}
			return b, nil
		}
	}
	return func(bag *attribute.Bag) (T, error) {
		c, err := cond(bag)
		if err != nil {
			var zero T
			return zero, err
		}
		if c {
			return x(bag)
		}
		return y(bag)
	}
}

// compare2 evaluates both operands, left first, and combines them.
func compare2[A any](x, y evalFn[A], f func(A, A) bool) evalFn[bool] {
	return func(b *attribute.Bag) (bool, error) {
		l, err := x(b)
		if err != nil {
			return false, err
		}
		r, err := y(b)
		if err != nil {
			return false, err
		}
		return f(l, r), nil
	}
}

// compare2E is compare2 for comparisons that can fail (DNS, e-mail, URI).
func compare2E[A any](x, y evalFn[A], f func(A, A) (bool, error), negate bool) evalFn[bool] {
	return combine2(x, y, func(l, r A) (bool, error) {
		eq, err := f(l, r)
		return eq != negate && err == nil, err
	})
}

// combine2 evaluates both operands, left first, and combines them with an
// operation that can fail.
func combine2[A, B, R any](x evalFn[A], y evalFn[B], op func(l A, r B) (R, error)) evalFn[R] {
	return func(b *attribute.Bag) (R, error) {
		var zero R
		l, err := x(b)
		if err != nil {
			return zero, err
		}
		r, err := y(b)
		if err != nil {
			return zero, err
		}
		return op(l, r)
	}
}
