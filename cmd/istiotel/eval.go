package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

func init() {
	register("eval", "evaluate a Mixer (CEXL) expression against attributes", runEval)
}

// loadManifestYAML parses attributemanifest YAML into name → type. It is nil
// in builds without YAML support; the config loader installs it.
var loadManifestYAML func([]byte) (map[string]attribute.Type, error)

const evalUsage = `usage: istiotel eval [--lang CEXL|COMPAT|CEL] [--manifest FILE]... [--attributes FILE] EXPR

Compiles EXPR with Mixer's expression language and evaluates it against the
attributes in FILE. Prints one JSON line: {"type":"INT64","value":2} on
success, {"error":"..."} on failure.

  --lang L           CEXL (the default), COMPAT or CEL: the language of
                     resources annotated policy.istio.io/lang: COMPAT
                     (CEXL's syntax, CEL's semantics: absent attributes
                     read as their type's default) or CEL (CEL's syntax
                     too), Mixer 1.2 – 1.7.

  --manifest FILE    attribute vocabulary: a JSON object {"name":"TYPE",...},
                     a JSON attributemanifest, or attributemanifest YAML when
                     built with YAML support; repeat to merge several.
                     Default: Istio's default vocabulary (istioproxy and
                     kubernetes manifests).
  --attributes FILE  JSON object {"name":{"type":"STRING","value":...},...};
                     "type" defaults to the declared type. TIMESTAMP values
                     are RFC 3339 text, DURATION Go durations ("20ms"),
                     IP_ADDRESS text, STRING_MAP objects.

Exit status: 0 success, 1 evaluation error, 2 parse, type or usage error.
`

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runEval(args []string, stdout, stderr io.Writer) int {
	var manifests stringList
	var attrFile, lang string
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&manifests, "manifest", "")
	fs.StringVar(&lang, "lang", "CEXL", "")
	fs.StringVar(&attrFile, "attributes", "", "")
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "istiotel eval: "+format+"\n\n", a...)
		fmt.Fprint(stderr, evalUsage)
		return 2
	}

	// Flags may come before or after the expression.
	var exprs []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, evalUsage)
				return 0
			}
			return usageErr("%v", err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		exprs, rest = append(exprs, rest[0]), rest[1:]
	}
	if len(exprs) != 1 {
		return usageErr("want exactly one expression, got %d", len(exprs))
	}
	l, ok := istioconfig.ParseLang(lang)
	if !ok || l == "" {
		return usageErr("--lang %s: want CEXL, COMPAT or CEL", lang)
	}

	vocab := attribute.DefaultVocabulary()
	if len(manifests) > 0 {
		var all []map[string]attribute.Type
		for _, path := range manifests {
			m, err := readManifest(path)
			if err != nil {
				return usageErr("--manifest %s: %v", path, err)
			}
			all = append(all, m)
		}
		merged, err := attribute.MergeManifests(all...)
		if err != nil {
			return usageErr("--manifest: %v", err)
		}
		vocab = attribute.NewVocabulary(merged)
	}
	bag := attribute.NewBag(vocab)
	if attrFile != "" {
		if err := readAttributes(attrFile, bag, stderr); err != nil {
			return usageErr("--attributes %s: %v", attrFile, err)
		}
	}

	expr, err := cexl.CompileDialect(exprs[0], vocab, l.Dialect())
	if err != nil {
		writeJSON(stdout, map[string]string{"error": err.Error()})
		return 2
	}
	val, err := expr.Eval(bag)
	if err != nil {
		writeJSON(stdout, map[string]string{"error": err.Error()})
		return 1
	}
	writeJSON(stdout, struct {
		Type  string `json:"type"`
		Value any    `json:"value"`
	}{val.Type().String(), jsonValue(val)})
	return 0
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // expressions are full of < > &
	_ = enc.Encode(v)
}

// readManifest accepts {"name":"TYPE"}, {"name":{"valueType":"TYPE"}}, a
// JSON attributemanifest resource, or (with YAML support) its YAML form.
func readManifest(path string) (map[string]attribute.Type, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		if loadManifestYAML == nil {
			return nil, errors.New(`not JSON; YAML manifests need the YAML support of the config loader, which this build lacks (use JSON: {"name":"TYPE",...})`)
		}
		return loadManifestYAML(data)
	}
	if specRaw, ok := raw["spec"]; ok && bytes.HasPrefix(bytes.TrimSpace(specRaw), []byte("{")) {
		var spec struct {
			Attributes map[string]json.RawMessage `json:"attributes"`
		}
		if err := json.Unmarshal(specRaw, &spec); err != nil {
			return nil, fmt.Errorf("spec: %v", err)
		}
		raw = spec.Attributes
	}
	m := make(map[string]attribute.Type, len(raw))
	for name, r := range raw {
		var typeName string
		if err := json.Unmarshal(r, &typeName); err != nil {
			var info struct {
				ValueType string `json:"valueType"`
			}
			if err := json.Unmarshal(r, &info); err != nil || info.ValueType == "" {
				return nil, fmt.Errorf("attribute %s: want a type name or {\"valueType\":...}", name)
			}
			typeName = info.ValueType
		}
		t, err := attribute.ParseType(typeName)
		if err != nil || !t.Valid() {
			return nil, fmt.Errorf("attribute %s: unknown value type %q", name, typeName)
		}
		m[name] = t
	}
	return m, nil
}

