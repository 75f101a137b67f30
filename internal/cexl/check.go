package cexl

import (
	"fmt"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// funcMeta is the static signature of a function or operator.
// TypeUnspecified in targetType/args means "polymorphic T": the first such
// argument fixes T and the others must match it exactly; an unspecified
// return type means T.
type funcMeta struct {
	instance   bool // called as target.fn(args)
	targetType attribute.Type
	ret        attribute.Type
	args       []attribute.Type
}

const (
	tT    = attribute.TypeUnspecified
	tStr  = attribute.TypeString
	tBool = attribute.TypeBool
)

// builtins are Mixer's CEXL functions: the operators (intrinsics) and the
// standard externs, plus our extensions. The *_equal helpers that == uses
// internally are not callable, as in Mixer.
var builtins = map[string]*funcMeta{
	"EQ":          {ret: tBool, args: []attribute.Type{tT, tT}},
	"NEQ":         {ret: tBool, args: []attribute.Type{tT, tT}},
	"LT":          {ret: tBool, args: []attribute.Type{tT, tT}},
	"LEQ":         {ret: tBool, args: []attribute.Type{tT, tT}},
	"GT":          {ret: tBool, args: []attribute.Type{tT, tT}},
	"GEQ":         {ret: tBool, args: []attribute.Type{tT, tT}},
	"OR":          {ret: tT, args: []attribute.Type{tT, tT}},
	"LOR":         {ret: tBool, args: []attribute.Type{tBool, tBool}},
	"LAND":        {ret: tBool, args: []attribute.Type{tBool, tBool}},
	"INDEX":       {ret: tStr, args: []attribute.Type{attribute.TypeStringMap, tStr}},
	"conditional": {ret: tT, args: []attribute.Type{tBool, tT, tT}},
	"ADD":         {ret: tT, args: []attribute.Type{tT, tT}},
	"size":        {ret: attribute.TypeInt64, args: []attribute.Type{tStr}},

	"ip":                {ret: attribute.TypeIPAddress, args: []attribute.Type{tStr}},
	"timestamp":         {ret: attribute.TypeTimestamp, args: []attribute.Type{tStr}},
	"dnsName":           {ret: attribute.TypeDNSName, args: []attribute.Type{tStr}},
	"email":             {ret: attribute.TypeEmailAddress, args: []attribute.Type{tStr}},
	"uri":               {ret: attribute.TypeURI, args: []attribute.Type{tStr}},
	"match":             {ret: tBool, args: []attribute.Type{tStr, tStr}},
	"matches":           {instance: true, targetType: tStr, ret: tBool, args: []attribute.Type{tStr}},
	"startsWith":        {instance: true, targetType: tStr, ret: tBool, args: []attribute.Type{tStr}},
	"endsWith":          {instance: true, targetType: tStr, ret: tBool, args: []attribute.Type{tStr}},
	"emptyStringMap":    {ret: attribute.TypeStringMap, args: []attribute.Type{}},
	"conditionalString": {ret: tStr, args: []attribute.Type{tBool, tStr, tStr}},
	"toLower":           {ret: tStr, args: []attribute.Type{tStr}},
	"grpcToHttp":        {ret: attribute.TypeInt64, args: []attribute.Type{tStr}},

	// Extensions beyond Mixer (see the package documentation).
	"toMilliseconds": {ret: attribute.TypeDouble, args: []attribute.Type{attribute.TypeDuration}},
}

// compatRewrite names unary minus NEG throughout n: CEXL's parser gives
// it as a one-argument SUB.
func compatRewrite(n *node) {
	if n.kind != kindCall {
		return
	}
	if n.target != nil {
		compatRewrite(n.target)
	}
	if n.fn == "SUB" && len(n.args) == 1 {
		n.fn = "NEG"
	}
	for _, a := range n.args {
		compatRewrite(a)
	}
}

// checker types a node tree against a vocabulary, with Mixer's rules and
// error texts. Arguments beyond a function's declared ones are not looked at
// (Mixer did not check them either); the compiler ignores them too.
type checker struct {
	vocab *attribute.Vocabulary
	funcs map[string]*funcMeta
	ps    *parseState // for error positions; may be nil
	cel   bool        // CEL's rules for calls (checkCEL)
}

func (c *checker) errorf(n *node, format string, args ...any) *CompileError {
	msg := fmt.Sprintf(format, args...)
	if c.ps == nil {
		return &CompileError{Msg: msg}
	}
	return c.ps.errorAt(n.pos, msg)
}

func (c *checker) check(n *node) (attribute.Type, error) {
	switch n.kind {
	case kindConst:
		return n.typ, nil
	case kindVar:
		id, t, ok := c.vocab.Lookup(n.name)
		if !ok {
			return 0, c.errorf(n, "unknown attribute %s", n.name)
		}
		n.id, n.typ = id, t
		return t, nil
	}
	if c.cel {
		return c.checkCEL(n)
	}

	fn, ok := c.funcs[n.fn]
	if !ok {
		return 0, c.errorf(n, "unknown function: %s", n.fn)
	}
	tmpl := attribute.TypeUnspecified
	if n.target != nil {
		if !fn.instance {
			return 0, c.errorf(n, "invoking regular function on instance method: %s", n.fn)
		}
		tt, err := c.check(n.target)
		if err != nil {
			return 0, err
		}
		if fn.targetType == attribute.TypeUnspecified {
			tmpl = tt
		} else if tt != fn.targetType {
			return 0, c.errorf(n, "%s target typeError got %s, expected %s", n, tt, fn.targetType)
		}
	} else if fn.instance {
		return 0, c.errorf(n, "invoking instance method without an instance: %s", n.fn)
	}
	if len(n.args) < len(fn.args) {
		return 0, c.errorf(n, "%s arity mismatch. Got %d arg(s), expected %d arg(s)", n, len(n.args), len(fn.args))
	}
	for i, want := range fn.args {
		got, err := c.check(n.args[i])
		if err != nil {
			return 0, err
		}
		if want == attribute.TypeUnspecified {
			if tmpl == attribute.TypeUnspecified {
				tmpl = got
				continue
			}
			want = tmpl
		}
		if got != want {
			return 0, c.errorf(n.args[i], "%s arg %d (%s) typeError got %s, expected %s", n, i+1, n.args[i], got, want)
		}
	}
	n.typ = fn.ret
	if n.typ == attribute.TypeUnspecified {
		n.typ = tmpl
	}
	return n.typ, nil
}
