// Package accesslog reads and writes istio-proxy (Envoy) access-log lines and
// maps them to Istio attribute bags (DESIGN §3.1), following
// shared/reference/envoy-sources.md §1c.
//
// A Format is one of Istio's default TEXT formats (1.1 to current), Istio's
// JSON encoding, or a custom Envoy format string (TEXT, or a JSON object of
// keys to operators as in meshConfig.accessLogFormat with JSON encoding).
// A Parser splits a line into the values of the format's command operators
// without copying them (the values are substrings of the line), detecting
// the format when asked to; Entry.Record turns the values into the
// attributes of an attribute-bag record. FormatLine goes the other way: it
// prints the line an istio-proxy would have logged for a bag, for load
// generators and tests.
package accesslog // import "github.com/otelcol-istio/otelcol-istio/internal/accesslog"

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Format is a compiled access-log format. It is immutable and safe for
// concurrent use.
type Format struct {
	name   string
	src    string
	text   seq         // TEXT formats
	json   []jsonField // JSON formats, in the order of the format
	keys   map[string]int
	ops    []*op
	fields [numFields]bool
	lead   byte // the byte every line starts with, 0 when the format does not fix one
	legacy bool // proxies before 1.8 named inbound clusters inbound|port|name|host
	isJSON bool
}

// seq is a compiled TEXT format: literals and operators (indexes into
// Format.ops).
type seq []tok

type tok struct {
	lit string
	op  int // -1 for a literal
}

type jsonField struct {
	key  string
	tmpl seq
	op   int // the only operator of tmpl, or -1
}

// Name is the preset name ("istio-1.23", "json"), or "custom".
func (f *Format) Name() string { return f.name }

// String is the format string, as Envoy would be configured with it.
func (f *Format) String() string { return f.src }

// IsJSON reports whether lines of the format are JSON objects.
func (f *Format) IsJSON() bool { return f.isJSON }

