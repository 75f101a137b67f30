package mixerreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

// oracleCase is a case of testdata/oracle-reports.json (copied from
// shared/conformance/mixer-oracle.json, see its "origin").
type oracleCase struct {
	Name             string            `json:"name"`
	SentWith         string            `json:"sent_with"`
	Replay           string            `json:"replay"`
	Reports          []mixerreport.Bag `json:"reports"`
	ReportRPCResults []string          `json:"report_rpc_results"`
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

// started runs a receiver on 127.0.0.1 with next as its consumer and returns
// a client connection to it.
func started(t testing.TB, next consumer.Logs, configure ...func(*Config)) (*mixerReceiver, *grpc.ClientConn) {
	t.Helper()
	return startedWith(t, receivertest.NewNopSettings(componentType), next, configure...)
}

func startedWith(t testing.TB, set receiver.Settings, next consumer.Logs, configure ...func(*Config)) (*mixerReceiver, *grpc.ClientConn) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	for _, c := range configure {
		c(cfg)
	}
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, rcv.Shutdown(context.Background())) })
	r := rcv.(*mixerReceiver)
	conn, err := grpc.NewClient(r.addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return r, conn
}

// rpcResult words a Report answer as mixc did in the recorded cases.
func rpcResult(err error) string {
	if err == nil {
		return "Report RPC returned OK"
	}
	st := status.Convert(err)
	return fmt.Sprintf("Report RPC returned %s (%s)", st.Code(), st.Message())
}

func allRecords(sink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		for i := range ld.ResourceLogs().Len() {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := range sls.Len() {
				lrs := sls.At(j).LogRecords()
				for k := range lrs.Len() {
					out = append(out, lrs.At(k))
				}
			}
		}
	}
	return out
}

// proxyBatch makes 100 Bookinfo bags from the recorded default-http
// reports, each with its own request id.
func proxyBatch(t testing.TB) []mixerreport.Bag {
	src := loadOracle(t)["default-http"].Reports
	require.NotEmpty(t, src)
	bags := make([]mixerreport.Bag, 100)
	for i := range bags {
		b := append(mixerreport.Bag{}, src[i%len(src)]...)
		for j := range b {
			if b[j].Name == "request.id" {
				b[j] = mixerreport.String("request.id", fmt.Sprintf("req-%03d", i))
			}
		}
		bags[i] = b
	}
	return bags
}

// An Istio 1.1 sidecar's batch: INDEPENDENT, 100 bags sharing
// default_words, global indices. One RPC gives one plog.Logs.
func TestReportProxyBatch(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink)
	bags := proxyBatch(t)
	req, err := mixerreport.NewDefaultEncoder().Encode(bags, mixerreport.ProxyLayout(221))
	require.NoError(t, err)
	require.NotEmpty(t, req.DefaultWords)
	for _, ca := range req.Attributes {
		require.Empty(t, ca.Words)
	}

	before := time.Now()
	_, err = mixerpb.NewMixerClient(conn).Report(context.Background(), req)
	require.NoError(t, err)

	require.Len(t, sink.AllLogs(), 1)
	ld := sink.AllLogs()[0]
	require.Equal(t, 1, ld.ResourceLogs().Len())
	require.Equal(t, 1, ld.ResourceLogs().At(0).ScopeLogs().Len())
	sl := ld.ResourceLogs().At(0).ScopeLogs().At(0)
	assert.Equal(t, "github.com/otelcol-istio/otelcol-istio/receiver/mixerreceiver", sl.Scope().Name())
	require.Equal(t, 100, sl.LogRecords().Len())
	for i, b := range bags {
		lr := sl.LogRecords().At(i)
		assert.True(t, bagrecord.IsBag(lr))
		assert.Equal(t, b.RecordRaw(), lr.Attributes().AsRaw(), "report %d", i)
		rt, ok := lr.Attributes().Get("request.time")
		require.True(t, ok)
		assert.Equal(t, pcommon.Timestamp(rt.Int()), lr.Timestamp(), "Timestamp = request.time")
		assert.GreaterOrEqual(t, lr.ObservedTimestamp().AsTime(), before.Truncate(time.Microsecond))
	}
	// pdata types of DESIGN §3.1 on one record.
	a := sl.LogRecords().At(0).Attributes()
	for name, typ := range map[string]pcommon.ValueType{
		"request.path": pcommon.ValueTypeStr, "response.code": pcommon.ValueTypeInt,
		"connection.mtls": pcommon.ValueTypeBool, "request.time": pcommon.ValueTypeInt,
		"response.duration": pcommon.ValueTypeInt, "source.ip": pcommon.ValueTypeBytes,
		"request.headers": pcommon.ValueTypeMap,
	} {
		v, ok := a.Get(name)
		require.True(t, ok, name)
		assert.Equal(t, typ, v.Type(), name)
	}
}

