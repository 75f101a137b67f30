package cexl

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// CEXL is Go expression syntax: Mixer parsed it with go/parser and rewrote
// the Go AST into constants, attributes and function calls. We do the same,
// so syntax errors, precedence and the odd corners (duration-looking strings,
// keywords as selector segments) match Mixer.

type nodeKind uint8

const (
	kindConst nodeKind = iota
	kindVar
	kindCall
)

// node is the simplified expression tree. After checking, typ is the static
// type of every node.
type node struct {
	kind nodeKind
	pos  token.Pos // start in the expression, for error positions
	typ  attribute.Type

	// kindConst: lit is the literal as written (Mixer prints it in errors);
	// the value sits in the field matching typ (DURATION in ival).
	lit  string
	sval string
	ival int64
	fval float64
	bval bool

	// kindVar: the attribute and its slot.
	name string
	id   int

	// kindCall: operators are calls too (EQ, OR, INDEX, …).
	fn     string
	target *node
	args   []*node
}

// String renders the node in Mixer's prefix form, which its type errors
// quote: $attr, literals as written, fn(args), target:fn(args).
func (n *node) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *node) write(b *strings.Builder) {
	switch n.kind {
	case kindConst:
		b.WriteString(n.lit)
	case kindVar:
		b.WriteByte('$')
		b.WriteString(n.name)
	case kindCall:
		if n.target != nil {
			n.target.write(b)
			b.WriteByte(':')
		}
		b.WriteString(n.fn)
		b.WriteByte('(')
		for i, a := range n.args {
			if i > 0 {
				b.WriteString(", ")
			}
			a.write(b)
		}
		b.WriteByte(')')
	}
}

// opNames maps Go operators to Mixer's function names. Operators missing
// here (<<, >>, &^, <-) become a call to "", which fails type checking with
// "unknown function: ", as in Mixer.
var opNames = map[token.Token]string{
	token.ADD: "ADD", token.SUB: "SUB", token.MUL: "MUL", token.QUO: "QUO", token.REM: "REM",
	token.AND: "AND", token.OR: "OR", token.XOR: "XOR", token.LAND: "LAND", token.LOR: "LOR",
	token.EQL: "EQ", token.LSS: "LT", token.GTR: "GT", token.NOT: "NOT",
	token.NEQ: "NEQ", token.LEQ: "LEQ", token.GEQ: "GEQ",
}

// parser state: the file set gives line:column positions for errors.
type parseState struct {
	src  string
	fset *token.FileSet
	base int
}

// parse converts src into a node tree. The returned state locates nodes in
// src for later error messages. Errors are *CompileError.
func parse(src string) (*node, *parseState, error) {
	fset := token.NewFileSet()
	x, err := parser.ParseExprFrom(fset, "", src, 0)
	if err != nil {
		ce := &CompileError{Msg: fmt.Sprintf("unable to parse expression '%s': %v", src, err)}
		var list scanner.ErrorList
		if ok := asErrorList(err, &list); ok && len(list) > 0 {
			ce.Line, ce.Column = list[0].Pos.Line, list[0].Pos.Column
		}
		return nil, nil, ce
	}
	p := &parseState{src: src, fset: fset}
	fset.Iterate(func(f *token.File) bool { p.base = f.Base(); return false })
	n, err := p.convert(x)
	return n, p, err
}

func asErrorList(err error, out *scanner.ErrorList) bool {
	l, ok := err.(scanner.ErrorList)
	if ok {
		*out = l
	}
	return ok
}

// errorAt builds a CompileError positioned at pos.
func (p *parseState) errorAt(pos token.Pos, msg string) *CompileError {
	ce := &CompileError{Msg: msg}
	if pos.IsValid() {
		position := p.fset.Position(pos)
		ce.Line, ce.Column = position.Line, position.Column
	}
	return ce
}

// unexpected reports a Go construct CEXL has no meaning for. Mixer printed
// the Go AST node with %#v (pointer addresses included); we show the source
// text and its position instead.
func (p *parseState) unexpected(x ast.Node) *CompileError {
	text := ""
	if from, to := int(x.Pos())-p.base, int(x.End())-p.base; 0 <= from && from <= to && to <= len(p.src) {
		text = p.src[from:to]
	}
	pos := p.fset.Position(x.Pos())
	return p.errorAt(x.Pos(), fmt.Sprintf("unexpected expression: '%s' at %d:%d", text, pos.Line, pos.Column))
}

