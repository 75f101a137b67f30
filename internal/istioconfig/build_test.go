package istioconfig

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
)

const oracleConfigs = "../../testdata/conformance/mixer-oracle-configs"

func loadFiles(t testing.TB, opts BuildOptions, files ...string) *Snapshot {
	t.Helper()
	var in Input
	for _, f := range files {
		got, err := NewFileSource(f).Load()
		if err != nil {
			t.Fatal(err)
		}
		in.Add(got)
	}
	return Build(in, opts)
}

func loadText(t testing.TB, text string, opts BuildOptions) *Snapshot {
	t.Helper()
	res, probs := Decode("test.yaml", []byte(text))
	return Build(Input{Resources: res, Problems: probs}, opts)
}

func problemTexts(s *Snapshot) []string {
	out := make([]string, len(s.Problems))
	for i, p := range s.Problems {
		out[i] = p.Error()
	}
	return out
}

func unsupportedRefs(s *Snapshot) []string {
	var out []string
	for _, u := range s.Unsupported {
		out = append(out, u.Kind+"/"+u.Namespace+"/"+u.Name)
	}
	slices.Sort(out)
	return out
}

// seedSections splits seed-task-configs.yaml at its "#> =====" markers.
func seedSections(t *testing.T) map[string]string {
	data, err := os.ReadFile("testdata/seed-task-configs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"A-metrics", "A-log", "B-metrics", "B-log", "C", "D"}
	out := map[string]string{}
	i := -1
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if strings.HasPrefix(l, "#> =====") {
			i++
		}
		if i >= 0 {
			out[names[i]] += l
		}
	}
	return out
}

func TestSeedConfigsLoadClean(t *testing.T) {
	sec := seedSections(t)
	// Variant D replaces variant A's log rule; it reuses A's instance and handler.
	aLogWithoutRule := sec["A-log"][:strings.Index(sec["A-log"], "# Rule to send logentry")]
	groups := map[string]string{
		"A-metrics": sec["A-metrics"], "A-log": sec["A-log"], "B-metrics": sec["B-metrics"],
		"B-log": sec["B-log"], "C": sec["C"], "D": aLogWithoutRule + "---\n" + sec["D"],
		"A-all": sec["A-metrics"] + "---\n" + sec["A-log"],
		"B-all": sec["B-metrics"] + "---\n" + sec["B-log"],
	}
	profile, _ := Profile("istio-1.1")
	for name, text := range groups {
		for _, withDefault := range []bool{false, true} {
			in := text
			if withDefault {
				in = string(profile) + "\n---\n" + text
			}
			s := loadText(t, in, BuildOptions{})
			if len(s.Problems) > 0 {
				t.Errorf("%s (with default config: %v): %s", name, withDefault, s.Err())
			}
			if len(s.Rules) == 0 || len(s.Rules[len(s.Rules)-1].Actions) == 0 {
				t.Errorf("%s: no working rule", name)
			}
		}
	}
}

