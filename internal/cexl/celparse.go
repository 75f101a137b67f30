package cexl

import (
	"fmt"
	"go/token"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// CEL's own syntax (policy.istio.io/lang: CEL). The parser produces the same
// node tree as CEXL's, with a few more operators that celResolve rewrites
// once the vocabulary is known:
//
//	IN(x, y)        x in y
//	HAS(x)          has(x.f); x is a dotted name or a SELECT
//	SELECT(x, "f")  x.f where x is not a name (a literal, a call, …)
//	LIST(e…)        [e, …]
//	MAP(k, v, …)    {k: v, …}
//
// The ternary operator becomes conditional(), `!` NOT and unary `-` NEG.

type celTok uint8

const (
	celEOF celTok = iota
	celIdent
	celInt
	celUint
	celDouble
	celString
	celBytes
	celPunct // text holds the operator or bracket
)

type celToken struct {
	kind celTok
	off  int    // byte offset in the source
	text string // as written
	sval string // string and bytes literals: the value
}

// celReserved are words CEL keeps for itself; they cannot name anything.
var celReserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true, "for": true,
	"function": true, "if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true,
}

type celParser struct {
	*parseState
	toks  []celToken
	i     int
	depth int
}

// celMaxDepth bounds nesting so that hostile input cannot exhaust the stack.
const celMaxDepth = 250

// parseCEL converts src, written in CEL's syntax, into a node tree.
func parseCEL(src string) (*node, *parseState, error) {
	fset := token.NewFileSet()
	f := fset.AddFile("", -1, len(src))
	f.SetLinesForContent([]byte(src))
	p := &celParser{parseState: &parseState{src: src, fset: fset, base: f.Base()}}
	if err := p.lex(); err != nil {
		return nil, nil, err
	}
	n, err := p.expr()
	if err != nil {
		return nil, nil, err
	}
	if t := p.peek(); t.kind != celEOF {
		return nil, nil, p.syntaxErr(t.off, fmt.Sprintf("unexpected '%s'", t.text))
	}
	return n, p.parseState, nil
}

func (p *celParser) pos(off int) token.Pos { return token.Pos(p.base + off) }

// syntaxErr reports a syntax error at byte offset off, in the form CEXL's
// parse errors take.
func (p *celParser) syntaxErr(off int, msg string) *CompileError {
	ce := p.errorAt(p.pos(off), "")
	ce.Msg = fmt.Sprintf("unable to parse expression '%s': %d:%d: %s", p.src, ce.Line, ce.Column, msg)
	return ce
}

// celPuncts are CEL's operators and brackets, longest first.
var celPuncts = []string{
	"==", "!=", "<=", ">=", "&&", "||",
	"<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}",
}

func (p *celParser) lex() error {
	src := p.src
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
			continue
		case c == '/' && strings.HasPrefix(src[i:], "//"): // comment to end of line
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		}
		start := i
		switch {
		case isIdentStart(c):
			for i < len(src) && (isIdentStart(src[i]) || isDigit(src[i])) {
				i++
			}
			word := src[start:i]
			if raw, bytes, ok := stringPrefix(word); ok && i < len(src) && (src[i] == '"' || src[i] == '\'') {
				end, val, err := p.stringLit(i, raw)
				if err != nil {
					return err
				}
				kind := celString
				if bytes {
					kind = celBytes
				}
				p.toks = append(p.toks, celToken{kind: kind, off: start, text: src[start:end], sval: val})
				i = end
				continue
			}
			p.toks = append(p.toks, celToken{kind: celIdent, off: start, text: word})
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			end, kind := numberEnd(src, i)
			p.toks = append(p.toks, celToken{kind: kind, off: start, text: src[start:end]})
			i = end
		case c == '"' || c == '\'':
			end, val, err := p.stringLit(i, false)
			if err != nil {
				return err
			}
			p.toks = append(p.toks, celToken{kind: celString, off: start, text: src[start:end], sval: val})
			i = end
		default:
			matched := ""
			for _, op := range celPuncts {
				if strings.HasPrefix(src[i:], op) {
					matched = op
					break
				}
			}
			if matched == "" {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return p.syntaxErr(i, fmt.Sprintf("token recognition error at: '%c'", r))
			}
			p.toks = append(p.toks, celToken{kind: celPunct, off: start, text: matched})
			i += len(matched)
		}
	}
	p.toks = append(p.toks, celToken{kind: celEOF, off: len(src), text: "<EOF>"})
	return nil
}

