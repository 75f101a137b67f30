package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

// The Grafana dashboards of deploy/grafana (issue 10): every panel query is
// run against a real Prometheus that scrapes the collector while it receives
// Bookinfo traffic, once per embedded profile, and must return data.

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	file       string
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []dashVariable `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

type dashVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *dashDatasource `json:"datasource"`
	Options    []struct {
		Value string `json:"value"`
	} `json:"options"`
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *dashDatasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource *dashDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // a collapsed row's panels
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(grafanaDir, "dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards in %s/dashboards", grafanaDir)
	var out []dashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(data, &d), f)
		d.file = filepath.Base(f)
		out = append(out, d)
	}
	return out
}

// panels returns the dashboard's panels, rows' panels included, rows not.
func (d *dashboard) panels() []dashPanel {
	var out []dashPanel
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// panelQuery is the query refID of the panel titled title in the dashboard
// uid, with the dashboard's variables set to vars.
func panelQuery(t *testing.T, uid, title, refID string, vars map[string]string) string {
	t.Helper()
	for _, d := range loadDashboards(t) {
		if d.UID != uid {
			continue
		}
		for _, p := range d.panels() {
			for _, tg := range p.Targets {
				if p.Title == title && tg.RefID == refID {
					return substituteGrafanaVars(tg.Expr, vars)
				}
			}
		}
	}
	t.Fatalf("no query %s in panel %q of dashboard %s", refID, title, uid)
	return ""
}

// variableQuery is a query variable's label_values(...) call.
func (v *dashVariable) variableQuery() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &q)
	return q.Query
}

var (
	varRef         = regexp.MustCompile(`\$(\{)?([A-Za-z_][A-Za-z0-9_]*)`)
	labelValuesRef = regexp.MustCompile(`^label_values\((?:(.*),\s*)?([A-Za-z_][A-Za-z0-9_]*)\)$`)
	// Grafana's built-in variables the dashboards may use.
	builtinVars = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
)

func TestDashboardsWellFormed(t *testing.T) {
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		t.Run(d.file, func(t *testing.T) {
			assert.NotEmpty(t, d.UID)
			assert.NotEmpty(t, d.Title)
			if prev, ok := uids[d.UID]; ok {
				t.Errorf("uid %s is also %s's", d.UID, prev)
			}
			uids[d.UID] = d.file
			defined := map[string]bool{}
			for _, v := range d.Templating.List {
				defined[v.Name] = true
				if v.Type == "query" {
					assert.Regexp(t, labelValuesRef, v.variableQuery(), "variable %s", v.Name)
					require.NotNil(t, v.Datasource, "variable %s has no data source", v.Name)
					assert.Equal(t, "${datasource}", v.Datasource.UID, "variable %s", v.Name)
				}
			}
			assert.True(t, defined["datasource"], "no datasource variable: the dashboards must not name a data source")
			ids := map[int]bool{}
			for _, p := range d.panels() {
				assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
				ids[p.ID] = true
				assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "panel %q is wider than the grid", p.Title)
				require.NotNil(t, p.Datasource, "panel %q has no data source", p.Title)
				assert.Equal(t, "${datasource}", p.Datasource.UID, "panel %q", p.Title)
				require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
				for _, tg := range p.Targets {
					assert.NotEmpty(t, tg.Expr, "panel %q %s", p.Title, tg.RefID)
					for _, m := range varRef.FindAllStringSubmatch(tg.Expr, -1) {
						assert.True(t, defined[m[2]] || builtinVars[m[2]], "panel %q uses undefined $%s", p.Title, m[2])
					}
				}
			}
		})
	}
}

// TestGrafanaProvisioning decodes the provisioning files strictly (the keys
// of Grafana's provisioning format) and checks that they agree with the
// dashboards and the kustomization.
func TestGrafanaProvisioning(t *testing.T) {
	var providers struct {
		APIVersion int `json:"apiVersion"`
		Providers  []struct {
			Name                  string `json:"name"`
			OrgID                 int    `json:"orgId"`
			Folder                string `json:"folder"`
			FolderUID             string `json:"folderUid,omitempty"`
			Type                  string `json:"type"`
			DisableDeletion       bool   `json:"disableDeletion"`
			AllowUIUpdates        bool   `json:"allowUiUpdates"`
			UpdateIntervalSeconds int    `json:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `json:"path"`
				FoldersFromFilesStructure bool   `json:"foldersFromFilesStructure"`
			} `json:"options"`
		} `json:"providers"`
	}
	data, err := os.ReadFile(filepath.Join(grafanaDir, "provisioning", "dashboards", "otelcol-istio.yaml"))
	require.NoError(t, err)
	require.NoError(t, sigsyaml.UnmarshalStrict(data, &providers))
	assert.Equal(t, 1, providers.APIVersion)
	require.Len(t, providers.Providers, 1)
	assert.Equal(t, "file", providers.Providers[0].Type)
	assert.True(t, filepath.IsAbs(providers.Providers[0].Options.Path))

	var sources struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name      string         `json:"name"`
			UID       string         `json:"uid"`
			Type      string         `json:"type"`
			Access    string         `json:"access"`
			URL       string         `json:"url"`
			IsDefault bool           `json:"isDefault"`
			Editable  bool           `json:"editable"`
			JSONData  map[string]any `json:"jsonData"`
		} `json:"datasources"`
	}
	data, err = os.ReadFile(filepath.Join(grafanaDir, "provisioning", "datasources", "otelcol-istio.yaml"))
	require.NoError(t, err)
	require.NoError(t, sigsyaml.UnmarshalStrict(data, &sources))
	require.Len(t, sources.Datasources, 1)
	assert.Equal(t, "prometheus", sources.Datasources[0].Type, "the dashboards' datasource variable lists Prometheus data sources")

	var k kustomizationMirror
	data, err = os.ReadFile(filepath.Join(grafanaDir, "kustomization.yaml"))
	require.NoError(t, err)
	require.NoError(t, sigsyaml.UnmarshalStrict(data, &k))
	var generated []string
	for _, g := range k.ConfigMapGenerator {
		generated = append(generated, g.Files...)
	}
	var files []string
	for _, d := range loadDashboards(t) {
		files = append(files, "dashboards/"+d.file)
	}
	assert.ElementsMatch(t, files, generated, "every dashboard is in a generated ConfigMap")
}

