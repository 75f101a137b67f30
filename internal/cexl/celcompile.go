package cexl

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// celOperator compiles the operators CEL adds to COMPAT's: presence (has),
// `in` on maps, map literals, and arithmetic on timestamps and durations.
// It returns nil for everything else.
func (c *compiler) celOperator(n *node) any {
	switch n.fn {
	case "HAS":
		id := n.args[0].id
		return boolFn(func(b *attribute.Bag) (bool, error) { return b.Has(id), nil })
	case "IN":
		return combine2(c.strOf(n.args[0]), c.mapOf(n.args[1]), func(k string, m *attribute.StringMap) (bool, error) {
			_, ok := m.Get(k)
			return ok, nil
		})
	case "INLIST":
		eqs := make([]boolFn, len(n.args))
		for i, a := range n.args {
			eqs[i] = c.boolOf(a)
		}
		return boolFn(func(b *attribute.Bag) (bool, error) {
			found := false
			for _, eq := range eqs {
				v, err := eq(b)
				if err != nil {
					return false, err
				}
				found = found || v
			}
			return found, nil
		})
	case "MAP":
		kv := make([]string, len(n.args))
		for i, a := range n.args {
			kv[i] = a.sval
		}
		return constFn(attribute.NewStringMap(kv...))
	case "ADD", "SUB":
		x, y := n.args[0], n.args[1]
		if x.typ != attribute.TypeDuration && x.typ != attribute.TypeTimestamp {
			return nil
		}
		switch {
		case x.typ == attribute.TypeDuration && y.typ == attribute.TypeDuration:
			op := func(l, r int64) (int64, error) { return l + r, nil }
			if n.fn == "SUB" {
				op = func(l, r int64) (int64, error) { return l - r, nil }
			}
			return combine2(c.intOf(x), c.intOf(y), op)
		case x.typ == attribute.TypeDuration: // duration + timestamp
			return combine2(c.intOf(x), c.strict(y).(timeFn), func(d int64, t time.Time) (time.Time, error) {
				return t.Add(time.Duration(d)), nil
			})
		case y.typ == attribute.TypeDuration:
			sign := int64(1)
			if n.fn == "SUB" {
				sign = -1
			}
			return combine2(c.strict(x).(timeFn), c.intOf(y), func(t time.Time, d int64) (time.Time, error) {
				return t.Add(time.Duration(sign * d)), nil
			})
		default: // timestamp - timestamp
			return combine2(c.strict(x).(timeFn), c.strict(y).(timeFn), func(a, b time.Time) (int64, error) {
				return int64(a.Sub(b)), nil
			})
		}
	}
	return nil
}