func TestDefaultProfileLoadsClean(t *testing.T) {
	src, err := NewEmbeddedSource("istio-1.1")
	if err != nil {
		t.Fatal(err)
	}
	in, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := Build(in, BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got := unsupportedRefs(s); len(got) > 0 {
		t.Errorf("unsupported = %v, want none", got)
	}
	if s.Counts != (Counts{Accepted: 24}) {
		t.Errorf("counts = %+v", s.Counts)
	}
	if s.DefaultVocabulary || s.Vocabulary.Len() != 89 {
		t.Errorf("vocabulary: default %v, %d attributes; want the profile's 89", s.DefaultVocabulary, s.Vocabulary.Len())
	}
	var rules []string
	for _, r := range s.Rules {
		rules = append(rules, r.Name)
	}
	if want := []string{"kubeattrgenrulerule", "promhttp", "promtcp", "promtcpconnectionclosed", "promtcpconnectionopen",
		"stdio", "stdiotcp", "tcpkubeattrgenrulerule"}; !slices.Equal(rules, want) {
		t.Errorf("rules = %v, want %v", rules, want)
	}
	prom := s.Handlers["prometheus.handler.istio-system"].Prometheus
	if len(prom.Metrics) != 8 || prom.MetricsExpirationPolicy.MetricsExpiryDuration.String() != "10m0s" {
		t.Errorf("prometheus params = %+v", prom)
	}
	if b := prom.Metrics[2].Buckets.Bounds(); len(b) != 9 || b[8] != 1e8 {
		t.Errorf("request_bytes bounds = %v", b)
	}
	acc := s.Instances["accesslog.logentry.istio-system"]
	if len(acc.Variables) != 41 || acc.Timestamp.Type() != attribute.TypeTimestamp || acc.Severity.Text != `"Info"` {
		t.Errorf("accesslog = %d variables, timestamp %v, severity %v", len(acc.Variables), acc.Timestamp.Type(), acc.Severity)
	}
	if !s.Handlers["stdio.handler.istio-system"].Stdio.OutputAsJSON {
		t.Error("stdio handler: outputAsJson lost")
	}
}

// TestOracleConfigs loads the configurations the Mixer oracle ran and checks
// that we refuse exactly what Mixer refused at load (mixs_log_at_start), plus
// the label and bucket mismatches Mixer only hit at runtime
// (prometheus-dispatch-errors, a deliberate difference).
func TestOracleConfigs(t *testing.T) {
	want := map[string][]string{
		"rule-match-edge-cases": {
			"rule/istio-system/nonbool: match", "rule/istio-system/parseerr: match", "rule/istio-system/unknownattr: match",
		},
		"rule-name-resolution": {
			"rule/foo/r8: actions", "rule/foo/r8: actions[0].handler",
			"rule/istio-system/r10: actions", "rule/istio-system/r10: actions[0].instances", "rule/istio-system/r10: actions[0].instances[0]",
			"rule/istio-system/r11: actions[0].instances[0]",
			"rule/istio-system/r6: actions[0].handler",
			"rule/istio-system/r7: actions[0].instances[1]", "rule/istio-system/r7: actions[0].instances[2]",
			"rule/istio-system/r9: actions", "rule/istio-system/r9: actions[0].handler",
		},
		"prometheus-dispatch-errors": {
			"handler/istio-system/hcard: params.metrics[2].label_names",
			"handler/istio-system/hdash: params.metrics[2].label_names",
			"handler/istio-system/hlabel: params.metrics[2].label_names",
			"handler/istio-system/hunsorted: params.metrics[2].buckets.explicit_buckets.bounds[1]",
		},
	}
	// Mixer's own count of load errors, as a cross-check of the table.
	var oracle struct {
		Cases []struct {
			Name  string   `json:"name"`
			Start []string `json:"mixs_log_at_start"`
		} `json:"cases"`
	}
	data, err := os.ReadFile("../../testdata/conformance/mixer-oracle.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &oracle); err != nil {
		t.Fatal(err)
	}
	for _, c := range oracle.Cases {
		errs := 0
		for _, l := range c.Start {
			if strings.HasPrefix(l, "\t* ") {
				errs++
			}
		}
		if c.Name != "prometheus-dispatch-errors" && errs != len(want[c.Name]) {
			t.Errorf("%s: Mixer reported %d load errors, the table expects %d", c.Name, errs, len(want[c.Name]))
		}
	}

	files, _ := filepath.Glob(filepath.Join(oracleConfigs, "*.yaml"))
	if len(files) < 19 {
		t.Fatalf("found %d oracle configs", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		s := loadFiles(t, BuildOptions{}, f)
		var got []string
		for _, p := range s.Problems {
			got = append(got, p.Ref()+": "+p.Field)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s:\n got %q\nwant %q\n%v", name, got, want[name], s.Err())
		}
		if len(s.Unsupported) > 0 {
			t.Errorf("%s: unsupported %v", name, s.Unsupported)
		}
	}
}

// TestNameResolution checks what every rule of the rule-name-resolution case
// routes to (mixer-semantics §d.4).
func TestNameResolution(t *testing.T) {
	s := loadFiles(t, BuildOptions{}, filepath.Join(oracleConfigs, "rule-name-resolution.yaml"))
	got := map[string]string{}
	for _, r := range s.Rules {
		var acts []string
		for _, a := range r.Actions {
			var insts []string
			for _, i := range a.Instances {
				insts = append(insts, i.FQN)
			}
			acts = append(acts, a.Handler.FQN+" <- "+strings.Join(insts, ","))
		}
		got[r.FQN] = strings.Join(acts, "; ")
	}
	want := map[string]string{
		"r1.rule.istio-system":  "doublehandler.prometheus.istio-system <- doublerequestcount.metric.istio-system",
		"r2.rule.istio-system":  "doublehandler.prometheus.istio-system <- ifqn.instance.istio-system",
		"r3.rule.istio-system":  "prometheus.handler.istio-system <- ishort.instance.istio-system",
		"r4.rule.istio-system":  "prometheus.handler.istio-system <- ihandlerkind.instance.istio-system",
		"r5.rule.istio-system":  "fooprom.handler.foo <- insdot.instance.istio-system",
		"r6.rule.istio-system":  "prometheus.handler.istio-system <- isurvivor.instance.istio-system",
		"r7.rule.istio-system":  "prometheus.handler.istio-system <- idup.instance.istio-system",
		"r11.rule.istio-system": "prometheus.handler.istio-system <- ilegacyshort.instance.istio-system",
		"r12.rule.istio-system": "prometheus.handler.istio-system <- ins2.instance.istio-system",
		"r13.rule.istio-system": "prometheus.handler.istio-system <- icross.instance.istio-system",
		"r14.rule.istio-system": "prometheus.handler.istio-system <- fooinst.instance.foo",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes:\n got %v\nwant %v", got, want)
	}
}

func TestCandidates(t *testing.T) {
	tests := []struct{ ref, kind, ns, want string }{
		{"prometheus", "handler", "istio-system", "prometheus.handler.istio-system"},
		{"doublehandler.prometheus", "handler", "istio-system", "doublehandler.prometheus.istio-system doublehandler.handler.prometheus"},
		{"fooprom.foo", "handler", "istio-system", "fooprom.foo.istio-system fooprom.handler.foo"},
		{"a.instance.ns", "instance", "x", "a.instance.ns"},
		{"a.b.c.d", "instance", "x", "a.b.c.d"},
	}
	for _, tt := range tests {
		if got := strings.Join(candidates(tt.ref, tt.kind, tt.ns), " "); got != tt.want {
			t.Errorf("candidates(%q) = %q, want %q", tt.ref, got, tt.want)
		}
	}
}

func TestRuleScoping(t *testing.T) {
	s := loadFiles(t, BuildOptions{}, filepath.Join(oracleConfigs, "rule-namespace-scoping.yaml"))
	names := func(rs []*Rule) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.FQN)
		}
		return strings.Join(out, " ")
	}
	for ns, want := range map[string]string{
		"istio-system": "sysrule.rule.istio-system",
		"":             "sysrule.rule.istio-system",
		"bar":          "sysrule.rule.istio-system",
		"default":      "sysrule.rule.istio-system defrule.rule.default",
		"foo":          "sysrule.rule.istio-system foorule.rule.foo",
	} {
		if got := names(s.RulesFor(ns)); got != want {
			t.Errorf("RulesFor(%q) = %q, want %q", ns, got, want)
		}
	}
	if got := s.Namespaces(); !slices.Equal(got, []string{"default", "foo"}) {
		t.Errorf("Namespaces() = %v", got)
	}
	// Each namespace has its own list (Mixer's lists shared one array).
	d, f := s.RulesFor("default"), s.RulesFor("foo")
	if &d[0] == &f[0] {
		t.Error("namespaces share a backing array")
	}
	// Another default namespace changes which rules are global.
	s2 := loadFiles(t, BuildOptions{DefaultNamespace: "foo"}, filepath.Join(oracleConfigs, "rule-namespace-scoping.yaml"))
	if got := names(s2.RulesFor("bar")); got != "foorule.rule.foo" {
		t.Errorf("with default namespace foo: RulesFor(bar) = %q", got)
	}
}