// emptyByDesign lists the panels (profile: dashboard uid / panel title /
// refId) that may return nothing under the test traffic, with the reason.
// Bookinfo traffic reaches every panel of the Istio dashboards.
var emptyByDesign = map[string]string{
	"istio-telemetry-v2: otelcol-istio-collector/Log entries/B":       "the profile writes no log entries (no istio_stdio exporter)",
	"istio-telemetry-v2: otelcol-istio-collector/istio_stdio queue/A": "the profile has no istio_stdio exporter",
	"istio-telemetry-v2: otelcol-istio-collector/istio_stdio queue/B": "the profile has no istio_stdio exporter",
	"istio-1.1: otelcol-istio-collector/Configuration/C":              "the collector has no Kubernetes client; TestIstioConfigThroughAPIServer runs the query",
	"istio-telemetry-v2: otelcol-istio-collector/Configuration/C":     "the collector has no Kubernetes client; TestIstioConfigThroughAPIServer runs the query",
	"istio-1.1: otelcol-istio-collector/Access-log lines/A":           "the collector has no envoy_access_log; TestOTelALSMatchesAccessLogFiles runs the query",
	"istio-1.1: otelcol-istio-collector/Access-log lines/B":           "the collector has no envoy_access_log; TestOTelALSMatchesAccessLogFiles runs the query",
	"istio-telemetry-v2: otelcol-istio-collector/Access-log lines/A":  "the collector has no envoy_access_log; TestOTelALSMatchesAccessLogFiles runs the query",
	"istio-telemetry-v2: otelcol-istio-collector/Access-log lines/B":  "the collector has no envoy_access_log; TestOTelALSMatchesAccessLogFiles runs the query",
}

// TestDashboardQueries runs every panel query of every dashboard, for every
// value of its variables, against Prometheus scraping the collector under
// Bookinfo traffic: each must return data for at least one choice of the
// variables, with each embedded profile.
func TestDashboardQueries(t *testing.T) {
	dashboards := loadDashboards(t)
	for _, profile := range []struct{ name, config string }{
		{"istio-1.1", ""}, // the embedded default
		{"istio-telemetry-v2", "embedded:telemetry-v2"},
	} {
		t.Run(profile.name, func(t *testing.T) {
			m := startEmbeddedCollector(t, profile.config)
			// The exposition and the collector's own telemetry (the collector dashboard).
			prom := startPrometheus(t, strings.TrimSuffix(strings.TrimPrefix(m.Metrics, "http://"), "/metrics"), m.Telemetry)
			stop := sendBookinfoTraffic(t, m)
			defer stop()
			waitFor(t, 60*time.Second, "request and TCP rates in Prometheus", func() bool {
				return len(prom.query(t, `rate(istio_requests_total[1m]) > 0`)) > 0 &&
					len(prom.query(t, `rate(istio_tcp_sent_bytes_total[1m]) > 0`)) > 0 &&
					len(prom.query(t, `rate(istio_requests_total{response_code=~"5.."}[1m]) > 0`)) > 0 &&
					len(prom.query(t, `rate(otelcol_receiver_accepted_log_records[1m]) > 0`)) > 0
			})
			for _, d := range dashboards {
				t.Run(d.UID, func(t *testing.T) {
					checkDashboard(t, prom, d, profile.name)
				})
			}
		})
	}
}

