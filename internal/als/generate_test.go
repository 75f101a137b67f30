package als

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
	"github.com/otelcol-istio/otelcol-istio/internal/envoycluster"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// bookinfoTraffic is what `istiotel loadgen --tcp-every` sends: page loads,
// and a TCP connection every tcpEvery of them.
func bookinfoTraffic(o bookinfo.Options, pageLoads, tcpEvery int) []bookinfo.Bag {
	g := bookinfo.NewGenerator(o)
	var out []bookinfo.Bag
	for i := 1; i <= pageLoads; i++ {
		out = append(out, g.Next()...)
		if tcpEvery > 0 && i%tcpEvery == 0 {
			out = append(out, g.TCPConnection()...)
		}
	}
	return out
}

// bagKey identifies a report: its reporter and request, or its connection
// event.
func bagKey(reporter, requestID, connID, event string) string {
	if requestID != "" {
		return reporter + "|" + requestID
	}
	return reporter + "|" + connID + "|" + event
}

func keyOfBag(b bookinfo.Bag) string {
	get := func(n string) string { v, _ := b.Get(n); return v.Str() }
	id := ""
	if h, ok := b.Get("request.headers"); ok {
		id, _ = h.StringMap().Get("x-request-id")
	}
	return bagKey(get("context.reporter.uid"), id, get("connection.id"), get("connection.event"))
}

func keyOfRecord(lr plog.LogRecord) string {
	a := lr.Attributes()
	get := func(n string) string { v, _ := a.Get(n); return v.Str() }
	id := ""
	if h, ok := a.Get("request.headers"); ok {
		if v, ok := h.Map().Get("x-request-id"); ok {
			id = v.Str()
		}
	}
	return bagKey(get("context.reporter.uid"), id, get("connection.id"), get("connection.event"))
}

// viaALS sends bags the whole way: generator, one Mapper per stream with
// the identifier in the stream's first message only, as the receiver
// does. It returns the records by bagKey.
func viaALS(t testing.TB, g *Generator, bags []bookinfo.Bag) map[string]plog.LogRecord {
	t.Helper()
	msgs, err := g.Messages(bags)
	require.NoError(t, err)
	mappers, packers := map[Stream]*Mapper{}, map[Stream]*Mapper{}
	out, pout := plog.NewLogRecordSlice(), plog.NewLogRecordSlice()
	for i := range msgs {
		m := &msgs[i]
		mp, ok := mappers[m.Stream]
		msg := m.Message
		if !ok {
			mp = NewMapper()
			mappers[m.Stream] = mp
			packers[m.Stream] = NewPackingMapper(true)
			msg = proto.CloneOf(msg)
			msg.Identifier = m.Identifier()
		}
		// Through the wire encoding, as the receiver gets it.
		wire, err := proto.Marshal(msg)
		require.NoError(t, err)
		var got alsv3.StreamAccessLogsMessage
		require.NoError(t, proto.Unmarshal(wire, &got))
		now := time.Now()
		require.Equal(t, m.Entries, mp.Map(&got, out, now))
		require.Equal(t, m.Entries, packers[m.Stream].Map(&got, pout, now))
	}
	require.NoError(t, samePacked(out, pout))
	recs := make(map[string]plog.LogRecord, out.Len())
	for i := range out.Len() {
		k := keyOfRecord(out.At(i))
		require.NotContains(t, recs, k, "two records for one report")
		recs[k] = out.At(i)
	}
	require.Len(t, recs, len(bags))
	return recs
}

// defaultConfig is the embedded telemetry config the collector runs by
// default.
func defaultConfig(t testing.TB) *istioconfig.Snapshot {
	t.Helper()
	src, err := istioconfig.NewEmbeddedSource("istio-1.1")
	require.NoError(t, err)
	in, err := src.Load()
	require.NoError(t, err)
	snap := istioconfig.Build(in, istioconfig.BuildOptions{})
	require.NotEmpty(t, snap.Rules)
	return snap
}

