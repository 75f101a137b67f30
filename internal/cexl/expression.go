package cexl

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// CompileError is the error Compile returns. Error() is exactly Mixer's
// message, which configuration checks compare verbatim; the position of the
// offending part of the expression is carried separately.
type CompileError struct {
	Msg    string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based byte column; 0 when unknown
}

func (e *CompileError) Error() string { return e.Msg }

// Position returns "line:column" of the offending part, or "" when unknown.
func (e *CompileError) Position() string {
	if e.Line == 0 {
		return ""
	}
	return fmt.Sprintf("%d:%d", e.Line, e.Column)
}

// Expression is a compiled expression. It is immutable and safe for
// concurrent use; evaluate it with a Bag of the vocabulary it was compiled
// against.
type Expression struct {
	src     string
	dialect Dialect
	typ     attribute.Type
	vocab   *attribute.Vocabulary
	attrs   []string

	// Exactly one is set, matching typ's representation.
	evS strFn
	evI intFn
	evD dblFn
	evB boolFn
	evT timeFn
	evP ipFn
	evM mapFn
}

// Dialect is the semantics an expression is compiled with, chosen in Mixer
// by the annotation policy.istio.io/lang.
type Dialect uint8

const (
	// CEXL is Mixer's own semantics, the default in every release.
	CEXL Dialect = iota
	// COMPAT is Mixer 1.2 – 1.7's COMPAT: CEXL's syntax evaluated with
	// CEL's semantics (see the package documentation).
	COMPAT
	// CEL is Mixer 1.2 – 1.7's CEL: CEL's own syntax and semantics over
	// attributes modelled as nested messages.
	CEL
)

func (d Dialect) String() string {
	switch d {
	case COMPAT:
		return "COMPAT"
	case CEL:
		return "CEL"
	}
	return "CEXL"
}

// Compile parses, type-checks and compiles src against vocab (nil means
// attribute.DefaultVocabulary()) with CEXL's semantics. Errors are
// *CompileError.
func Compile(src string, vocab *attribute.Vocabulary) (*Expression, error) {
	return CompileDialect(src, vocab, CEXL)
}

// CompileDialect is Compile with the semantics of dialect d.
func CompileDialect(src string, vocab *attribute.Vocabulary, d Dialect) (e *Expression, err error) {
	if vocab == nil {
		vocab = attribute.DefaultVocabulary()
	}
	defer func() {
		// Defence in depth: a bug in the compiler must not take down config
		// loading.
		if r := recover(); r != nil {
			e, err = nil, &CompileError{Msg: fmt.Sprintf("internal compiler error -- %v", r)}
		}
	}()
	var (
		root *node
		ps   *parseState
	)
	if d == CEL {
		root, ps, err = parseCEL(src)
		if err == nil {
			root, err = (&celResolver{vocab: vocab, ps: ps}).resolve(root)
		}
	} else {
		root, ps, err = parse(src)
	}
	if err != nil {
		return nil, err
	}
	chk := &checker{vocab: vocab, funcs: builtins, ps: ps}
	switch d {
	case COMPAT:
		chk.funcs, chk.cel = compatCELBuiltins, true
		compatRewrite(root)
	case CEL:
		chk.funcs, chk.cel = celBuiltins, true
	}
	typ, err := chk.check(root)
	if err != nil {
		return nil, err
	}
	e = &Expression{src: src, dialect: d, typ: typ, vocab: vocab, attrs: attributeNames(root)}
	c := &compiler{ps: ps, compat: d != CEXL}
	if repOf(typ) == repNone {
		c.fail(root, "unhandled expression type: '%v'", typ)
		return nil, c.err
	}
	code := c.strict(root)
	if c.err != nil {
		return nil, c.err
	}
	switch f := code.(type) {
	case strFn:
		e.evS = f
	case intFn:
		e.evI = f
	case dblFn:
		e.evD = f
	case boolFn:
		e.evB = f
	case timeFn:
		e.evT = f
	case ipFn:
		e.evP = f
	case mapFn:
		e.evM = f
	}
	return e, nil
}

// Type returns the static type of the expression's value.
func (e *Expression) Type() attribute.Type { return e.typ }

// Dialect returns the semantics the expression was compiled with: the same
// text evaluates differently in CEXL and COMPAT.
func (e *Expression) Dialect() Dialect { return e.dialect }

// String returns the source text.
func (e *Expression) String() string { return e.src }

// Attributes returns the sorted names of the attributes the expression can
// read.
func (e *Expression) Attributes() []string { return slices.Clone(e.attrs) }