// fallbackZero is the `or on() vector(0)` that makes a stat show 0 instead
// of "No data"; it would also hide a query that matches nothing, so the
// test runs the query without it.
var fallbackZero = regexp.MustCompile(`\s+or\s+on\(\)\s+vector\(0\)$`)

func checkDashboard(t *testing.T, prom *prometheusServer, d dashboard, profile string) {
	choices := variableChoices(t, prom, d.Templating.List)
	require.NotEmpty(t, choices, "no choice of variables has values")
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			key := profile + ": " + d.UID + "/" + p.Title + "/" + tg.RefID
			expr := fallbackZero.ReplaceAllString(tg.Expr, "")
			var data bool
			for _, vars := range choices {
				if hasNumber(prom.query(t, substituteGrafanaVars(expr, vars))) {
					data = true
					break
				}
			}
			if why, ok := emptyByDesign[key]; ok {
				t.Logf("%s is empty by design (%s); returned data: %v", key, why, data)
				continue
			}
			assert.True(t, data, "panel %q query %s returns no data for any of %d variable choices:\n%s",
				p.Title, tg.RefID, len(choices), expr)
		}
	}
}

// hasData: at least one sample that is a number (a quantile of nothing is NaN).
func hasNumber(samples []promSample) bool {
	return slices.ContainsFunc(samples, func(s promSample) bool { return !math.IsNaN(s.Value) })
}

// substitute replaces Grafana variables. $__rate_interval becomes a minute:
// at least four of the test's 1s scrapes, as Grafana would choose.
func substituteGrafanaVars(expr string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[2]
		switch name {
		case "__rate_interval", "__range":
			return "1m"
		case "__interval":
			return "15s"
		}
		if v, ok := vars[name]; ok {
			return v
		}
		return ref
	})
}

// variableChoices resolves the variables in order, as Grafana does (a
// variable's query may use earlier ones), and returns every combination.
func variableChoices(t *testing.T, prom *prometheusServer, vars []dashVariable) []map[string]string {
	choices := []map[string]string{{}}
	for _, v := range vars {
		var next []map[string]string
		for _, c := range choices {
			var values []string
			switch v.Type {
			case "datasource":
				values = []string{"prometheus"}
			case "custom":
				for _, o := range v.Options {
					values = append(values, o.Value)
				}
			case "query":
				m := labelValuesRef.FindStringSubmatch(v.variableQuery())
				require.NotNil(t, m, "variable %s: %s", v.Name, v.variableQuery())
				values = prom.labelValues(t, m[2], substituteGrafanaVars(m[1], c))
			default:
				t.Fatalf("variable %s of type %s: teach variableChoices about it", v.Name, v.Type)
			}
			for _, val := range values {
				n := map[string]string{v.Name: val}
				for k, x := range c {
					n[k] = x
				}
				next = append(next, n)
			}
		}
		choices = next
	}
	return choices
}