// celExtern compiles CEL's conversions and string functions. It returns nil
// for the functions COMPAT already has.
func (c *compiler) celExtern(n *node) any {
	arg := func(i int) *node { return n.args[i] }
	from := func() attribute.Type { return arg(0).typ }
	switch n.fn {
	case "int":
		switch from() {
		case attribute.TypeInt64:
			return c.intOf(arg(0))
		case attribute.TypeDouble:
			return apply(c.strict(arg(0)).(dblFn), doubleToInt)
		case attribute.TypeString:
			return convert(c, arg(0), func(s string) (int64, error) {
				i, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("cannot convert '%s' to int", s)
				}
				return i, nil
			})
		case attribute.TypeTimestamp:
			return apply(c.strict(arg(0)).(timeFn), func(t time.Time) (int64, error) { return t.Unix(), nil })
		}
	case "double":
		switch from() {
		case attribute.TypeDouble:
			return c.strict(arg(0))
		case attribute.TypeInt64:
			return apply(c.intOf(arg(0)), func(i int64) (float64, error) { return float64(i), nil })
		case attribute.TypeString:
			return convert(c, arg(0), func(s string) (float64, error) {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return 0, fmt.Errorf("cannot convert '%s' to double", s)
				}
				return f, nil
			})
		}
	case "string":
		switch from() {
		case attribute.TypeString:
			return c.strOf(arg(0))
		case attribute.TypeInt64:
			return apply(c.intOf(arg(0)), func(i int64) (string, error) { return strconv.FormatInt(i, 10), nil })
		case attribute.TypeDouble:
			return apply(c.strict(arg(0)).(dblFn), func(f float64) (string, error) { return strconv.FormatFloat(f, 'g', -1, 64), nil })
		case attribute.TypeBool:
			return apply(c.boolOf(arg(0)), func(v bool) (string, error) { return strconv.FormatBool(v), nil })
		case attribute.TypeDuration:
			return apply(c.intOf(arg(0)), func(d int64) (string, error) { return durationString(d), nil })
		case attribute.TypeTimestamp:
			return apply(c.strict(arg(0)).(timeFn), func(t time.Time) (string, error) { return t.UTC().Format(time.RFC3339Nano), nil })
		}
	case "duration":
		if from() == attribute.TypeDuration {
			return c.intOf(arg(0))
		}
		return convert(c, arg(0), func(s string) (int64, error) {
			d, err := time.ParseDuration(s)
			if err != nil {
				return 0, fmt.Errorf("invalid duration '%s': %v", s, err)
			}
			return int64(d), nil
		})
	case "timestamp":
		if from() == attribute.TypeTimestamp {
			return c.strict(arg(0))
		}
		return nil // timestamp(string) is COMPAT's
	case "contains":
		return compare2(c.strOf(n.target), c.strOf(arg(0)), strings.Contains)
	case "charAt":
		return combine2(c.strOf(n.target), c.intOf(arg(0)), charAt)
	case "lowerAscii":
		return apply(c.strOf(n.target), func(s string) (string, error) { return mapASCII(s, unicode.ToLower), nil })
	case "upperAscii":
		return apply(c.strOf(n.target), func(s string) (string, error) { return mapASCII(s, unicode.ToUpper), nil })
	case "trim":
		return apply(c.strOf(n.target), func(s string) (string, error) { return strings.TrimSpace(s), nil })
	case "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
		"getHours", "getMinutes", "getSeconds", "getMilliseconds":
		return c.timePart(n)
	case "indexOf", "lastIndexOf":
		search := indexOf
		if n.fn == "lastIndexOf" {
			search = lastIndexOf
		}
		args := c.stringArgs(n, 2)
		return intFn(func(b *attribute.Bag) (int64, error) {
			var s [2]string
			var k [1]int64
			if err := args.eval(b, s[:], k[:]); err != nil {
				return 0, err
			}
			return search(s[0], s[1], k[0], len(args.ints) == 1)
		})
	case "substring":
		args := c.stringArgs(n, 1)
		return strFn(func(b *attribute.Bag) (string, error) {
			var s [1]string
			var k [2]int64
			if err := args.eval(b, s[:], k[:]); err != nil {
				return "", err
			}
			return substring(s[0], k[0], k[1], len(args.ints) == 2)
		})
	case "replace":
		args := c.stringArgs(n, 3)
		return strFn(func(b *attribute.Bag) (string, error) {
			var s [3]string
			k := [1]int64{-1} // all
			if err := args.eval(b, s[:], k[:]); err != nil {
				return "", err
			}
			return strings.Replace(s[0], s[1], s[2], int(max(k[0], -1))), nil
		})
	}
	return nil
}

// celTimeParts are CEL's accessors of a timestamp's parts; months and days
// of the year count from 0, getDate from 1.
var celTimeParts = map[string]func(t time.Time) int64{
	"getFullYear":     func(t time.Time) int64 { return int64(t.Year()) },
	"getMonth":        func(t time.Time) int64 { return int64(t.Month()) - 1 },
	"getDayOfYear":    func(t time.Time) int64 { return int64(t.YearDay()) - 1 },
	"getDayOfMonth":   func(t time.Time) int64 { return int64(t.Day()) - 1 },
	"getDate":         func(t time.Time) int64 { return int64(t.Day()) },
	"getDayOfWeek":    func(t time.Time) int64 { return int64(t.Weekday()) },
	"getHours":        func(t time.Time) int64 { return int64(t.Hour()) },
	"getMinutes":      func(t time.Time) int64 { return int64(t.Minute()) },
	"getSeconds":      func(t time.Time) int64 { return int64(t.Second()) },
	"getMilliseconds": func(t time.Time) int64 { return int64(t.Nanosecond() / 1e6) },
}

// timePart compiles the accessors of timestamps and durations. A constant
// time zone that does not load fails the compilation, so the resource is
// refused by name instead of failing every report.
func (c *compiler) timePart(n *node) any {
	if n.args[0].typ == attribute.TypeDuration {
		unit := map[string]time.Duration{"getHours": time.Hour, "getMinutes": time.Minute, "getSeconds": time.Second, "getMilliseconds": time.Millisecond}[n.fn]
		return apply(c.intOf(n.args[0]), func(d int64) (int64, error) { return d / int64(unit), nil })
	}
	part, t := celTimeParts[n.fn], c.strict(n.args[0]).(timeFn)
	if len(n.args) == 1 {
		return apply(t, func(t time.Time) (int64, error) { return part(t.UTC()), nil })
	}
	if k := constOf[string](n.args[1]); k != nil {
		loc, err := timeZone(*k)
		if err != nil {
			c.failf(n.args[1], "%v", err)
			return placeholder(tInt)
		}
		return apply(t, func(t time.Time) (int64, error) { return part(t.In(loc)), nil })
	}
	return combine2(t, c.strOf(n.args[1]), func(t time.Time, tz string) (int64, error) {
		loc, err := timeZone(tz)
		if err != nil {
			return 0, err
		}
		return part(t.In(loc)), nil
	})
}

