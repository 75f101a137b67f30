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
