package mixerreport

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

var (
	observed = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	globals  = attribute.GlobalDictionary()
)

// g returns the global index of a dictionary word.
func g(t testing.TB, w string) int32 {
	i := slices.Index(globals, w)
	require.GreaterOrEqual(t, i, 0, "%q is not a global word", w)
	return int32(i)
}

func decode(t *testing.T, req *mixerpb.ReportRequest) (plog.LogRecordSlice, *Result, error) {
	t.Helper()
	// Decode is DecodeWire on proto.Marshal(req); marshal here, in a fixed
	// order, so that the packed form decodes the same bytes.
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	require.NoError(t, err)
	out := plog.NewLogRecordSlice()
	res, err := NewDefaultDecoder().DecodeWire(raw, out, observed)
	require.NoError(t, samePacked(raw, out, res, err))
	return out, res, err
}

func TestGlobalDictionaryIsMixers(t *testing.T) {
	require.Len(t, globals, 222)
	assert.Equal(t, "source.ip", globals[0])
	assert.Equal(t, "'200'", globals[94])
	assert.Equal(t, "'0'", globals[111])
	assert.Equal(t, "true", globals[113])
	assert.Equal(t, `"-"`, globals[218])
	assert.Equal(t, "context.proxy_version", globals[221])
}

// Every recorded input bag survives every client layout unchanged.
func TestRoundTripOracleBags(t *testing.T) {
	cases := loadOracle(t)
	enc := NewDefaultEncoder()
	layouts := map[string]Layout{
		"proxy 1.1":              ProxyLayout(221),
		"proxy 1.3":              ProxyLayout(222),
		"independent, own words": {Semantics: mixerpb.ReportRequest_INDEPENDENT_ENCODING, GlobalWordCount: 0},
		"independent, globals":   {Semantics: mixerpb.ReportRequest_INDEPENDENT_ENCODING, GlobalWordCount: 222},
	}
	for _, name := range []string{"default-http", "default-tcp", "default-absent-attributes", "value-rendering-labels-and-variables"} {
		c := cases[name]
		require.NotEmpty(t, c.Reports, name)
		for lname, l := range layouts {
			t.Run(name+"/"+lname, func(t *testing.T) {
				req, err := enc.Encode(c.Reports, l)
				require.NoError(t, err)
				out, res, err := decode(t, req)
				require.NoError(t, err)
				require.Empty(t, res.Errors)
				require.Zero(t, res.Dropped)
				require.Equal(t, len(c.Reports), out.Len())
				for i, b := range c.Reports {
					assert.Equal(t, b.RecordRaw(), out.At(i).Attributes().AsRaw(), "report %d", i)
				}
			})
		}
		// mixc: one request per report (mixer-oracle "client"), DELTA with
		// a single element.
		t.Run(name+"/mixc", func(t *testing.T) {
			for i, b := range c.Reports {
				req, err := enc.Encode([]Bag{b}, MixcLayout)
				require.NoError(t, err)
				require.Zero(t, req.GlobalWordCount)
				out, res, err := decode(t, req)
				require.NoError(t, err)
				require.Empty(t, res.Errors)
				require.Equal(t, 1, out.Len())
				assert.Equal(t, b.RecordRaw(), out.At(0).Attributes().AsRaw(), "report %d", i)
			}
		})
	}
}

