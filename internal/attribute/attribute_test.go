package attribute

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTypeNamesAndNumbers(t *testing.T) {
	want := []string{"VALUE_TYPE_UNSPECIFIED", "STRING", "INT64", "DOUBLE", "BOOL", "TIMESTAMP",
		"IP_ADDRESS", "EMAIL_ADDRESS", "URI", "DNS_NAME", "DURATION", "STRING_MAP"}
	for i, name := range want {
		if got := Type(i).String(); got != name {
			t.Errorf("Type(%d).String() = %q, want %q", i, got, name)
		}
		for _, in := range []string{name, strings.ToLower(name), fmt.Sprint(i)} {
			got, err := ParseType(in)
			if err != nil || got != Type(i) {
				t.Errorf("ParseType(%q) = %v, %v; want %v", in, got, err, Type(i))
			}
		}
	}
	if Type(12).String() != "12" {
		t.Errorf("Type(12).String() = %q", Type(12).String())
	}
	for _, bad := range []string{"", "BYTES", "12", "-1", "string_"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) succeeded", bad)
		}
	}
	if TypeIPAddress != 6 || TypeStringMap != 11 {
		t.Fatal("type numbers drifted from istio.policy.v1beta1.ValueType")
	}
}

func TestStringMap(t *testing.T) {
	var nilMap *StringMap
	if nilMap.Len() != 0 || nilMap.String() != "stringmap[]" {
		t.Fatal("nil map is not empty")
	}
	if _, ok := nilMap.Get("a"); ok {
		t.Fatal("nil map has a key")
	}
	m := NewStringMap("b", "2", "a", "1", "c", "")
	m.Set("b", "two")
	if got := m.String(); got != "stringmap[a:1 b:two c:]" {
		t.Errorf("String() = %q", got)
	}
	if v, ok := m.Get("c"); !ok || v != "" {
		t.Errorf(`Get("c") = %q, %v; empty values are values`, v, ok)
	}
	if k, _ := m.At(0); k != "b" {
		t.Errorf("insertion order lost: first key %q", k)
	}
	m.Delete("b")
	if m.Len() != 2 || m.String() != "stringmap[a:1 c:]" {
		t.Errorf("after Delete: %v", m)
	}
	if !m.Equal(StringMapOf(map[string]string{"c": "", "a": "1"})) {
		t.Error("Equal is order sensitive")
	}
	if m.Equal(NewStringMap("a", "1", "c", "x")) {
		t.Error("Equal ignores values")
	}
	c := m.Clone()
	m.Reset()
	if m.Len() != 0 || c.Len() != 2 {
		t.Error("Reset touched the clone")
	}
	// Nothing is escaped, as in Mixer.
	if got := NewStringMap("k y", "v:w]").String(); got != "stringmap[k y:v:w]]" {
		t.Errorf("String() = %q", got)
	}
}