// stringPrefix reads the prefix of a string literal: r (raw), b (bytes) or
// both, in either order and any letter case.
func stringPrefix(word string) (raw, bytes, ok bool) {
	switch strings.ToLower(word) {
	case "r":
		return true, false, true
	case "b":
		return false, true, true
	case "rb", "br":
		return true, true, true
	}
	return false, false, false
}

func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isHex(c byte) bool        { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// numberEnd scans a numeric literal at src[i:]: decimal or hexadecimal
// integers, an optional u/U for unsigned, and doubles with a fraction or an
// exponent.
func numberEnd(src string, i int) (int, celTok) {
	if strings.HasPrefix(src[i:], "0x") || strings.HasPrefix(src[i:], "0X") {
		j := i + 2
		for j < len(src) && isHex(src[j]) {
			j++
		}
		if j < len(src) && (src[j] == 'u' || src[j] == 'U') {
			return j + 1, celUint
		}
		return j, celInt
	}
	j := i
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	kind := celInt
	if j+1 < len(src) && src[j] == '.' && isDigit(src[j+1]) {
		kind = celDouble
		for j++; j < len(src) && isDigit(src[j]); j++ {
		}
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit(src[k]) {
			kind = celDouble
			for j = k; j < len(src) && isDigit(src[j]); j++ {
			}
		}
	}
	if kind == celInt && j < len(src) && (src[j] == 'u' || src[j] == 'U') {
		return j + 1, celUint
	}
	return j, kind
}

// stringLit reads a quoted literal starting at src[i] (the quote), in
// single or double quotes, either of them tripled to span lines; raw when
// raw is set.
func (p *celParser) stringLit(i int, raw bool) (end int, val string, err error) {
	src := p.src
	q := src[i : i+1]
	if strings.HasPrefix(src[i:], q+q+q) {
		q = q + q + q
	}
	var b strings.Builder
	for j := i + len(q); j < len(src); {
		if strings.HasPrefix(src[j:], q) {
			return j + len(q), b.String(), nil
		}
		c := src[j]
		if len(q) == 1 && (c == '\n' || c == '\r') {
			break
		}
		if c != '\\' || raw {
			b.WriteByte(c)
			j++
			continue
		}
		if j+1 >= len(src) {
			break
		}
		switch e := src[j+1]; e {
		case '\'', '"', '`', '?', '\\':
			b.WriteByte(e)
			j += 2
			continue
		}
		// In a string (not bytes) every escape is a code point: "\xff"
		// is ÿ, two bytes in UTF-8.
		r, _, tail, uerr := strconv.UnquoteChar(src[j:], 0)
		if uerr != nil {
			return 0, "", p.syntaxErr(j, fmt.Sprintf("invalid escape sequence in string literal: %s", src[j:min(j+2, len(src))]))
		}
		b.WriteRune(r)
		j = len(src) - len(tail)
	}
	return 0, "", p.syntaxErr(i, "unterminated string literal")
}

func (p *celParser) peek() celToken { return p.toks[p.i] }

func (p *celParser) next() celToken {
	t := p.toks[p.i]
	if t.kind != celEOF {
		p.i++
	}
	return t
}

// accept consumes the punctuation op if it comes next.
func (p *celParser) accept(op string) bool {
	if t := p.peek(); t.kind == celPunct && t.text == op {
		p.i++
		return true
	}
	return false
}

func (p *celParser) expect(op string) error {
	if p.accept(op) {
		return nil
	}
	t := p.peek()
	return p.syntaxErr(t.off, fmt.Sprintf("expected '%s', found '%s'", op, t.text))
}

func (p *celParser) call(off int, fn string, target *node, args ...*node) *node {
	return &node{kind: kindCall, pos: p.pos(off), fn: fn, target: target, args: args}
}

// expr = or ["?" or ":" expr]
func (p *celParser) expr() (*node, error) {
	if p.depth++; p.depth > celMaxDepth {
		return nil, p.syntaxErr(p.peek().off, "expression nests too deeply")
	}
	defer func() { p.depth-- }()
	cond, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if !p.accept("?") {
		return cond, nil
	}
	x, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	y, err := p.expr()
	if err != nil {
		return nil, err
	}
	return p.call(t.off, "conditional", nil, cond, x, y), nil
}

// celLevels are the binary operators by precedence, loosest first; all are
// left-associative.
var celLevels = []map[string]string{
	{"||": "LOR"},
	{"&&": "LAND"},
	{"==": "EQ", "!=": "NEQ", "<": "LT", "<=": "LEQ", ">": "GT", ">=": "GEQ", "in": "IN"},
	{"+": "ADD", "-": "SUB"},
	{"*": "MUL", "/": "QUO", "%": "REM"},
}

func (p *celParser) binary(level int) (*node, error) {
	if level == len(celLevels) {
		return p.unary()
	}
	x, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		fn, ok := "", false
		if t.kind == celPunct || t.kind == celIdent && t.text == "in" {
			fn, ok = celLevels[level][t.text]
		}
		if !ok {
			return x, nil
		}
		p.next()
		y, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		x = p.call(t.off, fn, nil, x, y)
	}
}

