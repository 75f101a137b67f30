package kubeenv

import (
	"fmt"
	"strings"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// Field is one field of the kubernetes template's OutputTemplate, named in
// attribute_bindings as $out.<name>. The fields of one side (source or
// destination) come in the same order, so a side is an offset.
type Field uint8

// The OutputTemplate fields of Istio 1.1's kubernetes template.
const (
	SourcePodUID Field = iota
	SourcePodIP
	SourcePodName
	SourceLabels
	SourceNamespace
	SourceServiceAccountName
	SourceHostIP
	SourceWorkloadUID
	SourceWorkloadName
	SourceWorkloadNamespace
	SourceOwner

	DestinationPodUID
	DestinationPodIP
	DestinationPodName
	DestinationLabels
	DestinationNamespace
	DestinationServiceAccountName
	DestinationHostIP
	DestinationWorkloadUID
	DestinationWorkloadName
	DestinationWorkloadNamespace
	DestinationOwner

	DestinationContainerName

	// NumFields counts the fields.
	NumFields
)

// sideFields is the number of fields per side; Destination* = Source* + sideFields.
const sideFields = DestinationPodUID - SourcePodUID

var fieldNames = [NumFields]string{
	"source_pod_uid", "source_pod_ip", "source_pod_name", "source_labels", "source_namespace",
	"source_service_account_name", "source_host_ip", "source_workload_uid", "source_workload_name",
	"source_workload_namespace", "source_owner",
	"destination_pod_uid", "destination_pod_ip", "destination_pod_name", "destination_labels", "destination_namespace",
	"destination_service_account_name", "destination_host_ip", "destination_workload_uid", "destination_workload_name",
	"destination_workload_namespace", "destination_owner",
	"destination_container_name",
}

// Name returns the field's name in $out.<name>.
func (f Field) Name() string {
	if f >= NumFields {
		return fmt.Sprintf("Field(%d)", f)
	}
	return fieldNames[f]
}

// Type returns the field's value type.
func (f Field) Type() attribute.Type {
	switch f {
	case SourcePodIP, SourceHostIP, DestinationPodIP, DestinationHostIP:
		return attribute.TypeIPAddress
	case SourceLabels, DestinationLabels:
		return attribute.TypeStringMap
	case NumFields:
		return attribute.TypeUnspecified
	}
	return attribute.TypeString
}

// FieldByName finds a field by its name in $out.<name>.
func FieldByName(name string) (Field, bool) {
	for i, n := range fieldNames {
		if n == name {
			return Field(i), true
		}
	}
	return 0, false
}

// FieldNames lists the field names in field order.
func FieldNames() []string { return fieldNames[:] }

// Template input fields (the kubernetes template's params) and their types.
var inputTypes = []struct {
	name string
	typ  attribute.Type
}{
	{"source_uid", attribute.TypeString},
	{"source_ip", attribute.TypeIPAddress},
	{"destination_uid", attribute.TypeString},
	{"destination_ip", attribute.TypeIPAddress},
	{"destination_port", attribute.TypeInt64},
}

// InputNames lists the kubernetes template's params in proto order.
func InputNames() []string {
	out := make([]string, len(inputTypes))
	for i, in := range inputTypes {
		out[i] = in.name
	}
	return out
}

// InputType returns the type of a template param; TypeUnspecified for an
// unknown name.
func InputType(name string) attribute.Type {
	for _, in := range inputTypes {
		if in.name == name {
			return in.typ
		}
	}
	return attribute.TypeUnspecified
}

// CEXL is Go expression syntax, in which $out.x does not parse. Binding
// expressions are therefore compiled with every $out. replaced by outPrefix,
// which has the same length (error columns stay right) and makes each field
// an ordinary attribute of an output vocabulary.
const (
	outRef    = "$out."
	outPrefix = "_out_"
)

// OutputAttribute is the attribute that stands for field f in a rewritten
// binding expression.
func OutputAttribute(f Field) string { return outPrefix + f.Name() }

// RewriteOutputs replaces each $out. outside string literals by the
// output-attribute prefix, and returns the names referenced after $out.
// (known or not, in order of appearance).
func RewriteOutputs(src string) (string, []string) {
	if !strings.Contains(src, outRef) {
		return src, nil
	}
	b := []byte(src)
	var names []string
	var quote byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			switch {
			case c == '\\' && quote != '`':
				i++ // skip the escaped byte
			case c == quote:
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '$' && strings.HasPrefix(src[i:], outRef):
			copy(b[i:], outPrefix)
			j := i + len(outRef)
			k := j
			for k < len(b) && isIdentByte(b[k]) {
				k++
			}
			names = append(names, src[j:k])
			i = k - 1
		}
	}
	return string(b), names
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// RestoreOutputs turns output attributes back into $out. references, for
// messages about a rewritten expression.
func RestoreOutputs(msg string) string { return strings.ReplaceAll(msg, outPrefix, outRef) }

// OutputVocabulary returns base plus one attribute per output field, the
// vocabulary binding expressions compile against: they may read the request
// attributes as well as $out.
func OutputVocabulary(base *attribute.Vocabulary) (*attribute.Vocabulary, error) {
	m := base.Manifest()
	for f := range NumFields {
		name := OutputAttribute(f)
		if _, clash := m[name]; clash {
			return nil, fmt.Errorf("attribute %q is reserved for $out.%s of the kubernetes template", name, f.Name())
		}
		m[name] = f.Type()
	}
	return attribute.NewVocabulary(m), nil
}