// readAttributes fills bag from {"name":{"type":...,"value":...}}. Values
// may have a type other than the declared one, to see how expressions treat
// wrongly typed input. Attributes outside the vocabulary are reported and
// skipped: no expression can read them.
func readAttributes(path string, bag *attribute.Bag, stderr io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var raw map[string]struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	vocab := bag.Vocabulary()
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		a := raw[name]
		id, declared, ok := vocab.Lookup(name)
		if !ok {
			fmt.Fprintf(stderr, "istiotel eval: attribute %s is not in the vocabulary; ignored\n", name)
			continue
		}
		t := declared
		if a.Type != "" {
			if t, err = attribute.ParseType(a.Type); err != nil || !t.Valid() {
				return fmt.Errorf("attribute %s: unknown type %q", name, a.Type)
			}
		}
		if len(a.Value) == 0 {
			return fmt.Errorf("attribute %s: no value", name)
		}
		v, err := parseValue(t, a.Value)
		if err != nil {
			return fmt.Errorf("attribute %s: %v", name, err)
		}
		bag.Set(id, v)
	}
	return nil
}

// parseValue decodes one JSON value of type t.
func parseValue(t attribute.Type, raw json.RawMessage) (attribute.Value, error) {
	var s string
	if t.StringBacked() || t == attribute.TypeTimestamp || t == attribute.TypeDuration || t == attribute.TypeIPAddress {
		if err := json.Unmarshal(raw, &s); err != nil {
			return attribute.Value{}, fmt.Errorf("want a JSON string for %s", t)
		}
	}
	switch t {
	case attribute.TypeString:
		return attribute.StringValue(s), nil
	case attribute.TypeDNSName:
		return attribute.DNSNameValue(s), nil
	case attribute.TypeEmailAddress:
		return attribute.EmailValue(s), nil
	case attribute.TypeURI:
		return attribute.URIValue(s), nil
	case attribute.TypeInt64:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return attribute.Value{}, errors.New("want an integer")
		}
		i, err := n.Int64()
		if err != nil {
			return attribute.Value{}, fmt.Errorf("want an integer: %v", err)
		}
		return attribute.Int64Value(i), nil
	case attribute.TypeDouble:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return attribute.Value{}, errors.New("want a number")
		}
		return attribute.DoubleValue(f), nil
	case attribute.TypeBool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return attribute.Value{}, errors.New("want true or false")
		}
		return attribute.BoolValue(b), nil
	case attribute.TypeTimestamp:
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return attribute.Value{}, fmt.Errorf("want an RFC 3339 time: %v", err)
		}
		return attribute.TimestampValue(ts), nil
	case attribute.TypeDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return attribute.Value{}, err
		}
		return attribute.DurationValue(d), nil
	case attribute.TypeIPAddress:
		ip := net.ParseIP(s)
		if ip == nil {
			return attribute.Value{}, fmt.Errorf("invalid IP address %q", s)
		}
		if ip4 := ip.To4(); ip4 != nil && !strings.Contains(s, ":") {
			ip = ip4 // a dotted address arrives as 4 bytes from the proxy
		}
		return attribute.IPValue(ip), nil
	case attribute.TypeStringMap:
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			return attribute.Value{}, errors.New("want an object of strings")
		}
		return attribute.StringMapValue(attribute.StringMapOf(m)), nil
	}
	return attribute.Value{}, fmt.Errorf("unsupported type %s", t)
}

// jsonValue renders a value in the conventions of the attributes file.
func jsonValue(v attribute.Value) any {
	switch v.Type() {
	case attribute.TypeInt64:
		return v.Int64()
	case attribute.TypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(f) // JSON has no NaN or Inf
		}
		return f
	case attribute.TypeBool:
		return v.Bool()
	case attribute.TypeTimestamp:
		return v.Time().Format(time.RFC3339Nano)
	case attribute.TypeDuration:
		return v.Duration().String()
	case attribute.TypeIPAddress:
		return net.IP(v.IP()).String()
	case attribute.TypeStringMap:
		return v.StringMap().Map()
	}
	return v.Str()
}