// unary = member | "!"+ member | "-"+ member. As in cel-go's parser, an
// even run of the same operator cancels out (so !!x is x, whatever x's
// type), and a minus before a number is part of it, so that the smallest
// int can be written.
func (p *celParser) unary() (*node, error) {
	t := p.peek()
	if t.kind != celPunct || (t.text != "!" && t.text != "-") {
		return p.member()
	}
	run := 0
	for n := p.peek(); n.kind == celPunct && n.text == t.text; n = p.peek() {
		p.next()
		run++
	}
	odd := run%2 == 1
	if n := p.peek(); odd && t.text == "-" && (n.kind == celInt || n.kind == celDouble) {
		p.next()
		x, err := p.number(n, true)
		if err != nil {
			return nil, err
		}
		x.pos = p.pos(t.off)
		return p.suffixes(x)
	}
	x, err := p.member()
	if err != nil || !odd {
		return x, err
	}
	fn := "NOT"
	if t.text == "-" {
		fn = "NEG"
	}
	return p.call(t.off, fn, nil, x), nil
}

func celIntBase(lit string) int {
	if strings.HasPrefix(lit, "0x") || strings.HasPrefix(lit, "0X") {
		return 16
	}
	return 10
}

// member = primary {"." IDENT ["(" args ")"] | "[" expr "]" | "{" … "}"}
func (p *celParser) member() (*node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	return p.suffixes(x)
}

// suffixes parses the selections, calls and indexes that follow x.
func (p *celParser) suffixes(x *node) (*node, error) {
	for {
		t := p.peek()
		switch {
		case p.accept("."):
			id := p.next()
			if id.kind != celIdent {
				return nil, p.syntaxErr(id.off, fmt.Sprintf("expected a field name after '.', found '%s'", id.text))
			}
			if p.accept("(") {
				args, err := p.list(")")
				if err != nil {
					return nil, err
				}
				x = p.call(id.off, id.text, x, args...)
				continue
			}
			if x.kind == kindVar {
				x.name += "." + id.text
				continue
			}
			x = p.call(id.off, "SELECT", nil, x, &node{kind: kindConst, pos: p.pos(id.off), typ: attribute.TypeString, lit: strconv.Quote(id.text), sval: id.text})
		case p.accept("["):
			i, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = p.call(t.off, "INDEX", nil, x, i)
		case t.kind == celPunct && t.text == "{" && x.kind == kindVar:
			return nil, p.syntaxErr(t.off, fmt.Sprintf("message construction (%s{…}) is not supported", x.name))
		default:
			return x, nil
		}
	}
}

