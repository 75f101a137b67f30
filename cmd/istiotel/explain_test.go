package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const detailsBag = `{
  "context.protocol": {"type": "STRING", "value": "http"},
  "context.reporter.kind": {"type": "STRING", "value": "inbound"},
  "destination.namespace": {"type": "STRING", "value": "default"},
  "destination.service.name": {"type": "STRING", "value": "details"},
  "destination.workload.name": {"type": "STRING", "value": "details-v1"},
  "source.workload.name": {"type": "STRING", "value": "productpage-v1"},
  "request.time": {"type": "TIMESTAMP", "value": "2018-09-15T20:46:36.009801Z"},
  "response.code": {"type": "INT64", "value": 200},
  "response.size": {"type": "INT64", "value": 178},
  "response.duration": {"type": "DURATION", "value": "13.601485ms"}
}`

func TestExplain(t *testing.T) {
	seed := filepath.Join("..", "..", "connector", "istiorulesconnector", "testdata", "seed")
	attrs := filepath.Join(t.TempDir(), "bag.json")
	require.NoError(t, os.WriteFile(attrs, []byte(detailsBag), 0o600))

	var out, errOut bytes.Buffer
	code := run([]string{"explain", "--config", filepath.Join(seed, "metrics.yaml"), "--config", filepath.Join(seed, "log-entry-details.yaml"), "--attributes", attrs}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	s := out.String()
	assert.Contains(t, s, "identity namespace: default")
	assert.Contains(t, s, "doubleprom.rule.istio-system: matched")
	assert.Contains(t, s, "newlogstdio.rule.istio-system: matched")
	assert.Contains(t, s, `istio_double_request_count{destination="details-v1",message="twice the fun!",reporter="server",source="productpage-v1"} += 2`)
	assert.Contains(t, s, `newloghandler.handler.istio-system: {"level":"warn","time":"2018-09-15T20:46:36.009801Z","instance":"newlog.instance.istio-system","destination":"details-v1","latency":"13.601485ms","responseCode":200,"responseSize":178,"source":"productpage-v1","user":"unknown"}`)

	// Without destination.service.name the details rule errors: explained.
	noName := strings.Replace(detailsBag, `"destination.service.name": {"type": "STRING", "value": "details"},`, "", 1)
	require.NoError(t, os.WriteFile(attrs, []byte(noName), 0o600))
	out.Reset()
	code = run([]string{"explain", "--config", filepath.Join(seed, "log-entry-details.yaml"), "--attributes", attrs}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "newlogstdio.rule.istio-system: error: lookup failed: 'destination.service.name' (treated as not matching)")
	assert.Contains(t, out.String(), "log lines:\n  (none)")

	// COMPAT rules say so, and read the absent principal as "".
	require.NoError(t, os.WriteFile(attrs, []byte(detailsBag), 0o600))
	out.Reset()
	code = run([]string{"explain", "--config", filepath.Join("..", "..", "internal", "runtime", "testdata", "compat.yaml"), "--attributes", attrs}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "compatrule.rule.istio-system: matched\n    match: (COMPAT) destination.service.name == ")
	assert.Contains(t, out.String(), "cexlmatch.rule.istio-system: error: lookup failed: 'request.auth.principal'")
	out.Reset()
	code = run([]string{"explain", "-lang", "COMPAT", "--config", filepath.Join("..", "..", "internal", "runtime", "testdata", "compat.yaml"), "--attributes", attrs}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "cexlmatch.rule.istio-system: matched\n    match: (COMPAT) ", "-lang COMPAT makes every rule COMPAT")
	out.Reset()
	code = run([]string{"explain", "--json", "--config", filepath.Join("..", "..", "internal", "runtime", "testdata", "compat.yaml"), "--attributes", attrs}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	var ex struct {
		Rules []struct{ Rule, Match, Language string } `json:"rules"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &ex))
	languages := map[string]string{}
	for _, r := range ex.Rules {
		languages[r.Rule] = r.Language
		if r.Rule == "compatrule.rule.istio-system" {
			assert.True(t, strings.HasPrefix(r.Match, "destination.service.name =="), "the match as written: %s", r.Match)
		}
	}
	assert.Equal(t, map[string]string{"cexlmatch.rule.istio-system": "", "cexlrule.rule.istio-system": "", "compatrule.rule.istio-system": "COMPAT"}, languages)

	// CEL rules too; the CEL fixture's access-log rule matches this HTTP report.
	out.Reset()
	code = run([]string{"explain", "--config", filepath.Join("..", "..", "internal", "runtime", "testdata", "cel.yaml"), "--attributes", attrs}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "stdio.rule.istio-system: matched\n    match: (CEL) context.protocol in [\"http\", \"grpc\"]")

	assert.Equal(t, 2, run([]string{"explain", "--attributes", attrs}, &out, &errOut), "a config is required")
}

// TestExplainLine: an istio-proxy access-log line, as kubectl logs shows
// it, explained as envoy_access_log would make it into a bag; the pod
// whose log it is makes the server side's destination.
func TestExplainLine(t *testing.T) {
	const line = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 1 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 outbound_.8000_._.httpbin.foo.svc.cluster.local default`
	var out, errOut bytes.Buffer
	code := run([]string{"explain", "--embedded", "istio-1.1", "--pod", "foo/httpbin-74fb669cc6-vmqzh", "--line", line}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	s := out.String()
	assert.Contains(t, s, "identity namespace: foo")
	assert.Contains(t, s, "promhttp.rule.istio-system: matched")
	assert.Contains(t, s, "destination_service = STRING httpbin.foo.svc.cluster.local")
	assert.Contains(t, s, "destination_workload_namespace = STRING foo")
	assert.Contains(t, s, "response_code = INT64 418")
	assert.Contains(t, s, `"responseCode":418`)

	// Without the pod the line is still a request, reported by nobody known.
	out.Reset()
	code = run([]string{"explain", "--embedded", "istio-1.1", "--format", "istio-1.23", "--line", line}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "destination_workload_namespace = STRING unknown")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--line", "2020-11-25T21:26:17.101Z\tinfo\tEnvoy proxy is ready"}, "istiotel explain: --line: "},
		{[]string{"--line", line, "--pod", "httpbin"}, `--pod "httpbin": want NAMESPACE/POD`},
		{[]string{"--line", line, "--format", "istio-0.1"}, "istiotel explain: --line: "},
		{[]string{"--line", line, "--attributes", "bag.json"}, "usage: istiotel explain"},
	} {
		out.Reset()
		errOut.Reset()
		code := run(append([]string{"explain", "--embedded", "istio-1.1"}, c.args...), &out, &errOut)
		assert.Equal(t, 2, code, "%v", c.args)
		assert.Contains(t, errOut.String(), c.want, "%v", c.args)
	}
}