// labelValues is Grafana's label_values(match, label).
func (p *prometheusServer) labelValues(t *testing.T, label, match string) []string {
	t.Helper()
	u := p.URL + "/api/v1/label/" + url.PathEscape(label) + "/values"
	if match != "" {
		u += "?match[]=" + url.QueryEscape(match)
	}
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Status string   `json:"status"`
		Error  string   `json:"error"`
		Data   []string `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.Equal(t, "success", r.Status, "label_values(%s, %s): %s", match, label, r.Error)
	return r.Data
}

// startEmbeddedCollector runs an embedded configuration ("" = the default)
// on free ports with a short flush interval.
func startEmbeddedCollector(t *testing.T, config string) *mixerCollector {
	t.Helper()
	return startEmbeddedCollectorWith(t, config, collectorOptions{})
}

// startEmbeddedCollectorWith is startEmbeddedCollector with further options
// (Env, WrapStdout); it sets Health and the ports itself.
func startEmbeddedCollectorWith(t *testing.T, config string, o collectorOptions) *mixerCollector {
	t.Helper()
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mixer := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	prom := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if config != "" {
		o.Args = append(o.Args, "--config="+config)
	}
	o.Args = append(o.Args,
		"--set=extensions.health_check.endpoint="+health,
		"--set=receivers.mixer.endpoint="+mixer,
		"--set=exporters.prometheus.endpoint="+prom,
		"--set=connectors.istio_rules.flush_interval=200ms")
	o.Health = health
	c := startCollector(t, o)
	return &mixerCollector{collector: c, Mixer: mixer, Metrics: "http://" + prom + "/metrics"}
}

// bookinfoTraffic is one Bookinfo page load and what goes with it, with some
// failures so that the error panels have something to show: details answers
// 503 on every fourth page, ratings 404 on every third; every fifth page,
// reviews v3 also calls ratings v2 (so that ratings v2, which talks to
// MongoDB over TCP, is a known workload); every fourth brings a MongoDB
// connection.
func bookinfoTraffic(g *bookinfo.Generator, page int) []bookinfo.Bag {
	calls := g.PageLoad()
	for i := range calls {
		switch {
		case calls[i].Service == "details" && page%4 == 0:
			calls[i].Code = 503
		case calls[i].Service == "ratings" && page%3 == 0:
			calls[i].Code = 404
		}
	}
	if page%5 == 0 {
		calls = append(calls, bookinfo.Call{Source: bookinfo.ReviewsV3, Destination: bookinfo.RatingsV2,
			Service: "ratings", Port: 9080, Path: "/ratings/0", Code: 200, ResponseSize: 48, Duration: 3 * time.Millisecond})
	}
	var bags []bookinfo.Bag
	for _, c := range calls {
		bags = append(bags, g.HTTP(c, true), g.HTTP(c, false))
	}
	if page%4 == 0 {
		bags = append(bags, g.TCPConnection()...)
	}
	return bags
}

// sendBookinfoTraffic reports a page load every 100ms over the Mixer API
// until the returned stop is called.
func sendBookinfoTraffic(t *testing.T, m *mixerCollector) (stop func()) {
	t.Helper()
	client := m.client(t)
	enc := mixerreport.NewDefaultEncoder()
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 10, Enriched: true, MTLS: true})
	report := func(page int) error {
		var bags []mixerreport.Bag
		for _, b := range bookinfoTraffic(g, page) {
			var rb mixerreport.Bag
			for _, a := range b {
				rb = append(rb, mixerreport.FromValue(a.Name, a.Value))
			}
			bags = append(bags, rb)
		}
		req, err := enc.Encode(bags, mixerreport.ProxyLayout(221))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = client.Report(ctx, req)
		return err
	}
	// The first pages go out before returning, so the series exist at once.
	for page := range 8 {
		require.NoError(t, report(page))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var sendErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for page := 8; ; page++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := report(page); err != nil && ctx.Err() == nil {
				errMu.Lock()
				sendErr = err
				errMu.Unlock()
				return
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		if sendErr != nil {
			t.Errorf("sending Bookinfo reports: %v", sendErr)
		}
	}
}

// The Telemetry v2 metric set as shared/reference/envoy-sources.md lists it
// ("Telemetry v2 (in-proxy) standard metrics"); the gRPC message counters
// are left out of the profile (no attribute counts messages).
var (
	refV2HTTPLabels = []string{
		"reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
		"source_workload_namespace", "source_principal", "source_app", "source_version",
		"source_cluster", "destination_workload", "destination_workload_namespace",
		"destination_principal", "destination_app", "destination_version", "destination_service",
		"destination_canonical_service", "destination_canonical_revision",
		"destination_service_name", "destination_service_namespace", "destination_cluster",
		"request_protocol", "response_code", "grpc_response_status", "response_flags",
		"connection_security_policy",
	}
	refV2Buckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
		30000, 60000, 300000, 600000, 1800000, 3600000}
	refV2Metrics = map[string]string{ // name → Prometheus type
		"istio_requests_total":                "counter",
		"istio_request_duration_milliseconds": "histogram",
		"istio_request_bytes":                 "histogram",
		"istio_response_bytes":                "histogram",
		"istio_tcp_connections_opened_total":  "counter",
		"istio_tcp_connections_closed_total":  "counter",
		"istio_tcp_sent_bytes_total":          "counter",
		"istio_tcp_received_bytes_total":      "counter",
	}
	refV2Omitted = []string{"istio_request_messages_total", "istio_response_messages_total"}
)

// TestReferenceTranscription checks the tables above against the reference
// text itself when shared/ is beside the repository (as for developers and
// CI), so that the transcription cannot drift.
func TestReferenceTranscription(t *testing.T) {
	data, err := os.ReadFile("../../shared/reference/envoy-sources.md")
	if err != nil {
		t.Skipf("shared/reference/envoy-sources.md is not beside the repository (%v): the transcribed tables stand alone", err)
	}
	text := string(data)
	section := text[strings.Index(text, "### Telemetry v2 (in-proxy) standard metrics"):]
	section = section[:strings.Index(section, "\n### ")]
	tick := regexp.MustCompile("`([a-z_]+)`")
	between := func(from, to string) string {
		i := strings.Index(section, from)
		require.GreaterOrEqual(t, i, 0, "%q not in the reference", from)
		j := strings.Index(section[i:], to)
		require.GreaterOrEqual(t, j, 0, "%q not in the reference", to)
		return section[i : i+j]
	}
	var metrics []string
	for _, m := range tick.FindAllStringSubmatch(between("Metrics:", "Labels (HTTP):"), -1) {
		metrics = append(metrics, m[1])
	}
	assert.ElementsMatch(t, append(slices.Collect(maps.Keys(refV2Metrics)), refV2Omitted...), metrics)

	labelsText := between("Labels (HTTP):", "TCP metrics drop")
	labelsText = regexp.MustCompile(`\([^)]*\)`).ReplaceAllString(labelsText, "") // value lists
	var labels []string
	for _, m := range tick.FindAllStringSubmatch(labelsText, -1) {
		labels = append(labels, m[1])
	}
	assert.Equal(t, refV2HTTPLabels, labels)
	assert.Contains(t, section, "TCP metrics drop `response_code` and `grpc_response_status`")

	buckets := regexp.MustCompile("Buckets:[^`]*`([0-9., \n]+)`").FindStringSubmatch(section)
	require.NotNil(t, buckets)
	var bounds []float64
	for _, f := range strings.Split(buckets[1], ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		require.NoError(t, err)
		bounds = append(bounds, v)
	}
	assert.Equal(t, refV2Buckets, bounds)
}