// list parses comma-separated expressions up to the closing bracket, which
// it consumes; a trailing comma is allowed.
func (p *celParser) list(closing string) ([]*node, error) {
	var out []*node
	for !p.accept(closing) {
		if len(out) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
			if p.accept(closing) {
				break
			}
		}
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func (p *celParser) primary() (*node, error) {
	t := p.next()
	switch t.kind {
	case celIdent:
		switch t.text {
		case "true", "false":
			return &node{kind: kindConst, pos: p.pos(t.off), typ: attribute.TypeBool, lit: t.text, bval: t.text == "true"}, nil
		case "null":
			return nil, p.syntaxErr(t.off, "null is not supported: no attribute can hold it")
		case "in":
			return nil, p.syntaxErr(t.off, "unexpected 'in'")
		}
		if celReserved[t.text] {
			return nil, p.syntaxErr(t.off, fmt.Sprintf("reserved identifier: %s", t.text))
		}
		if p.accept("(") {
			args, err := p.list(")")
			if err != nil {
				return nil, err
			}
			if t.text == "has" {
				return p.has(t, args)
			}
			return p.call(t.off, t.text, nil, args...), nil
		}
		return &node{kind: kindVar, pos: p.pos(t.off), name: t.text}, nil
	case celInt, celDouble:
		return p.number(t, false)
	case celUint:
		return nil, p.syntaxErr(t.off, fmt.Sprintf("unsigned integers (%s) are not supported: attributes are signed", t.text))
	case celBytes:
		return nil, p.syntaxErr(t.off, fmt.Sprintf("bytes literals (%s) are not supported", t.text))
	case celString:
		return &node{kind: kindConst, pos: p.pos(t.off), typ: attribute.TypeString, lit: t.text, sval: t.sval}, nil
	case celPunct:
		switch t.text {
		case "(":
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			if x.kind == kindVar {
				// (a.b).c is a field of a value, not the attribute a.b.c.
				x = p.call(t.off, "PAREN", nil, x)
			}
			return x, nil
		case "[":
			elems, err := p.list("]")
			if err != nil {
				return nil, err
			}
			return p.call(t.off, "LIST", nil, elems...), nil
		case "{":
			var kv []*node
			for !p.accept("}") {
				if len(kv) > 0 {
					if err := p.expect(","); err != nil {
						return nil, err
					}
					if p.accept("}") {
						break
					}
				}
				k, err := p.expr()
				if err != nil {
					return nil, err
				}
				if err := p.expect(":"); err != nil {
					return nil, err
				}
				v, err := p.expr()
				if err != nil {
					return nil, err
				}
				kv = append(kv, k, v)
			}
			return p.call(t.off, "MAP", nil, kv...), nil
		case ".":
			id := p.next()
			if id.kind != celIdent {
				return nil, p.syntaxErr(id.off, fmt.Sprintf("expected a name after '.', found '%s'", id.text))
			}
			p.i-- // a leading dot names the root scope, which is the only one
			return p.primary()
		}
	}
	return nil, p.syntaxErr(t.off, fmt.Sprintf("unexpected '%s'", t.text))
}

// number converts a numeric literal, negated when neg is set.
func (p *celParser) number(t celToken, neg bool) (*node, error) {
	text := t.text
	if neg {
		text = "-" + text
	}
	if t.kind == celDouble {
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, p.syntaxErr(t.off, fmt.Sprintf("invalid double literal: %s", text))
		}
		return &node{kind: kindConst, pos: p.pos(t.off), typ: attribute.TypeDouble, lit: text, fval: v}, nil
	}
	digits := strings.TrimPrefix(strings.TrimPrefix(t.text, "0x"), "0X")
	if neg {
		digits = "-" + digits
	}
	v, err := strconv.ParseInt(digits, celIntBase(t.text), 64)
	if err != nil {
		return nil, p.syntaxErr(t.off, fmt.Sprintf("invalid int literal: %s", text))
	}
	return &node{kind: kindConst, pos: p.pos(t.off), typ: attribute.TypeInt64, lit: text, ival: v}, nil
}

// has is the has(x.f) macro: its argument must be a field selection.
func (p *celParser) has(t celToken, args []*node) (*node, error) {
	if len(args) != 1 {
		return nil, p.syntaxErr(t.off, fmt.Sprintf("has() takes one argument, got %d", len(args)))
	}
	a := args[0]
	if !(a.kind == kindVar && strings.Contains(a.name, ".")) && !(a.kind == kindCall && a.fn == "SELECT") {
		return nil, p.syntaxErr(t.off, "invalid argument to has() macro: it must be a field selection, as in has(a.b)")
	}
	return p.call(t.off, "HAS", nil, a), nil
}
