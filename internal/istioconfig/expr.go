package istioconfig

import (
	"errors"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
)

// language reads policy.istio.io/lang: OTTL, COMPAT and CEL in any letter
// case select those languages; anything else means CEXL, as in Mixer.
// BuildOptions.Language overrides all but OTTL.
func (b *builder) language(r *reader) Lang {
	v := Lang(strings.ToUpper(strings.TrimSpace(r.res.Annotations[LangAnnotation])))
	if v == LangOTTL {
		return LangOTTL
	}
	if b.opts.Language != "" {
		return b.opts.Language
	}
	switch v {
	case LangCOMPAT, LangCEL:
		return v
	}
	return LangCEXL
}

// exprs compiles expressions of one resource.
type exprs struct {
	r     *reader
	lang  Lang
	vocab *attribute.Vocabulary
	ottl  func(string) error
}

// compile compiles the expression held by node n at path. want is the
// required type, TypeUnspecified for any. It returns nil after recording a
// problem.
func (c *exprs) compile(n *yaml.Node, path, src string, want attribute.Type) *Expr {
	if strings.TrimSpace(src) == "" {
		c.r.failf(n, path, "empty expression")
		return nil
	}
	if c.lang == LangOTTL {
		if c.ottl != nil {
			if err := c.ottl(src); err != nil {
				c.r.failf(n, path, "OTTL: %v", err)
				return nil
			}
		}
		return &Expr{Text: src, Lang: LangOTTL}
	}
	e, err := cexl.CompileDialect(src, c.vocab, c.lang.Dialect())
	if err != nil {
		p := c.r.res.problem(deref(n), path, err.Error())
		var ce *cexl.CompileError
		if errors.As(err, &ce) && ce.Line > 0 {
			p.Line, p.Column = exprPosition(deref(n), src, ce.Line, ce.Column)
		}
		c.r.probs = append(c.r.probs, p)
		return nil
	}
	if want != attribute.TypeUnspecified && e.Type() != want {
		c.r.failf(n, path, "expression '%s' evaluated to type %s, expected type %s", src, e.Type(), want)
		return nil
	}
	return &Expr{Text: src, Lang: c.lang, Compiled: e}
}

// exprPosition maps a line:column inside an expression to the file, given
// the YAML scalar that holds it. Positions inside block scalars and folded
// plain scalars are only known to the line.
func exprPosition(n *yaml.Node, src string, line, col int) (int, int) {
	if n == nil || n.Line == 0 {
		return 0, 0
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		if n.Style == yaml.LiteralStyle {
			return n.Line + line, 0
		}
		return n.Line + 1, 0
	}
	if line != 1 {
		return n.Line, n.Column
	}
	off := min(max(col-1, 0), len(src))
	before := src[:off]
	switch n.Style {
	case yaml.SingleQuotedStyle:
		return n.Line, n.Column + 1 + off + strings.Count(before, "'")
	case yaml.DoubleQuotedStyle:
		extra := 0
		for i := 0; i < len(before); i++ {
			if c := before[i]; c == '"' || c == '\\' || c < 0x20 {
				extra++
			}
		}
		return n.Line, n.Column + 1 + off + extra
	}
	return n.Line, n.Column + off
}