// configExpr is one expression of the config, named for messages.
type configExpr struct {
	where  string // rule or instance, and the field
	expr   *cexl.Expression
	label  string // the dimension's or variable's name
	series bool   // a rule match or part of a metric instance: decides series
}

// configExprs lists the rule matches and the metric and logentry
// expressions of the config (kubernetesenv's inputs need a pod cache,
// which the default collector has not).
func configExprs(snap *istioconfig.Snapshot) []configExpr {
	var out []configExpr
	add := func(where, label string, series bool, e *istioconfig.Expr) {
		if e != nil && e.Compiled != nil {
			out = append(out, configExpr{where, e.Compiled, label, series})
		}
	}
	seen := map[string]bool{}
	for _, r := range snap.Rules {
		add(r.FQN+" match", "", true, r.Match)
		for _, a := range r.Actions {
			for _, in := range a.Instances {
				if seen[in.FQN] || (in.Template != istioconfig.TemplateMetric && in.Template != istioconfig.TemplateLogEntry) {
					continue
				}
				seen[in.FQN] = true
				metric := in.Template == istioconfig.TemplateMetric
				add(in.FQN+" value", "", metric, in.Value)
				add(in.FQN+" timestamp", "", false, in.Timestamp)
				add(in.FQN+" severity", "", false, in.Severity)
				for _, d := range in.Dimensions {
					add(in.FQN+" dimension "+d.Name, d.Name, metric, d.Expr)
				}
				for _, v := range in.Variables {
					add(in.FQN+" variable "+v.Name, v.Name, false, v.Expr)
				}
			}
		}
	}
	return out
}