// mixc: one DELTA request per report, words in the element,
// global_word_count 0; Mixer's recorded answers are reproduced.
func TestReportMixcOracle(t *testing.T) {
	for _, name := range []string{"default-http", "default-tcp"} {
		t.Run(name, func(t *testing.T) {
			c := loadOracle(t)[name]
			sink := new(consumertest.LogsSink)
			_, conn := started(t, sink)
			client := mixerpb.NewMixerClient(conn)
			require.Len(t, c.ReportRPCResults, len(c.Reports))
			for i, b := range c.Reports {
				req, err := mixerreport.NewDefaultEncoder().Encode([]mixerreport.Bag{b}, mixerreport.MixcLayout)
				require.NoError(t, err)
				require.Zero(t, req.GlobalWordCount)
				_, err = client.Report(context.Background(), req)
				assert.Equal(t, c.ReportRPCResults[i], rpcResult(err), "report %d", i)
			}
			recs := allRecords(sink)
			require.Len(t, recs, len(c.Reports))
			for i, b := range c.Reports {
				assert.Equal(t, b.RecordRaw(), recs[i].Attributes().AsRaw(), "report %d", i)
			}
		})
	}
}

// delta-encoding-one-request, replayed as recorded: all bags in one DELTA
// request; each element yields the accumulated bag.
func TestReportDeltaOneRequestOracle(t *testing.T) {
	c := loadOracle(t)["delta-encoding-one-request"]
	require.Equal(t, "delta-one-request", c.Replay)
	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink)
	req, err := mixerreport.NewDefaultEncoder().Encode(c.Reports, mixerreport.MixcLayout)
	require.NoError(t, err)
	_, err = mixerpb.NewMixerClient(conn).Report(context.Background(), req)
	assert.Equal(t, c.ReportRPCResults, []string{rpcResult(err)})
	require.Len(t, sink.AllLogs(), 1)

	acc := map[string]any{}
	recs := allRecords(sink)
	require.Len(t, recs, len(c.Reports))
	for i, delta := range c.Reports {
		for k, v := range delta.RecordRaw() {
			acc[k] = v
		}
		assert.Equal(t, acc, recs[i].Attributes().AsRaw(), "element %d", i)
	}
}