// timeZone reads CEL's time zones: an IANA name ("Europe/Paris", "UTC") or
// an offset from UTC ("+05:30", "-08:00").
func timeZone(tz string) (*time.Location, error) {
	if len(tz) == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':' {
		h, herr := strconv.Atoi(tz[1:3])
		m, merr := strconv.Atoi(tz[4:6])
		if herr == nil && merr == nil && h < 24 && m < 60 {
			secs := (h*60 + m) * 60
			if tz[0] == '-' {
				secs = -secs
			}
			return time.FixedZone(tz, secs), nil
		}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone '%s'", tz)
	}
	return loc, nil
}

// celArgs are the compiled arguments of a string extension: leading strings,
// then optional integers.
type celArgs struct {
	strs []strFn
	ints []intFn
}

// stringArgs compiles n's first strs arguments as strings and the rest as
// integers.
func (c *compiler) stringArgs(n *node, strs int) celArgs {
	var a celArgs
	for i, x := range n.args {
		if i < strs {
			a.strs = append(a.strs, c.strOf(x))
		} else {
			a.ints = append(a.ints, c.intOf(x))
		}
	}
	return a
}

// eval evaluates the arguments in order into s and k, stopping at the first
// error; k keeps its values where an optional argument was not given.
func (a celArgs) eval(b *attribute.Bag, s []string, k []int64) (err error) {
	for i, f := range a.strs {
		if s[i], err = f(b); err != nil {
			return err
		}
	}
	for i, f := range a.ints {
		if k[i], err = f(b); err != nil {
			return err
		}
	}
	return nil
}

// apply maps the value of f through conv.
func apply[A, R any](f evalFn[A], conv func(A) (R, error)) evalFn[R] {
	return func(b *attribute.Bag) (R, error) {
		v, err := f(b)
		if err != nil {
			var zero R
			return zero, err
		}
		return conv(v)
	}
}

// doubleToInt truncates toward zero; values outside int64 are an error, as
// in CEL.
func doubleToInt(f float64) (int64, error) {
	if math.IsNaN(f) || f <= math.MinInt64 || f >= math.MaxInt64 {
		return 0, fmt.Errorf("range error converting %g to int", f)
	}
	return int64(f), nil
}

// durationString writes a duration as CEL does: seconds with an "s".
func durationString(ns int64) string {
	return strconv.FormatFloat(float64(ns)/1e9, 'f', -1, 64) + "s"
}

func mapASCII(s string, f func(rune) rune) string {
	return strings.Map(func(r rune) rune {
		if r <= unicode.MaxASCII {
			return f(r)
		}
		return r
	}, s)
}

// The string extensions count in code points, not bytes.

func charAt(s string, i int64) (string, error) {
	runes := []rune(s)
	if i < 0 || i > int64(len(runes)) {
		return "", fmt.Errorf("index out of range: %d", i)
	}
	if i == int64(len(runes)) {
		return "", nil
	}
	return string(runes[i]), nil
}

// substring is s[from:to] in code points, to the end when !hasEnd.
func substring(s string, from, to int64, hasEnd bool) (string, error) {
	runes := []rune(s)
	if !hasEnd {
		to = int64(len(runes))
	} else if from > to {
		return "", fmt.Errorf("invalid substring range. start: %d, end: %d", from, to)
	}
	if from < 0 || from > int64(len(runes)) {
		return "", fmt.Errorf("index out of range: %d", from)
	}
	if to < 0 || to > int64(len(runes)) {
		return "", fmt.Errorf("index out of range: %d", to)
	}
	return string(runes[from:to]), nil
}

// indexOf finds sub in s from offset off (0 when !hasOff); an offset past
// the end is an error.
func indexOf(s, sub string, off int64, hasOff bool) (int64, error) {
	runes, subr := []rune(s), []rune(sub)
	if !hasOff {
		off = 0
	}
	if off < 0 || off > int64(len(runes)) {
		return -1, fmt.Errorf("index out of range: %d", off)
	}
	for i := int(off); i+len(subr) <= len(runes); i++ {
		if runesAt(runes, subr, i) {
			return int64(i), nil
		}
	}
	return -1, nil
}

// lastIndexOf finds the last sub in s that starts at or before off (the end
// when !hasOff); an offset outside s is an error.
func lastIndexOf(s, sub string, off int64, hasOff bool) (int64, error) {
	runes, subr := []rune(s), []rune(sub)
	if !hasOff {
		if len(subr) == 0 {
			return int64(len(runes)), nil
		}
		off = int64(len(runes)) - 1
		if off < 0 {
			return -1, nil
		}
	}
	if off < 0 || off >= int64(len(runes)) && !(len(subr) == 0 && off == int64(len(runes))) {
		return -1, fmt.Errorf("index out of range: %d", off)
	}
	for i := min(int(off), len(runes)-len(subr)); i >= 0; i-- {
		if runesAt(runes, subr, i) {
			return int64(i), nil
		}
	}
	return -1, nil
}

func runesAt(runes, sub []rune, i int) bool {
	for j, r := range sub {
		if runes[i+j] != r {
			return false
		}
	}
	return true
}