// TestBrokenFixtures: each fixture breaks one thing; the problems are
// exactly these, and the working trio next to it still loads.
func TestBrokenFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"unknown-attribute", []string{
			`:12: instance/istio-system/badattr: params.dimensions.source: unknown attribute source.workload.nmae (column 15)`}},
		{"match-not-bool", []string{
			`:8: rule/istio-system/nonbool: match: expression 'request.size | 0' evaluated to type INT64, expected type BOOL (column 10)`}},
		{"operand-types", []string{
			`:8: rule/istio-system/codestring: match: EQ($response.code, "200") arg 2 ("200") typeError got STRING, expected INT64 (column 27)`}},
		{"severity-type", []string{
			`:8: logentry/istio-system/badseverity: severity: expression 'response.code | 0' evaluated to type INT64, expected type STRING (column 13)`}},
		{"value-not-string", []string{
			`:8: metric/istio-system/numvalue: value: must be a string, not a number: an expression is written as a YAML string, e.g. '"1"' (column 10)`}},
		{"parse-error", []string{
			`:8: rule/istio-system/parseerr: match: unable to parse expression 'request.id = "x"': 1:12: expected '==', found '=' (column 21)`}},
		{"unresolved-handler", []string{
			`:9: rule/istio-system/nohandler: actions[0].handler: handler "nosuch" not found (looked for nosuch.handler.istio-system); the action is dropped (column 14)`}},
		{"unresolved-instance", []string{
			`:18: rule/istio-system/noinstance: actions[0].instances[0]: instance "legacycount" not found (looked for legacycount.instance.istio-system); did you mean "legacycount.metric"? (a name without a dot only finds kind instance) (column 17)`,
			`:18: rule/istio-system/noinstance: actions[0].instances: no valid instances: the action is dropped (column 16)`,
			`:17: rule/istio-system/noinstance: actions: no valid actions: the rule is ignored (column 3)`}},
		{"template-mismatch", []string{
			`:20: rule/istio-system/logtoprom: actions[0].instances[0]: instance access.logentry.istio-system is a logentry instance, which handler okprom.handler.istio-system (adapter prometheus) does not take (column 17)`,
			`:20: rule/istio-system/logtoprom: actions[0].instances: no valid instances: the action is dropped (column 16)`,
			`:19: rule/istio-system/logtoprom: actions: no valid actions: the rule is ignored (column 3)`}},
		{"buckets-explicit", []string{
			`:15: prometheus/istio-system/unsorted: metrics[0].buckets.explicitBuckets.bounds[2]: bounds must be strictly increasing: 1 follows 1 (column 26)`,
			`:15: prometheus/istio-system/unsorted: metrics[0].buckets.explicitBuckets.bounds[3]: bounds must be strictly increasing: 0.5 follows 1 (column 29)`}},
		{"buckets-linear", []string{
			`:15: prometheus/istio-system/linear: metrics[0].buckets.linear_buckets.num_finite_buckets: numFiniteBuckets must be greater than 0, not 0 (column 29)`,
			`:16: prometheus/istio-system/linear: metrics[0].buckets.linear_buckets.width: width must be greater than 0, not 0 (column 16)`}},
		{"buckets-exponential", []string{
			`:16: prometheus/istio-system/expo: metrics[0].buckets.exponentialBuckets.growthFactor: growthFactor must be greater than 1, not 1 (column 23)`,
			`:17: prometheus/istio-system/expo: metrics[0].buckets.exponentialBuckets.scale: scale must be greater than 0, not -1 (column 16)`}},
		{"label-mismatch", []string{
			`:28: handler/istio-system/mismatch: params.metrics[0].label_names: label names do not match the dimensions of instance twodims.instance.istio-system: no dimension for label "sourceapp", "destination"; no label for dimension "source-app"; dimension keys are not sanitised, so rename dimension "source-app" to "sourceapp"; the metric is dropped (column 20)`}},
		{"bad-yaml", []string{
			`:14: invalid YAML: mapping values are not allowed in this context`}},
		{"duplicate-names", []string{
			`:38: rule/istio-system/okrule: duplicate of the resource defined at testdata/broken/duplicate-names.yaml:2; this one is ignored`}},
		{"unknown-field", []string{
			`:10: prometheus/istio-system/typo: metrics[0].instance_nme: unknown field "instance_nme" (did you mean "instance_name"?) (column 5)`,
			`:9: prometheus/istio-system/typo: metrics[0]: instanceName is missing: name the metric instance it exports, e.g. requestcount.metric.istio-system (column 5)`}},
		{"metric-kind", []string{
			`:13: handler/istio-system/badkind: params.metrics[0].kind: must be one of UNSPECIFIED, GAUGE, COUNTER, DISTRIBUTION (or its number 0-3), not "COUNTR" (column 13)`}},
		{"stdio-params", []string{
			`:10: stdio/istio-system/tofile: severity_levels.warning: must be one of INFO, WARNING, ERROR (or its number 0-2), not "WARN" (column 14)`,
			`:8: stdio/istio-system/tofile: outputPath is required when logStream is FILE (column 3)`}},
		{"lang-cel", []string{
			`:11: rule/istio-system/celrule: match: unable to parse expression '(request.headers["x-mode"] | "") == "canary"': 1:28: token recognition error at: '|' (column 37)`}},
		{"missing-name", []string{
			`:5: rule/istio-system/(unnamed): metadata.name: name is missing (column 3)`}},
		{"manifest-type", []string{
			`:15: attributemanifest/istio-system/custom: attributes.request.flag.valueType: unknown value type "BOOLEAN": want one of STRING, INT64, DOUBLE, BOOL, TIMESTAMP, IP_ADDRESS, EMAIL_ADDRESS, URI, DNS_NAME, DURATION, STRING_MAP (column 18)`}},
		{"expiry", []string{
			`:11: handler/istio-system/noexpiry: params.metricsExpirationPolicy.metricsExpiryDuration: must be a duration such as "10m" or "90s", not a number (column 30)`}},
	}
	files, _ := filepath.Glob("testdata/broken/*.yaml")
	if len(files) != len(tests) {
		t.Errorf("%d fixtures in testdata/broken, %d in the table", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := "testdata/broken/" + tt.file + ".yaml"
			s := loadFiles(t, BuildOptions{}, path)
			var want []string
			for _, w := range tt.want {
				want = append(want, path+w)
			}
			if got := problemTexts(s); !slices.Equal(got, want) {
				t.Errorf("problems:\n got %q\nwant %q", got, want)
			}
			// The working trio is untouched.
			r := s.Rules[slices.IndexFunc(s.Rules, func(r *Rule) bool { return r.FQN == "okrule.rule.istio-system" })]
			if len(r.Actions) != 1 || r.Actions[0].Handler.FQN != "okprom.handler.istio-system" ||
				len(r.Actions[0].Instances) != 1 || r.Actions[0].Instances[0].FQN != "okcount.instance.istio-system" {
				t.Errorf("okrule = %+v", r)
			}
			if h := s.Handlers["okprom.handler.istio-system"]; h == nil || len(h.Prometheus.Metrics) != 1 {
				t.Errorf("okprom = %+v", h)
			}
		})
	}
}