// TestTelemetryV2Exposition: with the embedded telemetry-v2 configuration,
// the exposition has exactly the reference's series names, label sets and
// buckets (labels with empty values, such as grpc_response_status for HTTP,
// included).
func TestTelemetryV2Exposition(t *testing.T) {
	m := startEmbeddedCollector(t, "embedded:telemetry-v2")
	stop := sendBookinfoTraffic(t, m)
	defer stop()
	var exposition string
	waitFor(t, 20*time.Second, "every v2 metric in the exposition", func() bool {
		exposition = m.exposition(t)
		for name := range refV2Metrics {
			if !strings.Contains(exposition, "\n# TYPE "+name+" ") {
				return false
			}
		}
		return true
	})
	tcpLabels := slices.DeleteFunc(slices.Clone(refV2HTTPLabels), func(l string) bool {
		return l == "response_code" || l == "grpc_response_status"
	})
	types := map[string]string{}
	labelSets := map[string]map[string]bool{} // metric → sorted label names seen
	bounds := map[string]map[float64]bool{}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} \S+$`)
	labelName := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	for _, line := range strings.Split(exposition, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
			continue
		}
		s := sample.FindStringSubmatch(line)
		if s == nil {
			continue
		}
		name := s[1]
		var names []string
		var le string
		for _, l := range labelName.FindAllStringSubmatch(s[2], -1) {
			if l[1] == "le" {
				le = l[2]
				continue
			}
			names = append(names, l[1])
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && types[b] == "histogram" {
				base = b
			}
		}
		slices.Sort(names)
		if labelSets[base] == nil {
			labelSets[base] = map[string]bool{}
		}
		labelSets[base][strings.Join(names, ",")] = true
		if le != "" && le != "+Inf" {
			v, err := strconv.ParseFloat(le, 64)
			require.NoError(t, err, line)
			if bounds[base] == nil {
				bounds[base] = map[float64]bool{}
			}
			bounds[base][v] = true
		}
	}
	for name := range types {
		if strings.HasPrefix(name, "istio_") {
			assert.Contains(t, refV2Metrics, name, "series %s is not in the reference", name)
		}
	}
	for name, typ := range refV2Metrics {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, typ, types[name], "type")
			want := refV2HTTPLabels
			if strings.HasPrefix(name, "istio_tcp_") {
				want = tcpLabels
			}
			want = slices.Sorted(slices.Values(want))
			require.NotEmpty(t, labelSets[name], "no samples")
			for set := range labelSets[name] {
				assert.Equal(t, strings.Join(want, ","), set, "label names")
			}
			if typ == "histogram" {
				got := slices.Sorted(maps.Keys(bounds[name]))
				assert.Equal(t, refV2Buckets, got, "bucket bounds")
			}
		})
	}
}
