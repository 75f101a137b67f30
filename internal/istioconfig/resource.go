package istioconfig

import (
	"go.yaml.in/yaml/v3"
)

// APIVersion is the only API group version the Mixer config model has.
const APIVersion = "config.istio.io/v1alpha2"

// Key identifies a resource. Two resources with the same key are duplicates.
type Key struct {
	Kind      string
	Namespace string
	Name      string
}

// FQN is Mixer's fully-qualified name of the resource, name.kind.namespace.
func (k Key) FQN() string { return k.Name + "." + k.Kind + "." + k.Namespace }

func (k Key) String() string { return k.Kind + "/" + k.Namespace + "/" + k.Name }

// Resource is one decoded Kubernetes-style object, before validation. Spec is
// kept as a YAML node so that validation can point at lines and columns and
// can accept both snake_case and lowerCamelCase keys.
type Resource struct {
	APIVersion  string
	Kind        string // lower case, as Mixer's CRDs spell it
	Name        string
	Namespace   string // "" until Build gives it the default namespace
	Annotations map[string]string
	Spec        *yaml.Node // a mapping node; nil when the object has no spec

	// Where it came from. File is "" for objects read from the Kubernetes
	// API; Line is then 0 too.
	File   string
	Line   int
	Column int
}

// Key returns the resource's identity.
func (r *Resource) Key() Key { return Key{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name} }

// FQN is name.kind.namespace.
func (r *Resource) FQN() string { return r.Key().FQN() }

func (r *Resource) ref(reason string) ResourceRef {
	return ResourceRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, File: r.File, Line: r.Line, Reason: reason}
}

// problem builds a Problem about this resource located at node n (which may
// be nil: the resource's own position is used).
func (r *Resource) problem(n *yaml.Node, field, msg string) Problem {
	p := Problem{
		File: r.File, Line: r.Line, Column: 0,
		Kind: r.Kind, Namespace: r.Namespace, Name: r.Name,
		Field: field, Message: msg, at: r.Line,
	}
	if n != nil && n.Line > 0 {
		p.Line, p.Column = n.Line, n.Column
	}
	return p
}