func TestSpellingsAndEnums(t *testing.T) {
	const snake = `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: h, namespace: istio-system}
spec:
  compiled_adapter: prometheus
  params:
    metrics_expiration_policy: {metrics_expiry_duration: 90s, expiry_check_interval_duration: 10s}
    metrics:
    - {name: a, instance_name: i.instance.istio-system, kind: DISTRIBUTION, label_names: [x],
       buckets: {exponential_buckets: {num_finite_buckets: 3, growth_factor: 2, scale: 0.5}}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: s, namespace: istio-system}
spec:
  compiled_adapter: stdio
  params: {log_stream: STDERR, severity_levels: {warning: WARNING}, metric_level: ERROR, output_as_json: false, output_level: error}
`
	const camel = `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: h, namespace: istio-system}
spec:
  compiledAdapter: prometheus
  params:
    metricsExpirationPolicy: {metricsExpiryDuration: 1m30s, expiryCheckIntervalDuration: "10s"}
    metrics:
    - {name: a, instanceName: i.instance.istio-system, kind: 3, labelNames: [x],
       buckets: {exponentialBuckets: {numFiniteBuckets: "3", growthFactor: "2", scale: 0.5}}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: s, namespace: istio-system}
spec:
  compiledAdapter: stdio
  params: {logStream: 1, severityLevels: {warning: 1}, metricLevel: 2, outputAsJson: "false", outputLevel: 2}
`
	a, b := loadText(t, snake, BuildOptions{}), loadText(t, camel, BuildOptions{})
	if a.Err() != nil || b.Err() != nil {
		t.Fatalf("problems: %v / %v", a.Err(), b.Err())
	}
	for _, fqn := range []string{"h.handler.istio-system", "s.handler.istio-system"} {
		x, y := *a.Handlers[fqn], *b.Handlers[fqn]
		if !reflect.DeepEqual(x.Prometheus, y.Prometheus) || !reflect.DeepEqual(x.Stdio, y.Stdio) {
			t.Errorf("%s differs:\n%+v\n%+v", fqn, x, y)
		}
	}
	st := a.Handlers["s.handler.istio-system"].Stdio
	if st.LogStream != StreamStderr || st.MetricLevel != LevelError || st.OutputAsJSON || st.OutputLevel != LevelError {
		t.Errorf("stdio = %+v", st)
	}
	// A severity map given in config replaces the default one (§d.6).
	if len(st.SeverityLevels) != 1 || st.Level("warning") != LevelWarning || st.Level("error") != LevelInfo {
		t.Errorf("severity levels = %v", st.SeverityLevels)
	}
	if b := a.Handlers["h.handler.istio-system"].Prometheus.Metrics[0].Buckets.Bounds(); !slices.Equal(b, []float64{0.5, 1, 2, 4}) {
		t.Errorf("bounds = %v", b)
	}
}