func TestReportErrors(t *testing.T) {
	enc := mixerreport.NewDefaultEncoder()
	ok := mixerreport.Bag{mixerreport.String("request.id", "ok"), mixerreport.Int64("response.code", 200)}
	okReq, err := enc.Encode([]mixerreport.Bag{ok}, mixerreport.ProxyLayout(222))
	require.NoError(t, err)
	badIndexDelta, err := enc.Encode([]mixerreport.Bag{ok, {mixerreport.String("request.id", "r1")}, ok}, mixerreport.MixcLayout)
	require.NoError(t, err)
	badIndexDelta.Attributes[1].Strings = map[int32]int32{-1: -9}

	tests := []struct {
		name    string
		req     *mixerpb.ReportRequest
		code    codes.Code
		msg     string
		records int
	}{
		{name: "empty request", req: &mixerpb.ReportRequest{GlobalWordCount: 5000}, code: codes.OK},
		{
			name: "global word count above 222",
			req: func() *mixerpb.ReportRequest {
				r := proto.Clone(okReq).(*mixerpb.ReportRequest)
				r.GlobalWordCount = 223
				return r
			}(),
			code: codes.Internal,
			msg:  "inconsistent global dictionary versions used: mixer knows 222 words, caller knows 223",
		},
		{
			name: "undefined index in a delta element",
			req:  badIndexDelta,
			code: codes.Unknown,
			msg: "1 error occurred:\n\t* request could not be processed due to invalid attributes: 1 error occurred:\n" +
				"\t* attribute index -9 is not defined in the available dictionaries\n\n\n\n",
			records: 2,
		},
		{
			name: "undefined value index in an independent bag",
			req: &mixerpb.ReportRequest{
				RepeatedAttributesSemantics: mixerpb.ReportRequest_INDEPENDENT_ENCODING,
				Attributes:                  []*mixerpb.CompressedAttributes{{Strings: map[int32]int32{globalIndex(t, "request.id"): -3}}},
			},
			code:    codes.OK,
			records: 1,
		},
		{
			name: "value of the wrong type is kept as sent",
			req: &mixerpb.ReportRequest{
				RepeatedAttributesSemantics: mixerpb.ReportRequest_INDEPENDENT_ENCODING,
				Attributes: []*mixerpb.CompressedAttributes{{
					Strings: map[int32]int32{globalIndex(t, "response.code"): globalIndex(t, "200")},
				}},
			},
			code:    codes.OK,
			records: 1,
		},
		{
			name: "timestamp out of range fails its element",
			req: &mixerpb.ReportRequest{
				RepeatedAttributesSemantics: mixerpb.ReportRequest_INDEPENDENT_ENCODING,
				Attributes: []*mixerpb.CompressedAttributes{
					okReq.Attributes[0],
					{Timestamps: map[int32]*timestamppb.Timestamp{globalIndex(t, "request.time"): {Nanos: 2e9}}},
				},
			},
			code: codes.Unknown,
			msg: "1 error occurred:\n\t* request could not be processed due to invalid attributes: " +
				"timestamp attribute request.time: nanos 2000000000 out of range [0, 999999999]\n\n",
			records: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := new(consumertest.LogsSink)
			_, conn := started(t, sink)
			_, err := mixerpb.NewMixerClient(conn).Report(context.Background(), tt.req)
			st := status.Convert(err)
			assert.Equal(t, tt.code, st.Code())
			if tt.msg != "" {
				assert.Equal(t, tt.msg, st.Message())
			}
			assert.Equal(t, tt.records, sink.LogRecordCount())
			if tt.records == 0 {
				assert.Empty(t, sink.AllLogs(), "nothing consumed")
			}
		})
	}
}

func globalIndex(t *testing.T, w string) int32 {
	t.Helper()
	for i, g := range attribute.GlobalDictionary() {
		if g == w {
			return int32(i)
		}
	}
	t.Fatalf("%q is not a global word", w)
	return 0
}

// rawCodec sends bytes as they are, to put broken messages on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { *(v.(*[]byte)) = data; return nil }
func (rawCodec) Name() string                       { return "proto" }

// Bytes that are not a ReportRequest: gRPC's codec refuses them before the
// receiver sees anything.
func TestReportMalformedWire(t *testing.T) {
	good, err := proto.Marshal(func() *mixerpb.ReportRequest {
		r, err := mixerreport.NewDefaultEncoder().Encode(proxyBatch(t)[:3], mixerreport.ProxyLayout(221))
		require.NoError(t, err)
		return r
	}())
	require.NoError(t, err)
	tests := map[string][]byte{
		"truncated":            good[:len(good)-7],
		"truncated varint":     {0x18, 0xff},
		"length past the end":  {0x0a, 0x7f, 0x01},
		"invalid wire type":    {0x0f},
		"string as an element": append([]byte{0x0a, 0x02}, 0x12, 0xff),
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			sink := new(consumertest.LogsSink)
			_, conn := started(t, sink)
			var out []byte
			err := conn.Invoke(context.Background(), mixerpb.Mixer_Report_FullMethodName, raw, &out, grpc.ForceCodec(rawCodec{}))
			require.Error(t, err)
			assert.Equal(t, codes.Internal, status.Code(err), err.Error())
			assert.True(t, strings.HasPrefix(status.Convert(err).Message(), "grpc: error unmarshalling request: "), err.Error())
			assert.Zero(t, sink.LogRecordCount())
		})
	}
}