// Vocabulary returns the vocabulary the expression was compiled against.
func (e *Expression) Vocabulary() *attribute.Vocabulary { return e.vocab }

var errNilBag = errors.New("cexl: nil attribute bag")

func (e *Expression) checkBag(b *attribute.Bag) error {
	if b == nil {
		return errNilBag
	}
	if b.Vocabulary() != e.vocab {
		return fmt.Errorf("cexl: expression '%s' evaluated with a bag of another vocabulary", e.src)
	}
	return nil
}

func (e *Expression) typeErr(want string) error {
	return fmt.Errorf("expression '%s' evaluated to type %s, expected type %s", e.src, e.typ, want)
}

// Eval evaluates the expression. IP bytes and maps in the result may be
// shared with b or the expression: read-only, valid until b is reset.
func (e *Expression) Eval(b *attribute.Bag) (attribute.Value, error) {
	if err := e.checkBag(b); err != nil {
		return attribute.Value{}, err
	}
	switch {
	case e.evS != nil:
		s, err := e.evS(b)
		if err != nil {
			return attribute.Value{}, err
		}
		switch e.typ {
		case attribute.TypeDNSName:
			return attribute.DNSNameValue(s), nil
		case attribute.TypeEmailAddress:
			return attribute.EmailValue(s), nil
		case attribute.TypeURI:
			return attribute.URIValue(s), nil
		}
		return attribute.StringValue(s), nil
	case e.evI != nil:
		i, err := e.evI(b)
		if err != nil {
			return attribute.Value{}, err
		}
		if e.typ == attribute.TypeDuration {
			return attribute.DurationValue(time.Duration(i)), nil
		}
		return attribute.Int64Value(i), nil
	case e.evD != nil:
		d, err := e.evD(b)
		if err != nil {
			return attribute.Value{}, err
		}
		return attribute.DoubleValue(d), nil
	case e.evB != nil:
		v, err := e.evB(b)
		if err != nil {
			return attribute.Value{}, err
		}
		return attribute.BoolValue(v), nil
	case e.evT != nil:
		t, err := e.evT(b)
		if err != nil {
			return attribute.Value{}, err
		}
		return attribute.TimestampValue(t), nil
	case e.evP != nil:
		ip, err := e.evP(b)
		if err != nil {
			return attribute.Value{}, err
		}
		return attribute.IPValue(ip), nil
	default:
		m, err := e.evM(b)
		if err != nil {
			return attribute.Value{}, err
		}
		return attribute.StringMapValue(m), nil
	}
}

// EvalString evaluates an expression of type STRING, DNS_NAME,
// EMAIL_ADDRESS or URI.
func (e *Expression) EvalString(b *attribute.Bag) (string, error) {
	if e.evS == nil {
		return "", e.typeErr("STRING")
	}
	if err := e.checkBag(b); err != nil {
		return "", err
	}
	return e.evS(b)
}

// EvalBool evaluates an expression of type BOOL.
func (e *Expression) EvalBool(b *attribute.Bag) (bool, error) {
	if e.evB == nil {
		return false, e.typeErr("BOOL")
	}
	if err := e.checkBag(b); err != nil {
		return false, err
	}
	return e.evB(b)
}

// EvalInt64 evaluates an expression of type INT64.
func (e *Expression) EvalInt64(b *attribute.Bag) (int64, error) {
	if e.typ != attribute.TypeInt64 {
		return 0, e.typeErr("INT64")
	}
	if err := e.checkBag(b); err != nil {
		return 0, err
	}
	return e.evI(b)
}

// EvalDouble evaluates an expression of type DOUBLE.
func (e *Expression) EvalDouble(b *attribute.Bag) (float64, error) {
	if e.evD == nil {
		return 0, e.typeErr("DOUBLE")
	}
	if err := e.checkBag(b); err != nil {
		return 0, err
	}
	return e.evD(b)
}

// attributeNames lists the attributes of the checked part of the tree.
func attributeNames(n *node) []string {
	seen := map[string]bool{}
	var walk func(*node)
	walk = func(n *node) {
		switch n.kind {
		case kindVar:
			seen[n.name] = true
		case kindCall:
			if n.target != nil {
				walk(n.target)
			}
			args := n.args
			if fn := builtins[n.fn]; fn != nil && len(args) > len(fn.args) {
				args = args[:len(fn.args)] // extra arguments are ignored
			}
			for _, a := range args {
				walk(a)
			}
		}
	}
	walk(n)
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