func TestStdioDefaults(t *testing.T) {
	s := loadText(t, `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: d, namespace: istio-system}
spec: {compiledAdapter: stdio, params: {}}
---
apiVersion: config.istio.io/v1alpha2
kind: stdio
metadata: {name: f, namespace: istio-system}
spec: {logStream: ROTATED_FILE, outputPath: /tmp/x.log, maxRotatedFiles: 3}
`, BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got := *s.Handlers["d.handler.istio-system"].Stdio; !reflect.DeepEqual(got, DefaultStdioParams()) {
		t.Errorf("params: {} = %+v, want the defaults", got)
	}
	f := s.Handlers["f.stdio.istio-system"].Stdio
	if f.LogStream != StreamRotatedFile || f.MaxRotatedFiles != 3 || f.MaxDaysBeforeRotation != 30 || len(f.SeverityLevels) != 14 {
		t.Errorf("stdio f = %+v", f)
	}
}

func TestInstanceModel(t *testing.T) {
	s := loadText(t, `
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: legacy, namespace: istio-system}
spec:
  selector: context.protocol == "tcp"
  actions: [{handler: h, instances: [m], name: first}]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: always, namespace: istio-system}
spec:
  match: "  true  "
  actions: [{handler: h, instances: [m]}]
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: m, namespace: istio-system}
spec:
  compiledTemplate: metric
  params:
    value: response.duration | "0ms"
    dimensions: {z: '"z"', a: request.size | 0, m: source.labels}
    monitoredResourceType: '"UNSPECIFIED"'
    monitoredResourceDimensions: {b: '"b"'}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: h, namespace: istio-system}
spec: {compiledAdapter: fluentd, params: {address: "localhost:24224"}}
`, BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	m := s.Instances["m.instance.istio-system"]
	var dims []string
	for _, d := range m.Dimensions {
		dims = append(dims, d.Name+":"+d.Expr.Type().String())
	}
	if got := strings.Join(dims, " "); got != "a:INT64 m:STRING_MAP z:STRING" {
		t.Errorf("dimensions = %s", got)
	}
	if m.Value.Type() != attribute.TypeDuration || m.Value.Lang != LangCEXL || m.Value.Compiled == nil ||
		m.MonitoredResourceType.Text != `"UNSPECIFIED"` || len(m.MonitoredResourceDimensions) != 1 {
		t.Errorf("instance = %+v", m)
	}
	rules := map[string]*Rule{}
	for _, r := range s.Rules {
		rules[r.Name] = r
	}
	if r := rules["legacy"]; r.Match == nil || r.Match.Text != `context.protocol == "tcp"` || r.Actions[0].Name != "first" {
		t.Errorf("selector is not read as match: %+v", r)
	}
	if rules["always"].Match != nil {
		t.Errorf(`match "  true  " should mean always, got %v`, rules["always"].Match)
	}
	h := s.Handlers["h.handler.istio-system"]
	if h.Adapter != "fluentd" || h.Raw["address"] != "localhost:24224" || h.Prometheus != nil || h.Stdio != nil {
		t.Errorf("handler = %+v", h)
	}
	if got := unsupportedRefs(s); !slices.Equal(got, []string{"handler/istio-system/h"}) {
		t.Errorf("unsupported = %v", got)
	}
}

func TestUnsupportedKinds(t *testing.T) {
	s := loadText(t, `
apiVersion: config.istio.io/v1alpha2
kind: listentry
metadata: {name: l, namespace: istio-system}
spec: {value: source.ip}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: t, namespace: istio-system}
spec: {compiledTemplate: tracespan, params: {traceId: 'request.headers["x-b3-traceid"]'}}
---
apiVersion: config.istio.io/v1alpha2
kind: kubernetesenv
metadata: {name: k, namespace: istio-system}
spec: {}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: dr, namespace: istio-system}
spec: {host: istio-telemetry}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r, namespace: istio-system}
spec:
  actions:
  - {handler: k.kubernetesenv, instances: [l.listentry]}
`, BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"destinationrule/istio-system/dr", "instance/istio-system/t",
		"listentry/istio-system/l", "rule/istio-system/r"}
	if got := unsupportedRefs(s); !slices.Equal(got, want) {
		t.Errorf("unsupported = %v, want %v", got, want)
	}
	if s.Counts != (Counts{Accepted: 1, Unsupported: 4}) { // the kubernetesenv handler is implemented
		t.Errorf("counts = %+v", s.Counts)
	}
}

// TestLanguageOverride: BuildOptions.Language, Mixer's ISTIO_LANG, sets the
// language of every rule and instance but those annotated OTTL.
func TestLanguageOverride(t *testing.T) {
	const text = `
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: cel, namespace: istio-system, annotations: {policy.istio.io/lang: CEL}}
spec: {compiledTemplate: logentry, params: {severity: '"info"', variables: {principal: request.auth.principal}}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: o, namespace: istio-system, annotations: {policy.istio.io/lang: OTTL}}
spec: {compiledTemplate: logentry, params: {severity: '"info"', variables: {path: 'attributes["request.path"]'}}}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r, namespace: istio-system}
spec: {match: request.auth.principal == "", actions: [{handler: h, instances: [cel, o]}]}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: h, namespace: istio-system}
spec: {compiledAdapter: stdio}
`
	s := loadText(t, text, BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatalf("without the override: %v", err)
	}
	if s.Rules[0].Lang != LangCEXL {
		t.Errorf("rule language %s without the override, want CEXL", s.Rules[0].Lang)
	}
	if cel := s.Instances["cel.instance.istio-system"]; cel.Lang != LangCEL || cel.Variables[0].Expr.Compiled.Dialect() != cexl.CEL {
		t.Errorf("instance annotated CEL: %s, compiled as %s; want CEL", cel.Lang, cel.Variables[0].Expr.Compiled.Dialect())
	}

	s = loadText(t, text, BuildOptions{Language: LangCEL})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if r := s.Rules[0]; r.Lang != LangCEL || r.Match.Compiled.Dialect() != cexl.CEL {
		t.Errorf("rule under a CEL override: %s, compiled as %s; want CEL", r.Lang, r.Match.Compiled.Dialect())
	}

	s = loadText(t, text, BuildOptions{Language: LangCOMPAT})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	r, cel := s.Rules[0], s.Instances["cel.instance.istio-system"]
	if r.Lang != LangCOMPAT || r.Match.Compiled.Dialect() != cexl.COMPAT {
		t.Errorf("rule: %s, compiled as %s; want COMPAT", r.Lang, r.Match.Compiled.Dialect())
	}
	if cel.Lang != LangCOMPAT || cel.Variables[0].Expr.Compiled.Dialect() != cexl.COMPAT {
		t.Errorf("instance annotated CEL: %s, compiled as %s; want COMPAT", cel.Lang, cel.Variables[0].Expr.Compiled.Dialect())
	}
	if o := s.Instances["o.instance.istio-system"]; o.Lang != LangOTTL {
		t.Errorf("instance annotated OTTL: %s, want OTTL", o.Lang)
	}

	s = loadText(t, strings.ReplaceAll(text, "lang: CEL}", "lang: COMPAT}"), BuildOptions{Language: LangCEXL})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if d := s.Instances["cel.instance.istio-system"].Variables[0].Expr.Compiled.Dialect(); d != cexl.CEXL {
		t.Errorf("instance annotated COMPAT under a CEXL override compiled as %s", d)
	}
}

func TestOTTL(t *testing.T) {
	const text = `
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: o
  namespace: istio-system
  annotations: {policy.istio.io/lang: OTTL}
spec:
  compiledTemplate: logentry
  params:
    severity: '"info"'
    variables: {path: 'attributes["request.path"]', bad: 'nope('}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: r
  namespace: istio-system
  annotations: {policy.istio.io/lang: ottl}
spec:
  match: attributes["context.protocol"] == "http"
  actions: [{handler: h, instances: [o]}]
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: h, namespace: istio-system}
spec: {compiledAdapter: stdio, params: {}}
`
	// Without a hook OTTL is kept unchecked.
	s := loadText(t, text, BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	o := s.Instances["o.instance.istio-system"]
	if o.Lang != LangOTTL || o.Variables[0].Name != "bad" || o.Variables[0].Expr.Lang != LangOTTL || o.Variables[0].Expr.Compiled != nil {
		t.Errorf("instance = %+v", o)
	}
	if r := s.Rules[0]; r.Lang != LangOTTL || r.Match.Text != `attributes["context.protocol"] == "http"` {
		t.Errorf("rule = %+v", r)
	}
	// With a hook its errors reject the resource.
	var seen []string
	hook := func(src string) error {
		seen = append(seen, src)
		if strings.HasSuffix(src, "(") {
			return errors.New("unexpected end of input")
		}
		return nil
	}
	s = loadText(t, text, BuildOptions{CompileOTTL: hook})
	want := []string{
		`test.yaml:12: instance/istio-system/o: params.variables.bad: OTTL: unexpected end of input (column 58)`,
		`test.yaml:22: rule/istio-system/r: actions[0].instances[0]: instance "o" resolves to o.instance.istio-system, which was rejected (column 38)`,
		`test.yaml:22: rule/istio-system/r: actions[0].instances: no valid instances: the action is dropped (column 37)`,
		`test.yaml:22: rule/istio-system/r: actions: no valid actions: the rule is ignored (column 12)`,
	}
	if got := problemTexts(s); !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
	if len(seen) != 4 {
		t.Errorf("hook saw %q", seen)
	}
}

// TestLastGood: a broken new version of a resource keeps the last good one;
// a file that stops parsing keeps its resources; a removed resource goes.
func TestLastGood(t *testing.T) {
	trio, err := os.ReadFile("testdata/good-trio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := string(trio)
	first := loadText(t, good, BuildOptions{})
	if first.Err() != nil {
		t.Fatal(first.Err())
	}

	broken := strings.Replace(good, `match: context.protocol == "http"`, `match: context.protocol = "http"`, 1)
	second := loadText(t, broken, BuildOptions{Previous: first})
	if len(second.Problems) != 2 || !strings.Contains(second.Problems[1].Message, "keeping the last good version (test.yaml:29)") {
		t.Fatalf("problems = %v", second.Err())
	}
	if len(second.Rules) != 1 || second.Rules[0].Match.Text != `context.protocol == "http"` {
		t.Errorf("rule = %+v, want the last good one", second.Rules[0])
	}
	if second.Counts != (Counts{Accepted: 2, Rejected: 1}) {
		t.Errorf("counts = %+v", second.Counts)
	}
	// The fallback is itself remembered: a third broken build still has it.
	third := loadText(t, broken, BuildOptions{Previous: second})
	if len(third.Rules) != 1 || third.Rules[0].Match.Text != `context.protocol == "http"` {
		t.Error("last good version lost on the second broken build")
	}

	// A syntax error in the file keeps everything that file had.
	unparsable := strings.Replace(good, "kind: rule", "kind: rule\n  oops: [", 1)
	fourth := loadText(t, unparsable, BuildOptions{Previous: third})
	if len(fourth.Rules) != 1 || len(fourth.Instances) != 1 || len(fourth.Handlers) != 1 {
		t.Errorf("after a syntax error: %d rules %d instances %d handlers; %v", len(fourth.Rules), len(fourth.Instances), len(fourth.Handlers), fourth.Err())
	}

	// Removing the rule removes it, even after all that.
	removed := good[:strings.LastIndex(good, "---")]
	fifth := loadText(t, removed, BuildOptions{Previous: fourth})
	if len(fifth.Rules) != 0 || fifth.Err() != nil {
		t.Errorf("rule not removed: %v %v", fifth.Rules, fifth.Err())
	}
}

func TestCrossSourceDuplicatesAndDefaultNamespace(t *testing.T) {
	a, _ := Decode("a.yaml", []byte("apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: r}\nspec: {actions: []}\n"))
	s := Build(Input{Resources: a}, BuildOptions{DefaultNamespace: "mesh"})
	want := []string{"a.yaml:1: rule/mesh/r: actions: the rule has no actions"}
	if got := problemTexts(s); !slices.Equal(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
}

func TestMetricNameClash(t *testing.T) {
	s := loadText(t, `
apiVersion: config.istio.io/v1alpha2
kind: prometheus
metadata: {name: a, namespace: istio-system}
spec:
  metrics:
  - {name: x, instance_name: i.instance.istio-system, kind: COUNTER}
  - {name: y, namespace: istio, instance_name: i.instance.istio-system, kind: GAUGE}
---
apiVersion: config.istio.io/v1alpha2
kind: prometheus
metadata: {name: b, namespace: istio-system}
spec:
  metrics:
  - {name: x, instance_name: i.instance.istio-system, kind: COUNTER}
  - {name: "y", instance_name: i.instance.istio-system, kind: COUNTER}
  - {name: z, instance_name: i.instance.istio-system, kind: COUNTER}
  - {name: z, instance_name: i.instance.istio-system, kind: COUNTER}
`, BuildOptions{})
	want := []string{
		`test.yaml:16: prometheus/istio-system/b: metrics[1]: metric istio_y is already defined differently by a.prometheus.istio-system (metrics[1]); this one is dropped (column 5)`,
		`test.yaml:18: prometheus/istio-system/b: metrics[3]: metric istio_z is defined twice in this handler (also at metrics[2]); this one is dropped (column 5)`,
	}
	if got := problemTexts(s); !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
	if n := len(s.Handlers["b.prometheus.istio-system"].Prometheus.Metrics); n != 2 {
		t.Errorf("b keeps %d metrics, want 2", n)
	}
}

// TestExpressionPositions: the column of an expression error is that of the
// offending part in the file, whatever the YAML quoting.
func TestExpressionPositions(t *testing.T) {
	head := "apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: r, namespace: istio-system}\nspec:\n  actions: [{handler: h, instances: [i]}]\n"
	tests := []struct{ match, want string }{
		{`  match: request.id = "x"`, `:6: rule/istio-system/r: match: unable to parse expression 'request.id = "x"': 1:12: expected '==', found '=' (column 21)`},
		{`  match: 'request.id = ''x'''`, `:6: rule/istio-system/r: match: unable to parse expression 'request.id = 'x'': 1:12: expected '==', found '=' (column 22)`},
		{`  match: "request.id = \"x\""`, `:6: rule/istio-system/r: match: unable to parse expression 'request.id = "x"': 1:12: expected '==', found '=' (column 22)`},
		{`  match: "\"a\" == request.id = \"x\""`, `:6: rule/istio-system/r: match: unable to parse expression '"a" == request.id = "x"': 1:19: expected '==', found '=' (column 31)`},
		{"  match: |\n    request.id == \"x\" &&\n    request.nope == \"y\"", `:8: rule/istio-system/r: match: unknown attribute request.nope`},
		{"  match: >-\n    request.id ==\n    1", `:7: rule/istio-system/r: match: EQ($request.id, 1) arg 2 (1) typeError got INT64, expected STRING`},
	}
	for _, tt := range tests {
		s := loadText(t, head+tt.match+"\n", BuildOptions{})
		if got := problemTexts(s); len(got) < 1 || got[0] != "test.yaml"+tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.match, got, "test.yaml"+tt.want)
		}
	}
}
