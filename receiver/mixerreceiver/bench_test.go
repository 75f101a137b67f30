package mixerreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

// One Report RPC of an Istio 1.1 proxy batch (100 Bookinfo bags), over
// gRPC on 127.0.0.1 (the client sends ready-made bytes), into a consumer
// that drops the data.
func BenchmarkReportRPC(b *testing.B) {
	_, conn := started(b, consumertest.NewNop())
	bags := proxyBatch(b)
	req, err := mixerreport.NewDefaultEncoder().Encode(bags, mixerreport.ProxyLayout(221))
	require.NoError(b, err)
	raw, err := proto.Marshal(req)
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var out []byte
		if err := conn.Invoke(ctx, mixerpb.Mixer_Report_FullMethodName, raw, &out, grpc.ForceCodec(rawCodec{})); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bags)), "ns/report")
}
