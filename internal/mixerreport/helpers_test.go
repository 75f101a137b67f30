package mixerreport

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// oracleCase is a case of testdata/oracle-reports.json (copied from
// shared/conformance/mixer-oracle.json, see its "origin").
type oracleCase struct {
	Name             string     `json:"name"`
	SentWith         string     `json:"sent_with"`
	Replay           string     `json:"replay"`
	Reports          []Bag      `json:"reports"`
	ReportRPCResults []string   `json:"report_rpc_results"`
	LogLines         [][]string `json:"expected_log_lines_per_report"`
}

func loadOracle(t testing.TB) map[string]oracleCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/oracle-reports.json")
	require.NoError(t, err)
	var f struct {
		Cases []oracleCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(raw, &f))
	out := map[string]oracleCase{}
	for _, c := range f.Cases {
		out[c.Name] = c
	}
	return out
}

// bookinfoBag is a report as an Istio 1.1 server-side sidecar sends it for
// Bookinfo traffic (mixer-semantics.md §b.3): 36 attributes, some of them
// different in every request.
func bookinfoBag(i int) Bag {
	start := time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 7919 * time.Microsecond)
	id := fmt.Sprintf("6f1c3b2a-%04x-4c7e-9d2b-0a1b2c3d4e5f", i)
	path := fmt.Sprintf("/reviews/%d", i%7)
	dur := time.Duration(3+i%40) * time.Millisecond
	return Bag{
		String("destination.uid", "kubernetes://reviews-v2-7bf8c9648f-xcvd4.default"),
		String("destination.namespace", "default"),
		String("context.reporter.uid", "kubernetes://reviews-v2-7bf8c9648f-xcvd4.default"),
		String("context.reporter.kind", "inbound"),
		IP("destination.ip", netip.MustParseAddr("::ffff:10.44.0.14")),
		Int64("destination.port", 9080),
		String("destination.service.host", "reviews.default.svc.cluster.local"),
		String("destination.service.name", "reviews"),
		String("destination.service.namespace", "default"),
		String("destination.service.uid", "istio://default/services/reviews"),
		String("source.uid", "kubernetes://productpage-v1-6c886ff494-hm7zk.default"),
		String("source.namespace", "default"),
		StringMap("request.headers", map[string]string{
			":authority": "reviews:9080", ":method": "GET", ":path": path,
			"user-agent": "python-requests/2.21.0", "x-request-id": id,
			"x-b3-traceid": id[:16], "x-b3-spanid": id[19:35], "x-b3-sampled": "1",
		}),
		String("request.host", "reviews:9080"),
		String("request.method", "GET"),
		String("request.path", path),
		String("request.scheme", "http"),
		String("request.useragent", "python-requests/2.21.0"),
		String("request.url_path", path),
		String("destination.principal", "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"),
		String("source.principal", "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"),
		String("source.user", "cluster.local/ns/default/sa/bookinfo-productpage"),
		IP("origin.ip", netip.MustParseAddr("10.44.0.11")),
		Bool("connection.mtls", true),
		String("connection.requested_server_name", "outbound_.9080_.v2_.reviews.default.svc.cluster.local"),
		Timestamp("request.time", start),
		String("context.protocol", "http"),
		StringMap("response.headers", map[string]string{
			":status": "200", "content-type": "application/json", "content-length": fmt.Sprint(295 + i%3),
			"x-envoy-upstream-service-time": fmt.Sprint(dur.Milliseconds()), "server": "istio-envoy",
		}),
		Timestamp("response.time", start.Add(dur)),
		Int64("request.size", 0),
		Int64("response.size", int64(295+i%3)),
		Int64("request.total_size", 512),
		Int64("response.total_size", int64(420+i%3)),
		Duration("response.duration", dur),
		Int64("response.code", 200),
		String("context.proxy_error_code", "-"),
	}
}

// recordsRaw returns the attributes of every record in AsRaw form.
func recordsRaw(lrs plog.LogRecordSlice) []map[string]any {
	out := make([]map[string]any, lrs.Len())
	for i := range out {
		out[i] = lrs.At(i).Attributes().AsRaw()
	}
	return out
}