// The pdata type of every Istio type (DESIGN §3.1).
func TestRecordTypes(t *testing.T) {
	ts := time.Date(2020, 7, 1, 10, 0, 1, 123456789, time.FixedZone("", 2*3600))
	b := Bag{
		String("s", "x"), Int64("i", -1), Double("d", 1e-7), Bool("b", true),
		Timestamp("request.time", ts), Duration("dur", 90*time.Second+1500),
		Bytes("ip4", []byte{10, 1, 2, 3}), Bytes("ip3", []byte{1, 2, 3}),
		StringMap("m", map[string]string{"a": "1", "k": ""}), StringMap("empty", map[string]string{}),
	}
	req, err := NewDefaultEncoder().Encode([]Bag{b}, ProxyLayout(222))
	require.NoError(t, err)
	out, _, err := decode(t, req)
	require.NoError(t, err)
	lr := out.At(0)
	assert.True(t, bagrecord.IsBag(lr))
	assert.Equal(t, pcommon.NewTimestampFromTime(ts), lr.Timestamp())
	assert.Equal(t, pcommon.NewTimestampFromTime(observed), lr.ObservedTimestamp())
	m := lr.Attributes()
	want := map[string]pcommon.ValueType{
		"s": pcommon.ValueTypeStr, "i": pcommon.ValueTypeInt, "d": pcommon.ValueTypeDouble,
		"b": pcommon.ValueTypeBool, "request.time": pcommon.ValueTypeInt, "dur": pcommon.ValueTypeInt,
		"ip4": pcommon.ValueTypeBytes, "ip3": pcommon.ValueTypeBytes, "m": pcommon.ValueTypeMap,
		"empty": pcommon.ValueTypeMap,
	}
	assert.Equal(t, len(want), m.Len())
	for name, typ := range want {
		v, ok := m.Get(name)
		require.True(t, ok, name)
		assert.Equal(t, typ, v.Type(), name)
	}
	v, _ := m.Get("request.time")
	assert.Equal(t, ts.UnixNano(), v.Int())
	v, _ = m.Get("dur")
	assert.Equal(t, int64(90*time.Second+1500), v.Int())
	v, _ = m.Get("empty")
	assert.Equal(t, 0, v.Map().Len())
}

func TestRecordTimestamp(t *testing.T) {
	reqTime := time.Date(2020, 7, 1, 10, 0, 0, 5, time.UTC)
	ctxTime := time.Date(2020, 7, 1, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		bag  Bag
		want time.Time
	}{
		{"request.time first", Bag{Timestamp("context.time", ctxTime), Timestamp("request.time", reqTime)}, reqTime},
		{"context.time", Bag{Timestamp("context.time", ctxTime)}, ctxTime},
		{"neither", Bag{Timestamp("response.time", ctxTime)}, time.Time{}},
		{"before the epoch", Bag{Timestamp("request.time", time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC))}, time.Time{}},
		{"year 1 falls back", Bag{Timestamp("request.time", time.Time{}), Timestamp("context.time", ctxTime)}, ctxTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := NewDefaultEncoder().Encode([]Bag{tt.bag}, ProxyLayout(222))
			require.NoError(t, err)
			out, _, err := decode(t, req)
			require.NoError(t, err)
			want := pcommon.Timestamp(0)
			if !tt.want.IsZero() {
				want = pcommon.NewTimestampFromTime(tt.want)
			}
			assert.Equal(t, want, out.At(0).Timestamp())
		})
	}
}

