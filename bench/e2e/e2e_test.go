package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseExposition(t *testing.T) {
	e, err := parseExposition(`# HELP istio_requests_total requests_total
# TYPE istio_requests_total counter
istio_requests_total{reporter="source",source_app="a\"b",response_code="200"} 3
istio_requests_total{response_code="500",reporter="destination",source_app="c"} 4
istio_request_bytes_bucket{reporter="source",le="+Inf"} 7
up 1
`)
	if err != nil {
		t.Fatal(err)
	}
	if total, series := e.sum("istio_requests_total"); total != 7 || series != 2 {
		t.Errorf("sum = %v over %d series, want 7 over 2", total, series)
	}
	// Labels are sorted, so exporters that order them differently agree.
	if v, ok := e[`istio_requests_total{reporter="destination",response_code="500",source_app="c"}`]; !ok || v != 4 {
		t.Errorf("series with re-sorted labels not found: %v", e)
	}
	if _, ok := e[`istio_requests_total{reporter="source",response_code="200",source_app="a\"b"}`]; !ok {
		t.Errorf("escaped quote in a label value not kept: %v", e)
	}
	if _, ok := e["up{}"]; !ok {
		t.Errorf("series without labels missing: %v", e)
	}
}

func TestCompareIstio(t *testing.T) {
	a := exposition{`istio_x{a="1"}`: 1, `istio_x_sum{a="1"}`: 0.30000000000000004, `up{}`: 1}
	b := exposition{`istio_x{a="1"}`: 1, `istio_x_sum{a="1"}`: 0.3}
	if n, diffs := compareIstio(a, b); n != 2 || len(diffs) != 0 {
		t.Errorf("compareIstio = %d, %v; want 2 series, no difference", n, diffs)
	}
	b[`istio_x{a="2"}`] = 1
	b[`istio_x{a="1"}`] = 2
	if _, diffs := compareIstio(a, b); len(diffs) != 2 {
		t.Errorf("compareIstio found %v, want a value and a missing series", diffs)
	}
}

func TestIstioRules(t *testing.T) {
	for rules, gone := range map[string][]string{
		"prom":  {"kind: logentry", "name: stdio\n"},
		"stdio": {"name: promhttp", "compiledAdapter: prometheus"},
		"none":  {"kind: rule", "kind: handler", "kind: metric", "kind: logentry", "kind: kubernetes\n"},
	} {
		cfg, err := istioRules(rules)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range gone {
			if strings.Contains(string(cfg), s) {
				t.Errorf("rule set %s still has %q", rules, s)
			}
		}
		if !strings.Contains(string(cfg), "kind: attributemanifest") {
			t.Errorf("rule set %s lost the attribute manifests", rules)
		}
	}
	if _, err := istioRules("all"); err == nil {
		t.Error("unknown rule set accepted")
	}
}

func TestSummaryLine(t *testing.T) {
	line := "sent 10 page loads (0 TCP connections): 72 reports in 1 requests in 14ms (5165 reports/s); 0 reports refused"
	m := summaryRE.FindStringSubmatch(line)
	if m == nil || m[1] != "72" || m[2] != "5165" || m[3] != "0" {
		t.Errorf("summary %q parsed as %q", line, m)
	}
}

