package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// variant is one collector setup to measure: which binary, which input
// protocol, which rules.
type variant struct {
	name     string
	peer     bool   // the stock contrib collector of bench/peer
	floor    bool   // no collector: the bare gRPC server of floor.go
	protocol string // istiotel loadgen --protocol
	rules    string // Istio config: "default", "prom", "stdio" or "none" (ours only)
	about    string
}

var variants = []variant{
	{name: "default", protocol: "mixer", rules: "default", about: "Mixer Report in; embedded default (8 metrics + accesslog)"},
	{name: "prom", protocol: "mixer", rules: "prom", about: "Mixer Report in; Prometheus rules only"},
	{name: "stdio", protocol: "mixer", rules: "stdio", about: "Mixer Report in; stdio (accesslog) rules only"},
	{name: "none", protocol: "mixer", rules: "none", about: "Mixer Report in; attribute manifests only, no rules: receiving and decoding"},
	{name: "als", protocol: "als", rules: "default", about: "Envoy ALS in; embedded default"},
	{name: "accesslog", protocol: "accesslog", rules: "default", about: "istio-proxy access-log lines tailed by file_log (the DaemonSet's logs/files pipeline); embedded default"},
	{name: "otel-als", protocol: "otel-als", rules: "default", about: "access-log lines from Envoy's OpenTelemetry access logger into otlp (the DaemonSet's logs/otel-als pipeline); embedded default"},
	{name: "otlp", protocol: "otlp", rules: "default", about: "OTLP bag records in; embedded default"},
	{name: "otlp-prom", protocol: "otlp", rules: "prom", about: "OTLP bag records in; Prometheus rules only (the peer's input and output)"},
	{name: "grpc-floor", floor: true, protocol: "mixer", about: "no collector: a bare grpc-go server that copies each Report and counts its reports, the floor of any Go receiver"},
	{name: "peer", peer: true, protocol: "otlp", rules: "prom", about: "stock contrib: otlp → batch → transform → signal_to_metrics → delta_to_cumulative → prometheus"},
}

func lookupVariant(name string) (variant, error) {
	for _, v := range variants {
		if v.name == name {
			return v, nil
		}
	}
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	return variant{}, fmt.Errorf("unknown variant %q (known: %s)", name, strings.Join(names, ", "))
}

// wantsMetrics and wantsAccessLog say which outputs the variant's rules
// produce, hence which totals can be checked.
func (v variant) wantsMetrics() bool {
	return !v.floor && v.rules != "stdio" && v.rules != "none"
}

func (v variant) wantsAccessLog() bool {
	return !v.peer && !v.floor && v.rules != "prom" && v.rules != "none"
}

// countMetric is, for a variant with no output to count, the metric at its
// collector's selfURL that counts the reports taken in.
func (v variant) countMetric() string {
	switch {
	case v.floor:
		return floorReportsMetric
	case v.rules == "none":
		return bagsInMetric
	}
	return ""
}

// Resources left out of the embedded istio-1.1 profile for the "prom",
// "stdio" and "none" rule sets: the same cuts as Mixer's L2, L5 and L3
// configs in conformance/mixer-oracle-perf.json, so the figures compare.
var dropped = map[string][]string{
	"prom": {"handler/stdio", "logentry/accesslog", "logentry/tcpaccesslog", "rule/stdio", "rule/stdiotcp"},
	"stdio": {"handler/prometheus", "rule/promhttp", "rule/promtcp",
		"rule/promtcpconnectionopen", "rule/promtcpconnectionclosed"},
	"none": {"handler/stdio", "logentry/accesslog", "logentry/tcpaccesslog", "rule/stdio", "rule/stdiotcp",
		"metric/requestcount", "metric/requestduration", "metric/requestsize", "metric/responsesize",
		"metric/tcpbytesent", "metric/tcpbytereceived", "metric/tcpconnectionsopened", "metric/tcpconnectionsclosed",
		"handler/prometheus", "rule/promhttp", "rule/promtcp", "rule/promtcpconnectionopen", "rule/promtcpconnectionclosed",
		"handler/kubernetesenv", "rule/kubeattrgenrulerule", "rule/tcpkubeattrgenrulerule", "kubernetes/attributes"},
}