// AppendString writes what the plain rendering (sorted keys, Get per key)
// gives, after what dst holds, without allocating for small maps.
func TestStringMapAppendString(t *testing.T) {
	plain := func(m *StringMap) string {
		var b strings.Builder
		b.WriteString("stringmap[")
		for i, k := range m.Keys() {
			if i > 0 {
				b.WriteByte(' ')
			}
			v, _ := m.Get(k)
			b.WriteString(k + ":" + v)
		}
		return b.String() + "]"
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 40 {
		kv := make([]string, 0, 2*n)
		for range n {
			kv = append(kv, strconv.Itoa(rng.IntN(50)), strconv.Itoa(rng.IntN(3)))
		}
		m := NewStringMap(kv...)
		if got, want := string(m.AppendString([]byte("x="))), "x="+plain(m); got != want {
			t.Fatalf("%d entries: got %q, want %q", n, got, want)
		}
	}
	m := NewStringMap("x-request-id", "a", ":path", "/", "user-agent", "curl", "accept", "*/*")
	buf := make([]byte, 0, 128)
	if allocs := testing.AllocsPerRun(100, func() { buf = m.AppendString(buf[:0]) }); allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestValueRendering(t *testing.T) {
	ts := time.Date(2015, 1, 2, 15, 4, 5, 0, time.UTC)
	cases := []struct {
		v    Value
		typ  Type
		want string
	}{
		{StringValue("x"), TypeString, "x"},
		{DNSNameValue("a.b"), TypeDNSName, "a.b"},
		{Int64Value(20), TypeInt64, "20"},
		{DoubleValue(1), TypeDouble, "1"},
		{DoubleValue(1e6), TypeDouble, "1e+06"},
		{DoubleValue(0.25), TypeDouble, "0.25"},
		{BoolValue(true), TypeBool, "true"},
		{DurationValue(20 * time.Millisecond), TypeDuration, "20ms"},
		{TimestampValue(ts), TypeTimestamp, "2015-01-02 15:04:05 +0000 UTC"},
		{IPValue([]byte{10, 0, 0, 1}), TypeIPAddress, "[10 0 0 1]"},
		{StringMapValue(NewStringMap("a", "1")), TypeStringMap, "stringmap[a:1]"},
		{StringMapValue(nil), TypeStringMap, "stringmap[]"},
		{Value{}, TypeUnspecified, "<nil>"},
	}
	for _, c := range cases {
		if c.v.Type() != c.typ || c.v.String() != c.want {
			t.Errorf("%v: type %v, String %q; want %v, %q", c.v, c.v.Type(), c.v.String(), c.typ, c.want)
		}
		// Go's %v of the underlying Go value is what Mixer printed.
		if c.typ == TypeDouble && fmt.Sprint(c.v.Double()) != c.want {
			t.Errorf("double rendering differs from %%v: %q", fmt.Sprint(c.v.Double()))
		}
	}
	if DoubleValue(math.Inf(1)).Double() != math.Inf(1) || Int64Value(-3).Int64() != -3 ||
		!BoolValue(true).Bool() || BoolValue(false).Bool() || DurationValue(time.Second).Duration() != time.Second {
		t.Error("accessor round trip failed")
	}
	if StringValue("x").Int64() != 0 || Int64Value(1).Str() != "" {
		t.Error("accessors must return zero for other types")
	}
	year1 := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	if !TimestampValue(year1).Time().Equal(year1) {
		t.Error("year 1 not representable")
	}
	if !IPValue(net.IPv4(1, 2, 3, 4)).Equal(IPValue(net.IPv4(1, 2, 3, 4))) ||
		IPValue(net.IPv4(1, 2, 3, 4)).Equal(IPValue([]byte{1, 2, 3, 4})) {
		t.Error("Value.Equal must compare IP bytes exactly")
	}
}

func TestDefaultVocabulary(t *testing.T) {
	v := DefaultVocabulary()
	if v.Len() != 90 {
		t.Fatalf("default vocabulary has %d attributes, want 90", v.Len())
	}
	want := map[string]Type{
		"source.labels":            TypeStringMap,
		"destination.ip":           TypeIPAddress,
		"response.code":            TypeInt64,
		"response.duration":        TypeDuration,
		"request.time":             TypeTimestamp,
		"connection.mtls":          TypeBool,
		"context.proxy_version":    TypeString,
		"destination.service.host": TypeString,
		"request.headers":          TypeStringMap,
	}
	for name, typ := range want {
		id, got, ok := v.Lookup(name)
		if !ok || got != typ || v.Name(id) != name || v.Type(id) != typ {
			t.Errorf("Lookup(%q) = %d, %v, %v; want type %v", name, id, got, ok, typ)
		}
	}
	counts := map[Type]int{}
	for _, n := range v.Names() {
		_, typ, _ := v.Lookup(n)
		counts[typ]++
	}
	// attributes.tsv: 58 STRING, 11 INT64, 8 STRING_MAP, 4 BOOL, 4 TIMESTAMP, 3 IP, 2 DURATION.
	if counts[TypeString] != 58 || counts[TypeInt64] != 11 || counts[TypeStringMap] != 8 ||
		counts[TypeBool] != 4 || counts[TypeTimestamp] != 4 || counts[TypeIPAddress] != 3 || counts[TypeDuration] != 2 {
		t.Errorf("type counts %v", counts)
	}
	for _, absent := range []string{"destination.service", "source.service", "target.name", ""} {
		if _, _, ok := v.Lookup(absent); ok {
			t.Errorf("%q must not be declared", absent)
		}
	}
	if v.Name(-1) != "" || v.Name(90) != "" || v.Type(90) != TypeUnspecified {
		t.Error("out-of-range ids must be harmless")
	}
	m := DefaultManifest()
	delete(m, "source.labels")
	if _, _, ok := DefaultVocabulary().Lookup("source.labels"); !ok {
		t.Error("DefaultManifest must return a copy")
	}
}

func TestMergeManifests(t *testing.T) {
	merged, err := MergeManifests(
		map[string]Type{"a": TypeString, "b": TypeInt64},
		map[string]Type{"b": TypeInt64, "c": TypeBool},
	)
	if err != nil || len(merged) != 3 {
		t.Fatalf("merge = %v, %v", merged, err)
	}
	merged, err = MergeManifests(map[string]Type{"a": TypeString}, map[string]Type{"a": TypeInt64})
	if err == nil || !strings.Contains(err.Error(), "a (STRING and INT64)") || merged["a"] != TypeInt64 {
		t.Fatalf("conflict: %v, %v", merged, err)
	}
	v := NewVocabulary(map[string]Type{"z": TypeString, "a": TypeInt64})
	if id, _, _ := v.Lookup("a"); id != 0 {
		t.Error("ids must follow sorted names")
	}
}

func TestGlobalDictionary(t *testing.T) {
	d := GlobalDictionary()
	if len(d) != 222 {
		t.Fatalf("len = %d, want 222", len(d))
	}
	want := map[int]string{
		0:   "source.ip",
		94:  "'200'",
		111: "'0'",
		112: "'1'",
		113: "true",
		114: "false",
		// The plain integer words start at 134 (after context.time), checked
		// against istio/api's YAML; mixer-semantics.md §b.5 says 148-150,
		// which are really 503, 504 and destination.ip.
		134: "0",
		135: "1",
		136: "200",
		148: "503",
		218: `"-"`,
		221: "context.proxy_version",
	}
	for i, w := range want {
		if d[i] != w {
			t.Errorf("word %d = %q, want %q", i, d[i], w)
		}
	}
	if len(d[94]) != 5 || len(d[218]) != 3 {
		t.Error("quotes must be kept literally")
	}
	if w, ok := GlobalWord(218); !ok || w != `"-"` {
		t.Error("GlobalWord(218)")
	}
	if _, ok := GlobalWord(222); ok {
		t.Error("GlobalWord(222) must fail")
	}
	for i, w := range want {
		if j, ok := GlobalIndex(w); !ok || j != i {
			t.Errorf("GlobalIndex(%q) = %d, %v; want %d", w, j, ok, i)
		}
	}
	if _, ok := GlobalIndex("request.nonexistent"); ok {
		t.Error("GlobalIndex of a word outside the dictionary must fail")
	}
	d[0] = "mutated"
	if w, _ := GlobalWord(0); w != "source.ip" {
		t.Error("GlobalDictionary must return a copy")
	}
}

func TestBag(t *testing.T) {
	v := DefaultVocabulary()
	b := NewBag(v)
	id := func(n string) int {
		i, _, ok := v.Lookup(n)
		if !ok {
			t.Fatalf("%s not declared", n)
		}
		return i
	}
	code, host, dip, labels, dur := id("response.code"), id("destination.service.host"),
		id("destination.ip"), id("source.labels"), id("response.duration")

	b.SetInt64(code, 200)
	b.SetString(host, "")
	ip := []byte{10, 0, 0, 1}
	b.SetBytes(dip, ip)
	ip[0] = 99 // the bag keeps its own copy
	m := b.MapFor(labels)
	m.Set("app", "reviews")
	b.SetDuration(dur, 5*time.Millisecond)

	if got, ok := b.GetInt64(code); !ok || got != 200 {
		t.Error("GetInt64")
	}
	if got, ok := b.GetString(host); !ok || got != "" {
		t.Error("empty strings are present")
	}
	if got, ok := b.GetBytes(dip); !ok || !net.IP(got).Equal(net.IPv4(10, 0, 0, 1)) {
		t.Errorf("GetBytes = %v", got)
	}
	if got, ok := b.GetStringMap(labels); !ok || got.String() != "stringmap[app:reviews]" {
		t.Error("GetStringMap")
	}
	if b.Len() != 5 {
		t.Errorf("Len = %d", b.Len())
	}
	// A wrong-typed value is stored with its own type.
	b.SetInt64(host, 20)
	if _, ok := b.GetString(host); ok {
		t.Error("GetString must not accept an INT64 slot")
	}
	if val, _ := b.Get(host); val.Type() != TypeInt64 || val.String() != "20" {
		t.Errorf("wrong-typed slot = %v (%v)", val, val.Type())
	}
	if err := b.SetByName("no.such", StringValue("x")); err == nil {
		t.Error("SetByName must report undeclared attributes")
	}
	if err := b.SetByName("source.labels", StringMapValue(NewStringMap("x", "y"))); err != nil {
		t.Error(err)
	}
	if got, _ := b.GetByName("source.labels"); got.String() != "stringmap[x:y]" {
		t.Errorf("Set map = %v", got)
	}
	// Setting a slot from its own value must not wipe it.
	own, _ := b.Get(labels)
	b.Set(labels, own)
	if got, _ := b.GetStringMap(labels); got.Len() != 1 {
		t.Error("self-assignment wiped the map")
	}
	var seen []string
	b.Range(func(id int, _ *Value) bool { seen = append(seen, v.Name(id)); return true })
	if len(seen) != 5 {
		t.Errorf("Range saw %v", seen)
	}
	b.Delete(code)
	if b.Has(code) || b.Peek(code) != nil {
		t.Error("Delete")
	}
	b.Reset()
	if b.Len() != 0 || b.Has(labels) {
		t.Error("Reset")
	}
	// Out-of-range ids are ignored, never a panic.
	b.SetString(-1, "x")
	b.SetString(v.Len(), "x")
	if b.MapFor(1000) != nil || b.Peek(-5) != nil || b.Len() != 0 {
		t.Error("out-of-range ids must be ignored")
	}
}

// fillBookinfo fills b like one Bookinfo report: strings, numbers, a few maps.
func fillBookinfo(b *Bag, ids map[string]int, ip []byte, now time.Time) {
	b.SetString(ids["source.uid"], "kubernetes://productpage-v1-6b746f74dc-9stp2.default")
	b.SetString(ids["destination.service.host"], "reviews.default.svc.cluster.local")
	b.SetString(ids["context.reporter.kind"], "inbound")
	b.SetString(ids["context.protocol"], "http")
	b.SetInt64(ids["response.code"], 200)
	b.SetInt64(ids["request.size"], 0)
	b.SetDuration(ids["response.duration"], 7*time.Millisecond)
	b.SetTime(ids["request.time"], now)
	b.SetBool(ids["connection.mtls"], true)
	b.SetBytes(ids["destination.ip"], ip)
	h := b.MapFor(ids["request.headers"])
	h.Set(":authority", "reviews:9080")
	h.Set(":path", "/reviews/0")
	h.Set("user-agent", "curl/7.60.0")
	h.Set("x-request-id", "7f0b7a1e-6d7f-4b0e-9f0a-2c5a8d4f3e21")
	l := b.MapFor(ids["source.labels"])
	l.Set("app", "productpage")
	l.Set("version", "v1")
}

func bookinfoIDs(v *Vocabulary) map[string]int {
	ids := map[string]int{}
	for _, n := range v.Names() {
		ids[n], _, _ = v.Lookup(n)
	}
	return ids
}

func TestBagReuseAllocatesNothing(t *testing.T) {
	v := DefaultVocabulary()
	b := NewBag(v)
	ids := bookinfoIDs(v)
	ip := net.ParseIP("10.44.0.12")
	now := time.Now()
	fillBookinfo(b, ids, ip, now) // warm up: the first fill sizes the buffers
	allocs := testing.AllocsPerRun(200, func() {
		b.Reset()
		fillBookinfo(b, ids, ip, now)
	})
	if allocs != 0 {
		t.Fatalf("Reset+fill allocates %.1f times per cycle, want 0", allocs)
	}
}

func BenchmarkBagResetFill(b *testing.B) {
	v := DefaultVocabulary()
	bag := NewBag(v)
	ids := bookinfoIDs(v)
	ip := net.ParseIP("10.44.0.12")
	now := time.Now()
	fillBookinfo(bag, ids, ip, now)
	b.ReportAllocs()
	for b.Loop() {
		bag.Reset()
		fillBookinfo(bag, ids, ip, now)
	}
}