func (p *parseState) convert(x ast.Expr) (*node, error) {
	switch v := x.(type) {
	case *ast.UnaryExpr:
		return p.call(v.Pos(), opNames[v.Op], nil, v.X)
	case *ast.BinaryExpr:
		return p.call(v.OpPos, opNames[v.Op], nil, v.X, v.Y)
	case *ast.CallExpr:
		switch fn := v.Fun.(type) {
		case *ast.Ident:
			return p.call(fn.Pos(), fn.Name, nil, v.Args...)
		case *ast.SelectorExpr:
			anchor, parts, err := p.flatten(fn)
			if err != nil {
				return nil, err
			}
			var target *node
			if anchor == nil {
				// attr.path.fn(args): the selector chain minus its last
				// segment is the target attribute.
				target = &node{kind: kindVar, pos: fn.Pos(), name: strings.Join(parts[:len(parts)-1], ".")}
			} else {
				if len(parts) != 1 {
					return nil, p.unexpected(fn)
				}
				if target, err = p.convert(anchor); err != nil {
					return nil, err
				}
			}
			return p.call(fn.Sel.Pos(), parts[len(parts)-1], target, v.Args...)
		}
		return nil, p.unexpected(v)
	case *ast.ParenExpr:
		return p.convert(v.X)
	case *ast.BasicLit:
		return p.literal(v)
	case *ast.Ident:
		// Go has no boolean literals; Mixer took true/false in any case.
		switch lv := strings.ToLower(v.Name); lv {
		case "true", "false":
			return &node{kind: kindConst, pos: v.Pos(), typ: attribute.TypeBool, lit: lv, bval: lv == "true"}, nil
		}
		return &node{kind: kindVar, pos: v.Pos(), name: v.Name}, nil
	case *ast.SelectorExpr:
		anchor, parts, err := p.flatten(v)
		if err != nil {
			return nil, err
		}
		if anchor != nil {
			return nil, p.unexpected(v)
		}
		return &node{kind: kindVar, pos: v.Pos(), name: strings.Join(parts, ".")}, nil
	case *ast.IndexExpr:
		return p.call(v.Lbrack, "INDEX", nil, v.X, v.Index)
	}
	return nil, p.unexpected(x)
}

// flatten walks a selector chain a.b.c. It returns the segments in source
// order, or, when the chain starts at a call, literal or parenthesised
// expression, that anchor and the segments after it.
func (p *parseState) flatten(sel *ast.SelectorExpr) (anchor ast.Expr, parts []string, err error) {
	rev := []string{sel.Sel.Name}
	for x := sel.X; ; {
		switch v := x.(type) {
		case *ast.SelectorExpr:
			rev = append(rev, v.Sel.Name)
			x = v.X
			continue
		case *ast.Ident:
			rev = append(rev, v.Name)
		case *ast.CallExpr, *ast.BasicLit, *ast.ParenExpr:
			anchor = v
		default:
			return nil, nil, p.unexpected(v)
		}
		break
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return anchor, rev, nil
}

func (p *parseState) call(pos token.Pos, fn string, target *node, args ...ast.Expr) (*node, error) {
	n := &node{kind: kindCall, pos: pos, fn: fn, target: target, args: make([]*node, 0, len(args))}
	for _, a := range args {
		c, err := p.convert(a)
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, c)
	}
	return n, nil
}

// literal types a Go literal as Mixer did: ints base 10 only (so 0x10 fails
// and 010 is ten), floats, and strings, where any string that parses as a Go
// duration ("10ms", "0") is a DURATION. Errors are strconv's own texts,
// which Mixer returned unwrapped.
func (p *parseState) literal(v *ast.BasicLit) (*node, error) {
	n := &node{kind: kindConst, pos: v.Pos(), lit: v.Value}
	var err error
	switch v.Kind {
	case token.INT:
		n.typ = attribute.TypeInt64
		n.ival, err = strconv.ParseInt(v.Value, 10, 64)
	case token.FLOAT:
		n.typ = attribute.TypeDouble
		n.fval, err = strconv.ParseFloat(v.Value, 64)
	default: // STRING, CHAR, and IMAG, which fails to unquote as in Mixer
		var s string
		if s, err = strconv.Unquote(v.Value); err != nil {
			break
		}
		if d, derr := time.ParseDuration(s); derr == nil {
			n.typ = attribute.TypeDuration
			n.ival = int64(d)
		} else {
			n.typ = attribute.TypeString
			n.sval = s
		}
	}
	if err != nil {
		return nil, p.errorAt(v.Pos(), err.Error())
	}
	return n, nil
}
