package istioconfig

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration: a file that does not
// parse, a resource that is rejected, or the part of a resource that is
// dropped (one action of a rule, one metric of a handler). Line and Column
// point into File; they are 0 when unknown (resources read from the
// Kubernetes API have no file).
type Problem struct {
	File      string
	Line      int
	Column    int
	Kind      string
	Namespace string
	Name      string
	// Field is the path of the offending field inside spec, written with the
	// keys as the user wrote them: "match", "actions[0].handler",
	// "params.dimensions.source".
	Field   string
	Message string

	// at orders problems: the line of the resource they belong to, so that
	// a resource's problems stay together in the order they were found.
	at int
}

// Ref returns "kind/namespace/name", or "" when the problem concerns no
// resource in particular (a file that does not parse).
func (p Problem) Ref() string {
	switch {
	case p.Kind == "":
		return ""
	case p.Name == "":
		return p.Kind + "/" + p.Namespace + "/(unnamed)"
	}
	return p.Kind + "/" + p.Namespace + "/" + p.Name
}

// Error renders the problem as
// `file:line: kind/namespace/name: field: message (column N)`, leaving out
// the parts that are unknown.
func (p Problem) Error() string {
	var b strings.Builder
	p.writeLocation(&b)
	p.writeBody(&b)
	if p.Column > 0 {
		fmt.Fprintf(&b, " (column %d)", p.Column)
	}
	return b.String()
}

func (p Problem) writeLocation(b *strings.Builder) {
	if p.File == "" {
		return
	}
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(b, ":%d", p.Line)
	}
	b.WriteString(": ")
}

func (p Problem) writeBody(b *strings.Builder) {
	if r := p.Ref(); r != "" {
		b.WriteString(r)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
}

// ResourceRef names a resource that was read but is not used, with the
// reason (an unsupported kind, adapter or template).
type ResourceRef struct {
	Kind      string
	Namespace string
	Name      string
	File      string
	Line      int
	Reason    string
}

// FQN is Mixer's fully-qualified name, name.kind.namespace.
func (r ResourceRef) FQN() string { return r.Name + "." + r.Kind + "." + r.Namespace }

func (r ResourceRef) String() string {
	s := r.Kind + "/" + r.Namespace + "/" + r.Name
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

func (p Problem) order() int {
	if p.at > 0 {
		return p.at
	}
	return p.Line
}