// DELTA_ENCODING in one request, as recorded on Mixer
// (delta-encoding-one-request): every element yields the accumulated bag.
func TestDeltaOneRequestOracle(t *testing.T) {
	c := loadOracle(t)["delta-encoding-one-request"]
	require.Equal(t, "delta-one-request", c.Replay)
	require.Equal(t, []string{"Report RPC returned OK"}, c.ReportRPCResults)

	req, err := NewDefaultEncoder().Encode(c.Reports, MixcLayout)
	require.NoError(t, err)
	require.Equal(t, mixerpb.ReportRequest_DELTA_ENCODING, req.RepeatedAttributesSemantics)
	out, res, err := decode(t, req)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Equal(t, 6, out.Len())

	// The stdio lines Mixer wrote, one per element, carry the accumulated
	// values: compare them with our records.
	lines := c.LogLines[0]
	require.Len(t, lines, 6)
	for i, line := range lines {
		var l struct {
			Code   int64  `json:"code"`
			Labels string `json:"labels"`
			Method string `json:"method"`
			Report string `json:"report"`
			Source string `json:"source"`
			Time   string `json:"time"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &l))
		got := out.At(i).Attributes().AsRaw()
		assert.Equal(t, l.Report, got["request.id"], "element %d", i)
		assert.Equal(t, l.Code, got["response.code"], "element %d", i)
		assert.Equal(t, l.Method, got["request.method"], "element %d", i)
		assert.Equal(t, l.Source, got["source.workload.name"], "element %d", i)
		assert.Equal(t, l.Labels, renderStringMap(got["source.labels"].(map[string]any)), "element %d", i)
		if rt, ok := got["request.time"]; ok {
			assert.Equal(t, l.Time[:19], time.Unix(0, rt.(int64)).UTC().Format("2006-01-02T15:04:05"), "element %d", i)
		}
	}
	// Element 3 is empty: it repeats element 2.
	assert.Equal(t, out.At(2).Attributes().AsRaw(), out.At(3).Attributes().AsRaw())
}

// renderStringMap prints a map as Mixer's stdio adapter did.
func renderStringMap(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%v", k, m[k])
	}
	return "stringmap[" + strings.Join(parts, " ") + "]"
}

func TestEmptyRequestIsOK(t *testing.T) {
	out, res, err := decode(t, &mixerpb.ReportRequest{GlobalWordCount: 9999})
	require.NoError(t, err)
	assert.Zero(t, out.Len())
	assert.Zero(t, res.Reports)
}

func TestGlobalWordCount(t *testing.T) {
	one := []*mixerpb.CompressedAttributes{{}}
	tests := []struct {
		count   uint32
		wantErr string
	}{
		{0, ""},
		{221, ""},
		{222, ""},
		{223, "inconsistent global dictionary versions used: mixer knows 222 words, caller knows 223"},
		{math.MaxUint32, "inconsistent global dictionary versions used: mixer knows 222 words, caller knows 4294967295"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.count), func(t *testing.T) {
			out, _, err := decode(t, &mixerpb.ReportRequest{Attributes: one, GlobalWordCount: tt.count})
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, 1, out.Len())
				return
			}
			var de *DictionaryError
			require.ErrorAs(t, err, &de)
			assert.EqualError(t, err, tt.wantErr)
			assert.Zero(t, out.Len())
		})
	}
}

// Malformed complete bags: Mixer's lazy bag left the attribute out and the
// report went on.
func TestIndependentMalformed(t *testing.T) {
	reqID, code, labels := g(t, "request.id"), g(t, "response.code"), g(t, "source.labels")
	tests := []struct {
		name     string
		ca       *mixerpb.CompressedAttributes
		want     map[string]any
		warnings []string
	}{
		{
			name:     "undefined value index",
			ca:       &mixerpb.CompressedAttributes{Words: []string{"r1"}, Strings: map[int32]int32{reqID: -9}, Int64S: map[int32]int64{code: 200}},
			want:     map[string]any{"response.code": int64(200)},
			warnings: []string{"string attribute request.id: string index -9 is not defined in the available dictionaries"},
		},
		{
			name:     "undefined global value index",
			ca:       &mixerpb.CompressedAttributes{Strings: map[int32]int32{reqID: 222}},
			want:     map[string]any{},
			warnings: []string{"string attribute request.id: string index 222 is not defined in the available dictionaries"},
		},
		{
			name:     "undefined name index",
			ca:       &mixerpb.CompressedAttributes{Int64S: map[int32]int64{-5: 1, code: 404}},
			want:     map[string]any{"response.code": int64(404)},
			warnings: []string{"attribute index -5 is not defined in the available dictionaries"},
		},
		{
			name:     "most negative index",
			ca:       &mixerpb.CompressedAttributes{Words: []string{"x"}, Bools: map[int32]bool{math.MinInt32: true}},
			want:     map[string]any{},
			warnings: []string{"attribute index -2147483648 is not defined in the available dictionaries"},
		},
		{
			name:     "undefined string map word",
			ca:       &mixerpb.CompressedAttributes{Words: []string{"app"}, StringMaps: map[int32]*mixerpb.StringMap{labels: {Entries: map[int32]int32{-1: -2}}}},
			want:     map[string]any{},
			warnings: []string{"string map source.labels: string index -2 is not defined in the available dictionaries"},
		},
		{
			name: "string wins over int64",
			ca:   &mixerpb.CompressedAttributes{Words: []string{"r1"}, Strings: map[int32]int32{reqID: -1}, Int64S: map[int32]int64{reqID: 7}},
			want: map[string]any{"request.id": "r1"},
		},
		{
			name: "undefined string value still hides the int64",
			ca:   &mixerpb.CompressedAttributes{Strings: map[int32]int32{reqID: -1}, Int64S: map[int32]int64{reqID: 7}},
			want: map[string]any{},
			warnings: []string{
				"string attribute request.id: string index -1 is not defined in the available dictionaries",
			},
		},
		{
			name: "string map wins over int64 and bytes",
			ca: &mixerpb.CompressedAttributes{
				StringMaps: map[int32]*mixerpb.StringMap{code: {}},
				Int64S:     map[int32]int64{code: 1}, Bytes: map[int32][]byte{code: {1}},
			},
			want: map[string]any{"response.code": map[string]any{}},
		},
		{
			name: "int64 wins over double, bool, timestamp, duration, bytes",
			ca: &mixerpb.CompressedAttributes{
				Int64S: map[int32]int64{code: 1}, Doubles: map[int32]float64{code: 2}, Bools: map[int32]bool{code: true},
				Timestamps: map[int32]*timestamppb.Timestamp{code: {}}, Durations: map[int32]*durationpb.Duration{code: {}},
				Bytes: map[int32][]byte{code: {1}},
			},
			want: map[string]any{"response.code": int64(1)},
		},
		{
			name: "duration wins over bytes",
			ca: &mixerpb.CompressedAttributes{
				Durations: map[int32]*durationpb.Duration{code: {Seconds: 1}}, Bytes: map[int32][]byte{code: {1}},
			},
			want: map[string]any{"response.code": int64(time.Second)},
		},
		{
			// Mixer's lazy bag looks a name up by its message index when the
			// message list has it, so the global key is never seen.
			name: "global index shadowed by a message word",
			ca: &mixerpb.CompressedAttributes{
				Words:   []string{"request.id", "r1"},
				Strings: map[int32]int32{reqID: -2},
			},
			want: map[string]any{},
		},
		{
			name: "message index of a global word",
			ca: &mixerpb.CompressedAttributes{
				Words:   []string{"request.id", "r1"},
				Strings: map[int32]int32{-1: -2},
			},
			want: map[string]any{"request.id": "r1"},
		},
		{
			name: "word listed twice: last slot wins",
			ca: &mixerpb.CompressedAttributes{
				Words:   []string{"a", "a", "x", "y"},
				Strings: map[int32]int32{-1: -3, -2: -4},
			},
			want: map[string]any{"a": "y"},
		},
		{
			// Mixer looked "a" up by its last slot, which has no value here.
			name: "word listed twice: the first slot is not seen",
			ca: &mixerpb.CompressedAttributes{
				Words:   []string{"a", "a", "x"},
				Strings: map[int32]int32{-1: -3},
			},
			want: map[string]any{},
		},
		{
			name: "ip bytes of any length",
			ca:   &mixerpb.CompressedAttributes{Bytes: map[int32][]byte{g(t, "source.ip"): {1, 2, 3}, g(t, "destination.ip"): {}}},
			want: map[string]any{"source.ip": []byte{1, 2, 3}, "destination.ip": []byte(nil)},
		},
		{
			name: "nil timestamp and duration values are zero",
			ca: &mixerpb.CompressedAttributes{
				Timestamps: map[int32]*timestamppb.Timestamp{g(t, "response.time"): nil},
				Durations:  map[int32]*durationpb.Duration{g(t, "response.duration"): nil},
				StringMaps: map[int32]*mixerpb.StringMap{labels: nil},
			},
			want: map[string]any{"response.time": int64(0), "response.duration": int64(0), "source.labels": map[string]any{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sem := range []mixerpb.ReportRequest_RepeatedAttributesSemantics{
				mixerpb.ReportRequest_INDEPENDENT_ENCODING, mixerpb.ReportRequest_DELTA_ENCODING,
			} {
				// The first element of a DELTA request is read the same way.
				out, res, err := decode(t, &mixerpb.ReportRequest{
					Attributes: []*mixerpb.CompressedAttributes{tt.ca}, RepeatedAttributesSemantics: sem,
				})
				require.NoError(t, err)
				require.Empty(t, res.Errors)
				require.Equal(t, 1, out.Len())
				assert.Equal(t, tt.want, out.At(0).Attributes().AsRaw(), sem.String())
				var msgs []string
				for _, w := range res.Warnings {
					assert.Equal(t, 0, w.Index)
					msgs = append(msgs, w.Message)
				}
				assert.Equal(t, tt.warnings, msgs, sem.String())
				assert.Equal(t, len(tt.warnings), res.Dropped)
			}
		})
	}
}

// Values a bag cannot hold fail their element, in either encoding.
func TestValueErrors(t *testing.T) {
	rt, d := g(t, "request.time"), g(t, "response.duration")
	tests := []struct {
		name string
		ca   *mixerpb.CompressedAttributes
		want string
	}{
		{"timestamp nanos", &mixerpb.CompressedAttributes{Timestamps: map[int32]*timestamppb.Timestamp{rt: {Nanos: 1e9}}},
			"timestamp attribute request.time: nanos 1000000000 out of range [0, 999999999]"},
		{"negative timestamp nanos", &mixerpb.CompressedAttributes{Timestamps: map[int32]*timestamppb.Timestamp{rt: {Nanos: -1}}},
			"timestamp attribute request.time: nanos -1 out of range [0, 999999999]"},
		{"timestamp year 10000", &mixerpb.CompressedAttributes{Timestamps: map[int32]*timestamppb.Timestamp{rt: {Seconds: 253402300800}}},
			"timestamp attribute request.time: seconds 253402300800 outside years 0001 to 9999"},
		{"duration signs", &mixerpb.CompressedAttributes{Durations: map[int32]*durationpb.Duration{d: {Seconds: 1, Nanos: -1}}},
			"duration attribute response.duration: seconds 1 and nanos -1 have different signs"},
		{"duration nanos", &mixerpb.CompressedAttributes{Durations: map[int32]*durationpb.Duration{d: {Nanos: 1e9}}},
			"duration attribute response.duration: nanos 1000000000 out of range"},
		{"duration beyond int64", &mixerpb.CompressedAttributes{Durations: map[int32]*durationpb.Duration{d: {Seconds: 9223372037}}},
			"duration attribute response.duration: 9223372037s0ns is out of range for a duration in int64 nanoseconds"},
		{"duration beyond protobuf", &mixerpb.CompressedAttributes{Durations: map[int32]*durationpb.Duration{d: {Seconds: -315576000001}}},
			"duration attribute response.duration: seconds -315576000001 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sem := range []mixerpb.ReportRequest_RepeatedAttributesSemantics{
				mixerpb.ReportRequest_INDEPENDENT_ENCODING, mixerpb.ReportRequest_DELTA_ENCODING,
			} {
				ok := &mixerpb.CompressedAttributes{Int64S: map[int32]int64{g(t, "response.code"): 200}}
				out, res, err := decode(t, &mixerpb.ReportRequest{
					Attributes:                  []*mixerpb.CompressedAttributes{ok, tt.ca},
					RepeatedAttributesSemantics: sem,
				})
				require.NoError(t, err)
				require.Len(t, res.Errors, 1, sem.String())
				assert.Equal(t, 1, res.Errors[0].Index)
				assert.EqualError(t, &res.Errors[0], "request could not be processed due to invalid attributes: "+tt.want)
				assert.Equal(t, 1, out.Len())
			}
		})
	}
	// The largest duration still fits.
	out, res, err := decode(t, &mixerpb.ReportRequest{Attributes: []*mixerpb.CompressedAttributes{
		{Durations: map[int32]*durationpb.Duration{d: durationpb.New(math.MaxInt64)}},
	}})
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	assert.Equal(t, map[string]any{"response.duration": int64(math.MaxInt64)}, out.At(0).Attributes().AsRaw())
}

// Failures in the later elements of a DELTA request, worded as Mixer
// answered them (mixer-semantics.md §a.3).
func TestDeltaErrors(t *testing.T) {
	reqID, code, method := g(t, "request.id"), g(t, "response.code"), g(t, "request.method")
	base := &mixerpb.CompressedAttributes{
		Words:   []string{"r0", "GET"},
		Strings: map[int32]int32{reqID: -1, method: -2},
		Int64S:  map[int32]int64{code: 200},
	}
	tests := []struct {
		name    string
		elem    *mixerpb.CompressedAttributes
		wantRPC string
		next    map[string]any // the bag of an empty element sent after the failing one
	}{
		{
			name: "undefined index",
			elem: &mixerpb.CompressedAttributes{Words: []string{"r1"}, Strings: map[int32]int32{reqID: -9}},
			wantRPC: "1 error occurred:\n\t* request could not be processed due to invalid attributes: 1 error occurred:\n" +
				"\t* attribute index -9 is not defined in the available dictionaries\n\n\n\n",
			next: map[string]any{"request.id": "r0", "request.method": "GET", "response.code": int64(200)},
		},
		{
			name: "partial update stays",
			elem: &mixerpb.CompressedAttributes{Words: []string{"r1"}, Strings: map[int32]int32{reqID: -1}, Int64S: map[int32]int64{-7: 1}},
			wantRPC: "1 error occurred:\n\t* request could not be processed due to invalid attributes: 1 error occurred:\n" +
				"\t* attribute index -7 is not defined in the available dictionaries\n\n\n\n",
			next: map[string]any{"request.id": "r1", "request.method": "GET", "response.code": int64(200)},
		},
		{
			name: "duplicate name",
			elem: &mixerpb.CompressedAttributes{Words: []string{"r1"}, Strings: map[int32]int32{reqID: -1}, Int64S: map[int32]int64{reqID: 5}},
			wantRPC: "1 error occurred:\n\t* request could not be processed due to invalid attributes: " +
				"duplicate attribute request.id (type int64)\n\n",
			next: map[string]any{"request.id": "r1", "request.method": "GET", "response.code": int64(200)},
		},
		{
			name: "duplicate through a message word",
			elem: &mixerpb.CompressedAttributes{Words: []string{"response.code"}, Int64S: map[int32]int64{code: 404}, Doubles: map[int32]float64{-1: 1}},
			wantRPC: "1 error occurred:\n\t* request could not be processed due to invalid attributes: " +
				"duplicate attribute response.code (type float64)\n\n",
			next: map[string]any{"request.id": "r0", "request.method": "GET", "response.code": int64(404)},
		},
		{
			name: "duplicate string map",
			elem: &mixerpb.CompressedAttributes{Bools: map[int32]bool{code: true}, StringMaps: map[int32]*mixerpb.StringMap{code: {}}},
			wantRPC: "1 error occurred:\n\t* request could not be processed due to invalid attributes: " +
				"duplicate attribute response.code (type attribute.StringMap)\n\n",
			next: map[string]any{"request.id": "r0", "request.method": "GET", "response.code": true},
		},
		{
			name: "undefined map word",
			elem: &mixerpb.CompressedAttributes{StringMaps: map[int32]*mixerpb.StringMap{g(t, "source.labels"): {Entries: map[int32]int32{-3: 0}}}},
			wantRPC: "1 error occurred:\n\t* request could not be processed due to invalid attributes: 1 error occurred:\n" +
				"\t* attribute index -3 is not defined in the available dictionaries\n\n\n\n",
			next: map[string]any{"request.id": "r0", "request.method": "GET", "response.code": int64(200)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res, err := decode(t, &mixerpb.ReportRequest{
				Attributes:                  []*mixerpb.CompressedAttributes{base, tt.elem, {}},
				RepeatedAttributesSemantics: mixerpb.ReportRequest_DELTA_ENCODING,
			})
			require.NoError(t, err)
			require.Len(t, res.Errors, 1)
			assert.Equal(t, 1, res.Errors[0].Index)
			assert.Equal(t, tt.wantRPC, ReportErrorMessage(res.Errors))
			require.Equal(t, 2, out.Len(), "the failed element has no record")
			assert.Equal(t, tt.next, out.At(1).Attributes().AsRaw())
		})
	}
}

func TestDeltaStringMapReplaced(t *testing.T) {
	labels := g(t, "source.labels")
	out, res, err := decode(t, &mixerpb.ReportRequest{
		Attributes: []*mixerpb.CompressedAttributes{
			{Words: []string{"app", "a", "version", "v1"}, StringMaps: map[int32]*mixerpb.StringMap{labels: {Entries: map[int32]int32{-1: -2, -3: -4}}}},
			{Words: []string{"app", "b"}, StringMaps: map[int32]*mixerpb.StringMap{labels: {Entries: map[int32]int32{-1: -2}}}},
			{StringMaps: map[int32]*mixerpb.StringMap{labels: {}}},
		},
	})
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	assert.Equal(t, []map[string]any{
		{"source.labels": map[string]any{"app": "a", "version": "v1"}},
		{"source.labels": map[string]any{"app": "b"}},
		{"source.labels": map[string]any{}},
	}, recordsRaw(out))
}

// Several failing elements: each fails alone, the rest are reported, and
// the RPC message lists them all.
func TestSeveralElementErrors(t *testing.T) {
	rt := g(t, "request.time")
	bad := &mixerpb.CompressedAttributes{Timestamps: map[int32]*timestamppb.Timestamp{rt: {Nanos: -1}}}
	good := &mixerpb.CompressedAttributes{Int64S: map[int32]int64{g(t, "response.code"): 200}}
	out, res, err := decode(t, &mixerpb.ReportRequest{
		Attributes:                  []*mixerpb.CompressedAttributes{bad, good, bad, good},
		RepeatedAttributesSemantics: mixerpb.ReportRequest_INDEPENDENT_ENCODING,
	})
	require.NoError(t, err)
	assert.Equal(t, 2, out.Len())
	assert.Equal(t, 2, res.Reports)
	require.Len(t, res.Errors, 2)
	assert.Equal(t, []int{0, 2}, []int{res.Errors[0].Index, res.Errors[1].Index})
	e := "request could not be processed due to invalid attributes: timestamp attribute request.time: nanos -1 out of range [0, 999999999]"
	assert.Equal(t, "2 errors occurred:\n\t* "+e+"\n\t* "+e+"\n\n", ReportErrorMessage(res.Errors))
}

// An element's own words replace default_words; the others use them.
func TestDefaultWords(t *testing.T) {
	reqID := g(t, "request.id")
	out, _, err := decode(t, &mixerpb.ReportRequest{
		DefaultWords: []string{"from-default"},
		Attributes: []*mixerpb.CompressedAttributes{
			{Strings: map[int32]int32{reqID: -1}},
			{Words: []string{"own"}, Strings: map[int32]int32{reqID: -1}},
			{Strings: map[int32]int32{reqID: -1}},
		},
		RepeatedAttributesSemantics: mixerpb.ReportRequest_INDEPENDENT_ENCODING,
	})
	require.NoError(t, err)
	assert.Equal(t, []map[string]any{
		{"request.id": "from-default"}, {"request.id": "own"}, {"request.id": "from-default"},
	}, recordsRaw(out))
}

func TestWarningsAreBounded(t *testing.T) {
	ints := map[int32]int64{}
	for i := range 100 {
		ints[int32(-1000-i)] = 1
	}
	_, res, err := decode(t, &mixerpb.ReportRequest{Attributes: []*mixerpb.CompressedAttributes{{Int64S: ints}}})
	require.NoError(t, err)
	assert.Equal(t, 100, res.Dropped)
	assert.Len(t, res.Warnings, MaxWarnings)
}

// A Decoder is reused: state of one request must not leak into the next.
func TestDecoderReuse(t *testing.T) {
	d := NewDefaultDecoder()
	enc := NewDefaultEncoder()
	reqID := g(t, "request.id")
	shadow := &mixerpb.ReportRequest{Attributes: []*mixerpb.CompressedAttributes{
		{Words: []string{"request.id", "r1"}, Strings: map[int32]int32{-1: -2}},
	}}
	for i := range 3 {
		out := plog.NewLogRecordSlice()
		_, err := d.Decode(shadow, out, observed)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"request.id": "r1"}, out.At(0).Attributes().AsRaw())

		// The global index of request.id is visible again without the
		// shadowing message word.
		req, err := enc.Encode([]Bag{{String("request.id", fmt.Sprint("x", i))}}, ProxyLayout(222))
		require.NoError(t, err)
		require.Equal(t, map[int32]int32{reqID: -1}, req.Attributes[0].Strings)
		out = plog.NewLogRecordSlice()
		_, err = d.Decode(req, out, observed)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"request.id": fmt.Sprint("x", i)}, out.At(0).Attributes().AsRaw())
	}
}

// Bags far beyond what Istio sends fail alone instead of costing minutes of
// pdata key scans.
func TestLimits(t *testing.T) {
	big := Bag{}
	for i := range MaxAttributes + 1 {
		big = append(big, Int64(fmt.Sprint("a", i), int64(i)))
	}
	headers := map[string]string{}
	for i := range MaxStringMapEntries + 1 {
		headers[fmt.Sprint("h", i)] = "v"
	}
	small := Bag{String("request.id", "ok")}
	tests := []struct {
		name   string
		bags   []Bag
		layout Layout
		want   string
	}{
		{"attributes", []Bag{small, big}, ProxyLayout(222), "bag has 1025 attributes, more than the 1024 accepted"},
		{"map entries", []Bag{small, {StringMap("request.headers", headers)}}, ProxyLayout(222),
			"string map request.headers has 1025 entries, more than the 1024 accepted"},
		{"delta attributes", []Bag{small, big}, MixcLayout, "element has 1025 attributes, more than the 1024 accepted"},
		{"delta map entries", []Bag{small, {StringMap("request.headers", headers)}}, MixcLayout,
			"string map request.headers has 1025 entries, more than the 1024 accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := NewDefaultEncoder().Encode(tt.bags, tt.layout)
			require.NoError(t, err)
			out, res, err := decode(t, req)
			require.NoError(t, err)
			require.Len(t, res.Errors, 1)
			assert.Equal(t, 1, res.Errors[0].Index)
			assert.EqualError(t, res.Errors[0].Err, tt.want)
			assert.Equal(t, 1, out.Len())
		})
	}
	// Exactly at the bounds is fine.
	req, err := NewDefaultEncoder().Encode([]Bag{big[:MaxAttributes]}, ProxyLayout(222))
	require.NoError(t, err)
	_, res, err := decode(t, req)
	require.NoError(t, err)
	assert.Empty(t, res.Errors)
}