// A header value that is not UTF-8 travels as a word; Mixer's codec took
// it, and so does the receiver (protobuf-go's would refuse the request).
func TestReportNonUTF8Word(t *testing.T) {
	req, err := mixerreport.NewDefaultEncoder().Encode([]mixerreport.Bag{{mixerreport.String("request.useragent", "AAAA")}}, mixerreport.ProxyLayout(221))
	require.NoError(t, err)
	raw, err := proto.Marshal(req)
	require.NoError(t, err)
	i := bytes.Index(raw, []byte("AAAA"))
	require.GreaterOrEqual(t, i, 0)
	copy(raw[i:], "\xffA\xfe\xc0")
	require.Error(t, proto.Unmarshal(raw, new(mixerpb.ReportRequest)))

	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink)
	var out []byte
	require.NoError(t, conn.Invoke(context.Background(), mixerpb.Mixer_Report_FullMethodName, raw, &out, grpc.ForceCodec(rawCodec{})))
	recs := allRecords(sink)
	require.Len(t, recs, 1)
	v, ok := recs[0].Attributes().Get("request.useragent")
	require.True(t, ok)
	assert.Equal(t, "\xffA\xfe\xc0", v.Str())
}

// A pipeline that refuses the data gets Mixer's load-shedding answer, and
// nothing is kept here.
func TestReportRefused(t *testing.T) {
	_, conn := started(t, consumertest.NewErr(errors.New("memory limit reached")))
	req, err := mixerreport.NewDefaultEncoder().Encode(proxyBatch(t)[:2], mixerreport.ProxyLayout(221))
	require.NoError(t, err)
	_, err = mixerpb.NewMixerClient(conn).Report(context.Background(), req)
	st := status.Convert(err)
	assert.Equal(t, codes.Unavailable, st.Code())
	assert.Equal(t, "Server is currently overloaded. Please try again.", st.Message())
}

func TestCheck(t *testing.T) {
	_, conn := started(t, consumertest.NewNop())
	client := mixerpb.NewMixerClient(conn)
	resp, err := client.Check(context.Background(), &mixerpb.CheckRequest{
		GlobalWordCount: 221,
		Attributes:      &mixerpb.CompressedAttributes{Words: []string{"x"}},
		Quotas: map[string]*mixerpb.CheckRequest_QuotaParams{
			"requestcount.quota.istio-system": {Amount: 3, BestEffort: true},
		},
	})
	require.NoError(t, err)
	pre := resp.GetPrecondition()
	require.NotNil(t, pre)
	require.NotNil(t, pre.GetStatus())
	assert.Zero(t, pre.GetStatus().GetCode())
	assert.Equal(t, time.Minute, pre.GetValidDuration().AsDuration())
	assert.Equal(t, int32(10000), pre.GetValidUseCount())
	assert.NotNil(t, pre.GetReferencedAttributes())
	q := resp.GetQuotas()["requestcount.quota.istio-system"]
	require.NotNil(t, q)
	assert.Equal(t, int64(3), q.GetGrantedAmount())
	assert.Equal(t, time.Minute, q.GetValidDuration().AsDuration())
	assert.NotNil(t, q.GetReferencedAttributes())

	// On the wire the precondition is present even though it is all
	// defaults apart from the duration and use count.
	raw, err := proto.Marshal(resp)
	require.NoError(t, err)
	assert.Equal(t, byte(0x12), raw[0], "field 2, length-delimited")

	_, err = client.Check(context.Background(), &mixerpb.CheckRequest{GlobalWordCount: 300})
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.Equal(t, "inconsistent global dictionary versions used: mixer knows 222 words, caller knows 300", status.Convert(err).Message())
}

// The receiver's own telemetry counts what it handed on and what failed.
func TestObsReport(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(componentType)
	set.TelemetrySettings = tt.NewTelemetrySettings()
	sink := new(consumertest.LogsSink)
	_, conn := startedWith(t, set, sink)
	req, err := mixerreport.NewDefaultEncoder().Encode(proxyBatch(t)[:7], mixerreport.ProxyLayout(221))
	require.NoError(t, err)
	_, err = mixerpb.NewMixerClient(conn).Report(context.Background(), req)
	require.NoError(t, err)

	m, err := tt.GetMetric("otelcol_receiver_accepted_log_records")
	require.NoError(t, err)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%T", m.Data)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	assert.Equal(t, int64(7), total)
}

func TestShutdownWithoutStart(t *testing.T) {
	rcv, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(componentType), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	assert.NoError(t, rcv.Shutdown(context.Background()))
}

func TestStartOnBusyPort(t *testing.T) {
	r, _ := started(t, consumertest.NewNop())
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = r.addr.String()
	rcv, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(componentType), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = rcv.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen on "+r.addr.String())
	assert.NoError(t, rcv.Shutdown(context.Background()))
}