// istioRules returns the Istio config of a rule set other than "default":
// the embedded profile minus the resources the set does not use.
func istioRules(rules string) ([]byte, error) {
	drop, ok := dropped[rules]
	if !ok {
		return nil, fmt.Errorf("rule set %q: no such cut of the default config", rules)
	}
	prof, err := istioconfig.Profile("istio-1.1")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	removed := 0
	for doc := range strings.SplitSeq(string(prof), "\n---\n") {
		var head struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("embedded profile istio-1.1: %w", err)
		}
		if slices.Contains(drop, head.Kind+"/"+head.Metadata.Name) {
			removed++
			continue
		}
		out.WriteString(doc)
		out.WriteString("\n---\n")
	}
	if removed != len(drop) {
		return nil, fmt.Errorf("rule set %q: found %d of the %d resources to drop in istio-1.1", rules, removed, len(drop))
	}
	return out.Bytes(), nil
}

// deployCollector is what the variants that take access-log lines use of
// the DaemonSet's ConfigMap.
type deployCollector struct {
	Extensions map[string]map[string]any `yaml:"extensions"`
	Receivers  map[string]map[string]any `yaml:"receivers"`
	Processors map[string]map[string]any `yaml:"processors"`
	Service    struct {
		Extensions []string `yaml:"extensions"`
	} `yaml:"service"`
}

// readConfigMap reads the collector configuration of the DaemonSet's
// ConfigMap, which must have envoy_access_log and the named receiver.
func readConfigMap(configMap, receiver string) (*deployCollector, error) {
	b, err := os.ReadFile(configMap)
	if err != nil {
		return nil, err
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		return nil, fmt.Errorf("%s: %w", configMap, err)
	}
	var col deployCollector
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &col); err != nil {
		return nil, fmt.Errorf("%s: config.yaml: %w", configMap, err)
	}
	if col.Receivers[receiver] == nil || col.Processors["envoy_access_log"] == nil {
		return nil, fmt.Errorf("%s: config.yaml has no receivers::%s or processors::envoy_access_log", configMap, receiver)
	}
	return &col, nil
}

// linesPipeline is the configuration that adds a pipeline of the
// ConfigMap's envoy_access_log into istio_rules, from receiver.
func linesPipeline(col *deployCollector, pipeline, receiver string) map[string]any {
	service := map[string]any{"pipelines": map[string]any{pipeline: map[string]any{
		"receivers": []string{receiver}, "processors": []string{"envoy_access_log"}, "exporters": []string{"istio_rules"},
	}}}
	return map[string]any{
		"receivers":  map[string]any{receiver: col.Receivers[receiver]},
		"processors": map[string]any{"envoy_access_log": col.Processors["envoy_access_log"]},
		"service":    service,
	}
}

// fileLogConfig is added to the embedded default for variant accesslog: the
// file_log receiver and envoy_access_log processor of the DaemonSet's
// ConfigMap (configMap), tailing dir as they tail /var/log/pods, in a
// logs/files pipeline to istio_rules. The directory is empty when the
// collector starts, so every line is read from the start of its file.
func fileLogConfig(configMap, dir string) ([]byte, error) {
	col, err := readConfigMap(configMap, "file_log")
	if err != nil {
		return nil, err
	}
	fileLog := col.Receivers["file_log"]
	fileLog["include"] = []string{filepath.Join(dir, "*", "istio-proxy", "*.log")}
	fileLog["start_at"] = "beginning"
	cfg := linesPipeline(col, "logs/files", "file_log")
	// Checkpoints as the DaemonSet keeps them (they cost a write per poll),
	// next to the pod logs. The ConfigMap's extension list replaces the
	// embedded default's, which names the same others.
	if st, _ := fileLog["storage"].(string); st != "" {
		ext := col.Extensions[st]
		if ext == nil {
			return nil, fmt.Errorf("%s: file_log's storage %q is not an extension", configMap, st)
		}
		ext["directory"] = filepath.Join(filepath.Dir(dir), "checkpoints")
		ext["create_directory"] = true
		cfg["extensions"] = map[string]any{st: ext}
		cfg["service"].(map[string]any)["extensions"] = col.Service.Extensions
	}
	return yaml.Marshal(cfg)
}

// otelALSConfig is added to the embedded default for variant otel-als: the
// otlp receiver of the DaemonSet's ConfigMap, at endpoint, and its
// envoy_access_log processor, in a logs/otel-als pipeline to istio_rules.
func otelALSConfig(configMap, endpoint string) ([]byte, error) {
	col, err := readConfigMap(configMap, "otlp")
	if err != nil {
		return nil, err
	}
	grpc, _ := col.Receivers["otlp"]["protocols"].(map[string]any)["grpc"].(map[string]any)
	if grpc == nil {
		return nil, fmt.Errorf("%s: config.yaml's otlp receiver has no grpc protocol", configMap)
	}
	grpc["endpoint"] = endpoint
	return yaml.Marshal(linesPipeline(col, "logs/otel-als", "otlp"))
}