// attributesRead lists every attribute the config's expressions read.
func attributesRead(exprs []configExpr) []string {
	var out []string
	for _, e := range exprs {
		out = append(out, e.expr.Attributes()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// seenAttr is one attribute of one report, in the bag sent and in the
// record the mapper made of its ALS entry.
type seenAttr struct {
	bag           bookinfo.Bag
	name          string
	orig, got     attribute.Value
	origOK, gotOK bool
}

func (o seenAttr) str(name string) string { v, _ := o.bag.Get(name); return v.Str() }
func (o seenAttr) outbound() bool         { return o.str("context.reporter.kind") == "outbound" }
func (o seenAttr) tcp() bool              { return o.str("context.protocol") == "tcp" }
func (o seenAttr) mtls() bool             { v, _ := o.bag.Get("connection.mtls"); return v.Bool() }

// sameLabels compares the labels the config reads.
func (o seenAttr) sameLabels(keys ...string) bool {
	if !o.origOK || !o.gotOK {
		return o.origOK == o.gotOK
	}
	for _, k := range keys {
		a, aok := o.orig.StringMap().Get(k)
		b, bok := o.got.StringMap().Get(k)
		if a != b || aok != bok {
			return false
		}
	}
	return true
}

// fromUID is the pod or the namespace in a kubernetes://<pod>.<ns> uid.
func (o seenAttr) fromUID(side string, namespace bool) string {
	pod, ns, _ := strings.Cut(strings.TrimPrefix(o.str(side+".uid"), "kubernetes://"), ".")
	if namespace {
		return ns
	}
	return pod
}

// notCarried lists the attributes the default config reads whose value
// does not travel over ALS as the Mixer-era bag has it, why, and what the
// record holds instead (ok says the record holds exactly that).
var notCarried = []struct {
	attrs []string
	why   string
	ok    func(o seenAttr) bool
}{
	{
		[]string{"connection.mtls"},
		"On the client side Envoy's downstream is the plaintext app, so an outbound entry cannot tell mTLS " +
			"and the record has no connection.mtls; Istio 1.1 proxies reported false. The config reads it only " +
			"for the server side, as connection.mtls | false.",
		func(o seenAttr) bool { return o.outbound() && o.origOK && !o.orig.Bool() && !o.gotOK },
	},
	{
		[]string{"connection.requested_server_name"},
		"Istio clients ask for the SNI outbound_.<port>_._.<host> over mTLS and the server's Envoy logs it " +
			"(the server side finds its destination service in it); the Mixer-era bags carry none.",
		func(o seenAttr) bool {
			want := "outbound_." + strconv.FormatInt(func() int64 { v, _ := o.bag.Get("destination.port"); return v.Int64() }(), 10) +
				"_._." + o.str("destination.service.host")
			return !o.outbound() && o.mtls() && !o.origOK && o.gotOK && o.got.Str() == want
		},
	},
	{
		[]string{"context.time"},
		"Envoy stamps an entry with its start: HTTP records gain context.time = request.time, and every TCP " +
			"entry of a connection carries the connection's start, where a Mixer TCP report was stamped when " +
			"sent (connection.duration later).",
		func(o seenAttr) bool {
			if !o.tcp() {
				rt, _ := o.bag.Get("request.time")
				return !o.origOK && o.gotOK && o.got.Time().Equal(rt.Time())
			}
			d, _ := o.bag.Get("connection.duration")
			return o.origOK && o.gotOK && o.got.Time().Equal(o.orig.Time().Add(-d.Duration()))
		},
	},
	{
		[]string{"connection.duration"},
		"Envoy logs a duration only once the connection has ended: open and periodic TCP entries have none.",
		func(o seenAttr) bool { return o.tcp() && o.str("connection.event") != "close" && !o.gotOK },
	},
	{
		[]string{"context.proxy_error_code"},
		"Envoy logs the response flags in every entry, \"-\" when none is set; Istio 1.1 proxies sent none " +
			"with TCP reports. The metric dimensions default it to \"-\" all the same.",
		func(o seenAttr) bool { return o.tcp() && !o.origOK && o.gotOK && o.got.Str() == "-" },
	},
	{
		[]string{"source.labels", "destination.labels"},
		"Istio 1.24's peer metadata has app and version (and the canonical service and revision) but no other " +
			"labels, so the peer loses pod-template-hash; the reporter's own labels travel whole in its node " +
			"metadata. The config reads only app and version.",
		func(o seenAttr) bool { return o.sameLabels("app", "version") },
	},
	{
		[]string{"destination.service.host", "destination.service.name", "destination.service.namespace"},
		"A plaintext server-side entry names its service only in the HTTP authority, since Istio ≥ 1.8 " +
			"inbound clusters name just the port and there is no SNI: the host is the authority without its " +
			"port and the namespace is unknown. A plaintext server-side TCP entry has not even that.",
		func(o seenAttr) bool {
			if o.outbound() || o.mtls() {
				return false
			}
			var s envoycluster.Service
			if !o.tcp() {
				s = envoycluster.ServiceFromHost(envoycluster.HostFromAuthority(o.str("request.host")))
			}
			want := map[string]string{
				"destination.service.host": s.Host, "destination.service.name": s.Name, "destination.service.namespace": s.Namespace,
			}[o.name]
			return o.gotOK == (want != "") && o.got.Str() == want
		},
	},
	{
		[]string{"source.name", "destination.name", "source.workload.namespace", "destination.workload.namespace"},
		"Envoy's node metadata and Istio's peer metadata always name the pod and its namespace; a bag without " +
			"kubernetesenv's attributes has them only in the uid, and the record has them as attributes.",
		func(o seenAttr) bool {
			side, field, _ := strings.Cut(o.name, ".")
			return !o.origOK && o.gotOK && o.got.Str() == o.fromUID(side, field != "name")
		},
	},
}

func whyNotCarried(name string) (string, func(seenAttr) bool) {
	for _, n := range notCarried {
		if slices.Contains(n.attrs, name) {
			return n.why, n.ok
		}
	}
	return "", nil
}

var roundTripCases = []struct {
	name string
	opts bookinfo.Options
}{
	{"loadgen default: kubernetesenv attributes, mTLS", bookinfo.Options{Seed: 5, Enriched: true, MTLS: true}},
	{"plaintext", bookinfo.Options{Seed: 6, Enriched: true}},
	{"proxy attributes only", bookinfo.Options{Seed: 7, MTLS: true}},
}

// TestRoundTrip: Bookinfo bags → generator → mapper → records; every
// attribute the default telemetry config reads has the bag's value, or
// differs as notCarried says.
func TestRoundTrip(t *testing.T) {
	snap := defaultConfig(t)
	read := attributesRead(configExprs(snap))
	require.Contains(t, read, "source.workload.name")
	require.Contains(t, read, "connection.received.bytes")
	for _, tc := range roundTripCases {
		t.Run(tc.name, func(t *testing.T) {
			bags := bookinfoTraffic(tc.opts, 12, 3)
			recs := viaALS(t, NewGenerator(GenerateOptions{}), bags)
			differed := map[string]int{}
			for _, b := range bags {
				rec := recs[keyOfBag(b)]
				got := attribute.NewBag(snap.Vocabulary)
				require.Zero(t, bagrecord.Decode(rec.Attributes(), got))
				for _, name := range read {
					o := seenAttr{bag: b, name: name}
					o.orig, o.origOK = b.Get(name)
					o.got, o.gotOK = got.GetByName(name)
					if o.origOK == o.gotOK && (!o.origOK || o.orig.Equal(o.got)) {
						continue
					}
					why, ok := whyNotCarried(name)
					if assert.NotNil(t, ok, "%s: %s (bag %s) became %s over ALS, and notCarried does not say why",
						keyOfBag(b), name, o.orig, o.got) {
						assert.True(t, ok(o), "%s: %s (bag %s) became %s, not what notCarried says: %s",
							keyOfBag(b), name, o.orig, o.got, why)
					}
					differed[name]++
				}
			}
			t.Logf("attributes that differ (reports): %v", differed)
		})
	}
}

// TestRoundTripSeries evaluates the default config on the bag and on its
// record: every rule match and every metric dimension and value agree, so
// a report lands in the same series either way. Only the principal labels
// differ, by the scheme of the SPIFFE id (see notCarried).
func TestRoundTripSeries(t *testing.T) {
	snap := defaultConfig(t)
	var metricExprs []configExpr
	for _, e := range configExprs(snap) {
		if e.series {
			metricExprs = append(metricExprs, e)
		}
	}
	require.NotEmpty(t, metricExprs)
	o := roundTripCases[0].opts
	bags := bookinfoTraffic(o, 12, 3)
	recs := viaALS(t, NewGenerator(GenerateOptions{}), bags)
	orig, got := attribute.NewBag(snap.Vocabulary), attribute.NewBag(snap.Vocabulary)
	checked := 0
	for _, b := range bags {
		orig.Reset()
		for _, a := range b {
			_ = orig.SetByName(a.Name, a.Value) // the bag's attributes are all in the vocabulary
		}
		bagrecord.Decode(recs[keyOfBag(b)].Attributes(), got)
		for _, e := range metricExprs {
			want, wantErr := e.expr.Eval(orig)
			have, haveErr := e.expr.Eval(got)
			require.Equal(t, wantErr == nil, haveErr == nil, "%s on %s: %v / %v", e.where, keyOfBag(b), wantErr, haveErr)
			assert.True(t, want.Equal(have), "%s on %s: %s over Mixer, %s over ALS", e.where, keyOfBag(b), want, have)
			checked++
		}
	}
	assert.Greater(t, checked, 1000)
}

func TestGenerateStreams(t *testing.T) {
	g := NewGenerator(GenerateOptions{BufferBytes: 4000})
	bags := bookinfoTraffic(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true}, 10, 5)
	msgs, err := g.Messages(bags)
	require.NoError(t, err)

	// One stream per proxy and logger; in a stream, the bags' order.
	perStream := map[Stream][]string{}
	for _, m := range msgs {
		require.Nil(t, m.Message.GetIdentifier(), "the sender adds the identifier")
		assert.Same(t, m.Node, msgs[slices.IndexFunc(msgs, func(x StreamMessage) bool { return x.Stream == m.Stream })].Node)
		id := m.Identifier()
		assert.Equal(t, m.Stream.LogName, id.GetLogName())
		assert.Same(t, m.Node, id.GetNode())
		n := 0
		for _, e := range m.Message.GetHttpLogs().GetLogEntry() {
			assert.Equal(t, HTTPLogName, m.Stream.LogName)
			perStream[m.Stream] = append(perStream[m.Stream], e.GetRequest().GetRequestId())
			n++
		}
		for _, e := range m.Message.GetTcpLogs().GetLogEntry() {
			assert.Equal(t, TCPLogName, m.Stream.LogName)
			perStream[m.Stream] = append(perStream[m.Stream], e.GetCommonProperties().GetStreamId()+"/"+e.GetCommonProperties().GetAccessLogType().String())
			n++
		}
		assert.Equal(t, m.Entries, n)
	}
	want := map[Stream][]string{}
	for _, b := range bags {
		uid, _ := b.Get("context.reporter.uid")
		s := Stream{Reporter: uid.Str(), LogName: HTTPLogName}
		id := ""
		if h, ok := b.Get("request.headers"); ok {
			id, _ = h.StringMap().Get("x-request-id")
		} else {
			s.LogName = TCPLogName
			c, _ := b.Get("connection.id")
			ev, _ := b.Get("connection.event")
			id = c.Str() + "/" + map[string]string{"open": "TcpUpstreamConnected", "continue": "TcpPeriodic", "close": "TcpConnectionEnd"}[ev.Str()]
		}
		want[s] = append(want[s], id)
	}
	assert.Equal(t, want, perStream)
	assert.Len(t, want, 9, "gateway, productpage, details, 3 reviews, ratings; ratings-v2 and mongodb over TCP")
	assert.Greater(t, len(msgs), len(want), "BufferBytes splits a stream's entries into messages")
}

func TestGenerateNode(t *testing.T) {
	g := NewGenerator(GenerateOptions{})
	bags := bookinfoTraffic(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true}, 1, 0)
	tests := []struct {
		name string
		bag  bookinfo.Bag
		id   string
		md   map[string]any
	}{
		{"gateway, client side", bags[0],
			"router~10.44.0.2~istio-ingressgateway-7c8b6b6b5d-f9g2h.istio-system~istio-system.svc.cluster.local",
			map[string]any{
				"NAME": "istio-ingressgateway-7c8b6b6b5d-f9g2h", "NAMESPACE": "istio-system", "WORKLOAD_NAME": "istio-ingressgateway",
				"OWNER":           "kubernetes://apis/apps/v1/namespaces/istio-system/deployments/istio-ingressgateway",
				"SERVICE_ACCOUNT": "istio-ingressgateway-service-account", "INSTANCE_IPS": "10.44.0.2",
				"ISTIO_VERSION": "1.24.0", "CLUSTER_ID": "Kubernetes", "MESH_ID": "cluster.local",
				"LABELS": map[string]any{"app": "istio-ingressgateway", "pod-template-hash": "7c8b6b6b5d"},
			}},
		{"productpage, server side", bags[1],
			"sidecar~10.44.0.11~productpage-v1-6c886ff494-hm7zk.default~default.svc.cluster.local",
			map[string]any{
				"NAME": "productpage-v1-6c886ff494-hm7zk", "NAMESPACE": "default", "WORKLOAD_NAME": "productpage-v1",
				"OWNER":           "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
				"SERVICE_ACCOUNT": "bookinfo-productpage", "INSTANCE_IPS": "10.44.0.11",
				"ISTIO_VERSION": "1.24.0", "CLUSTER_ID": "Kubernetes", "MESH_ID": "cluster.local", "INTERCEPTION_MODE": "REDIRECT",
				"LABELS": map[string]any{"app": "productpage", "version": "v1", "pod-template-hash": "6c886ff494"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := g.Entry(tt.bag)
			require.NoError(t, err)
			assert.Equal(t, tt.id, e.Node.GetId())
			assert.Equal(t, tt.md, e.Node.GetMetadata().AsMap())
		})
	}
}

// The peer is Istio 1.24's Struct of flat strings.
func TestGeneratePeer(t *testing.T) {
	g := NewGenerator(GenerateOptions{})
	bags := bookinfoTraffic(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true}, 1, 0)
	out, err := g.Entry(bags[0]) // gateway → productpage, client side
	require.NoError(t, err)
	in, err := g.Entry(bags[1]) // the same call, server side
	require.NoError(t, err)
	peerOf := func(e Entry, key string) map[string]any {
		a := e.HTTP.GetCommonProperties().GetFilterStateObjects()[key]
		require.NotNil(t, a, key)
		assert.Equal(t, structTypeURL, a.GetTypeUrl())
		var st structpb.Struct
		require.NoError(t, a.UnmarshalTo(&st))
		return st.AsMap()
	}
	assert.Equal(t, map[string]any{
		"type": "deployment", "workload": "productpage-v1", "name": "productpage-v1-6c886ff494-hm7zk", "cluster": "Kubernetes",
		"namespace": "default", "service": "productpage", "revision": "v1", "app": "productpage", "version": "v1",
	}, peerOf(out, UpstreamPeerKey))
	assert.Equal(t, map[string]any{
		"type": "deployment", "workload": "istio-ingressgateway", "name": "istio-ingressgateway-7c8b6b6b5d-f9g2h",
		"cluster": "Kubernetes", "namespace": "istio-system", "service": "istio-ingressgateway", "revision": "latest",
		"app": "istio-ingressgateway",
	}, peerOf(in, DownstreamPeerKey))
	assert.Len(t, out.HTTP.GetCommonProperties().GetFilterStateObjects(), 1)
	assert.Len(t, in.HTTP.GetCommonProperties().GetFilterStateObjects(), 1)

	// Server side over mTLS: SNI and both certificates; the client side has none.
	assert.Nil(t, out.HTTP.GetCommonProperties().GetTlsProperties())
	tls := in.HTTP.GetCommonProperties().GetTlsProperties()
	assert.Equal(t, "outbound_.9080_._.productpage.default.svc.cluster.local", tls.GetTlsSniHostname())
	assert.Equal(t, "spiffe://cluster.local/ns/default/sa/bookinfo-productpage", tls.GetLocalCertificateProperties().GetSubjectAltName()[0].GetUri())
	assert.Equal(t, "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account", tls.GetPeerCertificateProperties().GetSubjectAltName()[0].GetUri())
	assert.Equal(t, "outbound|9080||productpage.default.svc.cluster.local", out.HTTP.GetCommonProperties().GetUpstreamCluster())
	assert.Equal(t, "inbound|9080||", in.HTTP.GetCommonProperties().GetUpstreamCluster())
}

func TestGenerateResponseFlags(t *testing.T) {
	var all []string
	for code := range flagSetters {
		all = append(all, code)
	}
	tests := []string{"-", "NR", "UT,URX", "UH,UF,UAEX,DR"}
	tests = append(tests, all...)
	for _, s := range tests {
		f, err := responseFlagsOf(s)
		require.NoError(t, err, s)
		assert.Equal(t, s, responseFlags(f), "the mapper reads back what was written")
	}
	f, err := responseFlagsOf("")
	require.NoError(t, err)
	assert.Equal(t, "-", responseFlags(f))
	_, err = responseFlagsOf("UF,DO")
	assert.ErrorContains(t, err, `"DO"`)
}

func TestGenerateErrors(t *testing.T) {
	base := bookinfoTraffic(bookinfo.Options{Seed: 1}, 1, 1)
	with := func(b bookinfo.Bag, name string, v attribute.Value) bookinfo.Bag {
		out := slices.Clone(b)
		for i := range out {
			if out[i].Name == name {
				out[i].Value = v
				return out
			}
		}
		return append(out, bookinfo.Attr{Name: name, Value: v})
	}
	without := func(b bookinfo.Bag, names ...string) bookinfo.Bag {
		return slices.DeleteFunc(slices.Clone(b), func(a bookinfo.Attr) bool { return slices.Contains(names, a.Name) })
	}
	tcp := base[len(base)-1]
	tests := []struct {
		name string
		bag  bookinfo.Bag
		want string
	}{
		{"no reporter", without(base[0], "context.reporter.uid", "source.uid"), "context.reporter.uid"},
		{"other protocol", with(base[0], "context.protocol", attribute.StringValue("udp")), `context.protocol "udp"`},
		{"other event", with(tcp, "connection.event", attribute.StringValue("reopen")), `connection.event "reopen"`},
		{"bad flags", with(base[0], "context.proxy_error_code", attribute.StringValue("XX")), `"XX"`},
		{"bad port", with(base[0], "destination.port", attribute.Int64Value(70000)), "destination.port 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGenerator(GenerateOptions{}).Messages([]bookinfo.Bag{base[1], tt.bag})
			assert.ErrorContains(t, err, "bag 1: ")
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// Bags with only the bytes since the previous report still give Envoy's
// running totals, and the mapper's deltas are the bag's.
func TestGenerateTCPWithoutTotals(t *testing.T) {
	bags := bookinfoTraffic(bookinfo.Options{Seed: 3}, 1, 1)
	bags = bags[len(bags)-6:]
	var stripped []bookinfo.Bag
	for _, b := range bags {
		stripped = append(stripped, slices.DeleteFunc(slices.Clone(b), func(a bookinfo.Attr) bool {
			return strings.HasSuffix(a.Name, ".bytes_total")
		}))
	}
	g := NewGenerator(GenerateOptions{})
	recs := viaALS(t, g, stripped)
	for _, b := range bags {
		r := recs[keyOfBag(b)].Attributes()
		for _, n := range []string{"connection.sent.bytes", "connection.received.bytes", "connection.sent.bytes_total", "connection.received.bytes_total"} {
			want, _ := b.Get(n)
			got, ok := r.Get(n)
			require.True(t, ok, n)
			assert.Equal(t, want.Int64(), got.Int(), "%s of %s", n, keyOfBag(b))
		}
	}
	assert.Empty(t, g.totals, "closed connections are forgotten")
}

// A gRPC call shows as such: content type and trailers.
func TestGenerateGRPC(t *testing.T) {
	b := bookinfoTraffic(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true}, 1, 0)[3]
	b = append(slices.Clone(b),
		bookinfo.Attr{Name: "response.grpc_status", Value: attribute.StringValue("14")},
		bookinfo.Attr{Name: "response.grpc_message", Value: attribute.StringValue("unavailable")})
	for i := range b {
		if b[i].Name == "context.protocol" {
			b[i].Value = attribute.StringValue("grpc")
		}
	}
	e, err := NewGenerator(GenerateOptions{}).Entry(b)
	require.NoError(t, err)
	assert.Equal(t, alsdata.HTTPAccessLogEntry_HTTP2, e.HTTP.GetProtocolVersion())
	m := NewMapper()
	m.SetIdentifier(&alsv3.StreamAccessLogsMessage_Identifier{Node: e.Node})
	out := plog.NewLogRecordSlice()
	m.AppendHTTP(e.HTTP, out, time.Now())
	a := out.At(0).Attributes().AsRaw()
	assert.Equal(t, "grpc", a["context.protocol"])
	assert.Equal(t, "14", a["response.grpc_status"])
	assert.Equal(t, "unavailable", a["response.grpc_message"])
}

// BenchmarkGenerate writes a loadgen batch (100 Bookinfo reports, with TCP
// connections) as stream messages, and reports entries per second.
func BenchmarkGenerate(b *testing.B) {
	bags := bookinfoTraffic(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true}, 40, 4)[:100]
	g := NewGenerator(GenerateOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Messages(bags); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(bags))/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bags)), "ns/entry")
}
