package kubeenv

import (
	"slices"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
)

func TestRewriteOutputs(t *testing.T) {
	tests := []struct {
		src, want string
		names     []string
	}{
		{`source.uid | ""`, `source.uid | ""`, nil},
		{`$out.source_pod_ip | ip("0.0.0.0")`, `_out_source_pod_ip | ip("0.0.0.0")`, []string{"source_pod_ip"}},
		{`$out.source_labels["app"] | $out.destination_pod_name`, `_out_source_labels["app"] | _out_destination_pod_name`,
			[]string{"source_labels", "destination_pod_name"}},
		// Inside string literals $out. is text.
		{`"$out.x" == $out.source_owner`, `"$out.x" == _out_source_owner`, []string{"source_owner"}},
		{`'$out.' == "a\"$out.b"`, `'$out.' == "a\"$out.b"`, nil},
		{"`$out.raw` | $out.nope", "`$out.raw` | _out_nope", []string{"nope"}},
		{`$out.`, `_out_`, []string{""}},
	}
	for _, tt := range tests {
		got, names := RewriteOutputs(tt.src)
		if got != tt.want || !slices.Equal(names, tt.names) {
			t.Errorf("RewriteOutputs(%s) = %s %q, want %s %q", tt.src, got, names, tt.want, tt.names)
		}
		if len(got) != len(tt.src) {
			t.Errorf("RewriteOutputs(%s) changed the length", tt.src)
		}
	}
	if got := RestoreOutputs("unknown attribute _out_nope"); got != "unknown attribute $out.nope" {
		t.Errorf("RestoreOutputs = %s", got)
	}
}

func TestFields(t *testing.T) {
	if NumFields != 23 || sideFields != 11 {
		t.Fatalf("%d fields, %d per side", NumFields, sideFields)
	}
	for f := range NumFields {
		got, ok := FieldByName(f.Name())
		if !ok || got != f {
			t.Errorf("FieldByName(%s) = %v", f.Name(), got)
		}
		if f < sideFields {
			// The destination's field at the same offset has the same name
			// and type, but for its side.
			d := f + sideFields
			if d.Name() != "destination"+strings.TrimPrefix(f.Name(), "source") || d.Type() != f.Type() {
				t.Errorf("%s and %s do not pair", f.Name(), d.Name())
			}
		}
	}
	for name, want := range map[string]attribute.Type{
		"source_pod_ip": attribute.TypeIPAddress, "destination_host_ip": attribute.TypeIPAddress,
		"source_labels": attribute.TypeStringMap, "destination_container_name": attribute.TypeString,
	} {
		if f, _ := FieldByName(name); f.Type() != want {
			t.Errorf("%s is %s, want %s", name, f.Type(), want)
		}
	}
	if _, ok := FieldByName("origin_pod_ip"); ok {
		t.Error("origin_pod_ip is not a 1.1 output")
	}
	if InputType("destination_port") != attribute.TypeInt64 || InputType("origin_uid") != attribute.TypeUnspecified {
		t.Error("input types")
	}
}

func TestOutputVocabulary(t *testing.T) {
	base := attribute.DefaultVocabulary()
	v, err := OutputVocabulary(base)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != base.Len()+int(NumFields) {
		t.Errorf("%d attributes", v.Len())
	}
	src, _ := RewriteOutputs(`$out.source_labels["app"] | source.labels["app"] | "unknown"`)
	e, err := cexl.Compile(src, v)
	if err != nil || e.Type() != attribute.TypeString {
		t.Errorf("compile: %v", err)
	}
	clash := base.Manifest()
	clash["_out_source_owner"] = attribute.TypeString
	if _, err := OutputVocabulary(attribute.NewVocabulary(clash)); err == nil || !strings.Contains(err.Error(), `"_out_source_owner" is reserved for $out.source_owner`) {
		t.Errorf("clash: %v", err)
	}
}