// Istio's default TEXT formats (envoy-sources.md §1c), by the first Istio
// release that used each; a preset covers the releases up to the next one.
const (
	format11  = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% "%DYNAMIC_METADATA(istio.mixer:status)%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME%` + "\n"
	format12  = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% "%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME%` + "\n"
	format13  = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% "%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` + "\n"
	format18  = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` + "\n"
	format19  = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` + "\n"
	format123 = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` + "\n"
)

// jsonKeys is Istio's JSON encoding (accessLogEncoding: JSON): the keys of
// 1.9+ plus istio_policy_status of 1.1–1.8, so that one preset reads every
// release (a key a line lacks is simply absent).
var jsonKeys = [][2]string{
	{"start_time", "%START_TIME%"},
	{"route_name", "%ROUTE_NAME%"},
	{"method", "%REQ(:METHOD)%"},
	{"path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"},
	{"protocol", "%PROTOCOL%"},
	{"response_code", "%RESPONSE_CODE%"},
	{"response_flags", "%RESPONSE_FLAGS%"},
	{"response_code_details", "%RESPONSE_CODE_DETAILS%"},
	{"connection_termination_details", "%CONNECTION_TERMINATION_DETAILS%"},
	{"bytes_received", "%BYTES_RECEIVED%"},
	{"bytes_sent", "%BYTES_SENT%"},
	{"duration", "%DURATION%"},
	{"upstream_service_time", "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%"},
	{"x_forwarded_for", "%REQ(X-FORWARDED-FOR)%"},
	{"user_agent", "%REQ(USER-AGENT)%"},
	{"request_id", "%REQ(X-REQUEST-ID)%"},
	{"authority", "%REQ(:AUTHORITY)%"},
	{"upstream_host", "%UPSTREAM_HOST%"},
	{"upstream_cluster", "%UPSTREAM_CLUSTER_RAW%"},
	{"upstream_local_address", "%UPSTREAM_LOCAL_ADDRESS%"},
	{"downstream_local_address", "%DOWNSTREAM_LOCAL_ADDRESS%"},
	{"downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"},
	{"requested_server_name", "%REQUESTED_SERVER_NAME%"},
	{"upstream_transport_failure_reason", "%UPSTREAM_TRANSPORT_FAILURE_REASON%"},
	{"istio_policy_status", "%DYNAMIC_METADATA(istio.mixer:status)%"},
}

// presets by name; detectOrder is the order auto detection tries the TEXT
// ones in: newest first, and only one of formats with the same shape
// (1.9 and 1.23 lines look alike and mean the same).
var (
	presets     = map[string]*Format{}
	detectOrder []*Format
	jsonPreset  *Format
)

func init() {
	for _, p := range []struct {
		name, src string
		legacy    bool
	}{
		{"istio-1.1", format11, true},
		{"istio-1.2", format12, true},
		{"istio-1.3", format13, true},
		{"istio-1.8", format18, false},
		{"istio-1.9", format19, false},
		{"istio-1.23", format123, false},
	} {
		f, err := compileText(p.name, p.src)
		if err != nil {
			panic(err)
		}
		f.legacy = p.legacy
		presets[p.name] = f
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range jsonKeys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%q", kv[0], kv[1])
	}
	b.WriteByte('}')
	f, err := compileJSON("json", b.String())
	if err != nil {
		panic(err)
	}
	jsonPreset = f
	presets["json"] = f
	for _, n := range []string{"istio-1.23", "istio-1.8", "istio-1.3", "istio-1.2", "istio-1.1"} {
		detectOrder = append(detectOrder, presets[n])
	}
}

// PresetNames lists the names Preset accepts besides "istio-1.N".
func PresetNames() []string {
	return []string{"istio-1.1", "istio-1.2", "istio-1.3", "istio-1.8", "istio-1.9", "istio-1.23", "json"}
}

// Preset returns Istio's default format of a release: "istio-1.N" for any
// N ≥ 1 (the format that release used), or "json" for the JSON encoding.
func Preset(name string) (*Format, error) {
	if f, ok := presets[name]; ok {
		return f, nil
	}
	minor, ok := strings.CutPrefix(name, "istio-1.")
	n, err := strconv.Atoi(minor)
	if !ok || err != nil || n < 1 || strings.HasPrefix(minor, "+") {
		return nil, fmt.Errorf("unknown access-log format %q: want istio-1.N (N ≥ 1), json or a custom format string", name)
	}
	switch {
	case n == 1:
		return presets["istio-1.1"], nil
	case n == 2:
		return presets["istio-1.2"], nil
	case n <= 7:
		return presets["istio-1.3"], nil
	case n == 8:
		return presets["istio-1.8"], nil
	case n <= 22:
		return presets["istio-1.9"], nil
	}
	return presets["istio-1.23"], nil
}

// Compile compiles a custom Envoy format string: TEXT with command
// operators, or a JSON object whose values are such strings (Istio's
// accessLogFormat with accessLogEncoding JSON). A trailing newline is
// ignored.
func Compile(format string) (*Format, error) {
	trimmed := strings.TrimSpace(format)
	if strings.HasPrefix(trimmed, "{") && json.Valid([]byte(trimmed)) {
		return compileJSON("custom", trimmed)
	}
	return compileText("custom", format)
}

func compileText(name, src string) (*Format, error) {
	f := &Format{name: name, src: src}
	body := strings.TrimSuffix(strings.TrimSuffix(src, "\n"), "\r")
	s, err := f.compileSeq(body)
	if err != nil {
		return nil, err
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("access-log format %q is empty", src)
	}
	f.text = s
	if s[0].op < 0 {
		f.lead = s[0].lit[0]
	}
	return f, nil
}

func compileJSON(name, src string) (*Format, error) {
	f := &Format{name: name, src: src, isJSON: true, lead: '{', keys: map[string]int{}}
	dec := json.NewDecoder(strings.NewReader(src))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("JSON access-log format %q is not an object", src)
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("JSON access-log format: %w", err)
		}
		key := kt.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("JSON access-log format, key %q: %w", key, err)
		}
		tmpl, ok := v.(string)
		if !ok {
			// Envoy also allows nested objects and literal numbers; they
			// carry nothing the mapping uses.
			continue
		}
		s, err := f.compileSeq(tmpl)
		if err != nil {
			return nil, fmt.Errorf("JSON access-log format, key %q: %w", key, err)
		}
		jf := jsonField{key: key, tmpl: s, op: -1}
		if len(s) == 1 && s[0].op >= 0 {
			jf.op = s[0].op
		}
		if _, dup := f.keys[key]; dup {
			return nil, fmt.Errorf("JSON access-log format: key %q twice", key)
		}
		f.keys[key] = len(f.json)
		f.json = append(f.json, jf)
	}
	if len(f.json) == 0 {
		return nil, fmt.Errorf("JSON access-log format %q has no keys", src)
	}
	return f, nil
}

// compileSeq splits a TEXT template into literals and operators. An
// operator is %NAME%, %NAME(ARG)% or either with :MAXLEN, as in Envoy's
// substitution format; "%%" is a literal percent sign.
func (f *Format) compileSeq(s string) (seq, error) {
	var out seq
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, tok{lit: lit.String(), op: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i += 2
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9' || s[j] == '_') {
			j++
		}
		name := s[i+1 : j]
		if name == "" {
			return nil, fmt.Errorf("column %d: %q does not start a command operator (%%NAME%%)", i+1, s[i:min(len(s), i+10)])
		}
		arg, hasArg := "", false
		if j < len(s) && s[j] == '(' {
			k := strings.IndexByte(s[j:], ')')
			if k < 0 {
				return nil, fmt.Errorf("column %d: operator %%%s( has no closing parenthesis", i+1, name)
			}
			arg, hasArg = s[j+1:j+k], true
			j += k + 1
		}
		if j < len(s) && s[j] == ':' {
			j++
			d := j
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if d == j {
				return nil, fmt.Errorf("column %d: operator %%%s has ':' without a length", i+1, name)
			}
		}
		if j >= len(s) || s[j] != '%' {
			return nil, fmt.Errorf("column %d: operator %%%s is not closed by %%", i+1, name)
		}
		j++
		flush()
		o := newOp(s[i:j], name, arg, hasArg)
		f.fields[o.field] = true
		out = append(out, tok{op: len(f.ops)})
		f.ops = append(f.ops, o)
		i = j
	}
	flush()
	return out, nil
}