func TestSetEnv(t *testing.T) {
	var o options
	if err := o.setEnv("GOMAXPROCS=1,GOGC=200,GOMEMLIMIT=400MiB"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"GOMAXPROCS=1", "GOGC=200", "GOMEMLIMIT=400MiB"}; !slices.Equal(o.env, want) {
		t.Errorf("env = %q, want %q", o.env, want)
	}
	for _, bad := range []string{"GOGC", "=1", "GO GC=1", "GOGC=1,"} {
		var o options
		if err := o.setEnv(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Every address freeAddr hands out is a new one, as the endpoints of one
// collector need.
func TestFreeAddrDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 300 {
		a, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
	}
}

// A run's rate and CPU are taken over the time the collector was busy
// with the load: 1 000 reports in 200 ms with 10 ms of CPU are 5 000
// reports/s and 50 ms of CPU a second.
func TestRateAndMillicores(t *testing.T) {
	r := result{reports: 1000, busy: 200 * time.Millisecond, cpu: cpuTimes{user: 8 * time.Millisecond, system: 2 * time.Millisecond}}
	if got := r.rate(); got != 5000 {
		t.Errorf("rate = %v, want 5000", got)
	}
	if got := r.millicores(); got != 50 {
		t.Errorf("millicores = %v, want 50", got)
	}
}

// -rate reaches the loadgen runs under measurement, and only when set.
func TestPaced(t *testing.T) {
	o := options{}
	if got := o.paced("--requests", "10"); !slices.Equal(got, []string{"--requests", "10"}) {
		t.Errorf("no -rate: %q", got)
	}
	o.rate = 12.5
	if got := o.paced("--requests", "10"); !slices.Equal(got, []string{"--requests", "10", "--rate", "12.5"}) {
		t.Errorf("-rate 12.5: %q", got)
	}
}

// The accesslog variant's pipeline, taken from the DaemonSet's ConfigMap,
// tails the pod-log layout under its directory and feeds the rules engine.
func TestFileLogConfig(t *testing.T) {
	var cfg struct {
		Extensions map[string]struct {
			Directory string `yaml:"directory"`
		} `yaml:"extensions"`
		Receivers struct {
			FileLog struct {
				Include []string `yaml:"include"`
				StartAt string   `yaml:"start_at"`
				Storage string   `yaml:"storage"`
			} `yaml:"file_log"`
		} `yaml:"receivers"`
		Service struct {
			Extensions []string `yaml:"extensions"`
			Pipelines  map[string]struct {
				Receivers, Processors, Exporters []string
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	out, err := fileLogConfig("../../deploy/kubernetes/configmap.yaml", "/tmp/a b/pods")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Receivers.FileLog.Include; !slices.Equal(got, []string{"/tmp/a b/pods/*/istio-proxy/*.log"}) {
		t.Errorf("include = %q", got)
	}
	if cfg.Receivers.FileLog.StartAt != "beginning" {
		t.Errorf("start_at = %q: lines written before the first poll would be lost", cfg.Receivers.FileLog.StartAt)
	}
	if cfg.Receivers.FileLog.Storage == "" || cfg.Extensions[cfg.Receivers.FileLog.Storage].Directory != "/tmp/a b/checkpoints" {
		t.Errorf("storage %q, extensions %+v: the checkpoints go next to the pod logs", cfg.Receivers.FileLog.Storage, cfg.Extensions)
	}
	if !slices.Contains(cfg.Service.Extensions, cfg.Receivers.FileLog.Storage) || !slices.Contains(cfg.Service.Extensions, "istio_config") {
		t.Errorf("service extensions = %q", cfg.Service.Extensions)
	}
	p := cfg.Service.Pipelines["logs/files"]
	if !slices.Equal(p.Receivers, []string{"file_log"}) || !slices.Equal(p.Processors, []string{"envoy_access_log"}) || !slices.Equal(p.Exporters, []string{"istio_rules"}) {
		t.Errorf("pipeline logs/files = %+v", p)
	}
}

// A negative -rate is refused, not taken as no limit.
func TestCheckRate(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	def, err := lookupVariant("default")
	if err != nil {
		t.Fatal(err)
	}
	for rate, ok := range map[float64]bool{0: true, 200: true, -1: false} {
		o := options{collector: bin, istiotel: bin, variants: []variant{def}, runs: 1, requests: 1, warmup: 1, rate: rate}
		if err := o.check(); (err == nil) != ok {
			t.Errorf("-rate %g: check() = %v", rate, err)
		}
	}
}

// A ConfigMap without the access-log pipeline's parts is an error that
// names it.
func TestFileLogConfigMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "configmap.yaml")
	if err := os.WriteFile(path, []byte("data:\n  config.yaml: |\n    receivers:\n      mixer: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fileLogConfig(path, "/tmp/pods"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("fileLogConfig = %v, want an error naming %s", err, path)
	}
	if _, err := fileLogConfig(filepath.Join(t.TempDir(), "none.yaml"), "/tmp/pods"); err == nil {
		t.Error("a missing ConfigMap file accepted")
	}
}
