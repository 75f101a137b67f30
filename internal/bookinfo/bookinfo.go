// Package bookinfo generates deterministic Istio request reports for the
// Bookinfo sample (ingress gateway → productpage v1 → details v1 and reviews
// v1/v2/v3; reviews v2/v3 → ratings v1; ratings v2 → mongodb over TCP), with
// the attributes an Istio 1.1 sidecar reported, for both reporters.
//
// With Enriched set, each bag also carries what Mixer's kubernetesenv adapter
// added (workload names, labels, owners, service accounts), as in the reports
// recorded from a real Mixer; without it, only what the proxy itself sent.
package bookinfo // import "github.com/otelcol-istio/otelcol-istio/internal/bookinfo"

import (
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// Attr is one attribute of a bag.
type Attr struct {
	Name  string
	Value attribute.Value
}

// Bag is one report: the attributes of one request as seen by one reporter.
type Bag []Attr

// Get returns the named attribute's value.
func (b Bag) Get(name string) (attribute.Value, bool) {
	for _, a := range b {
		if a.Name == name {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

// Workload is a Bookinfo pod.
type Workload struct {
	App, Version, Namespace string
	Pod, PodHash            string
	IP                      net.IP
	ServiceAccount          string
}

// Name is the workload (Deployment) name: app-version, or the app for the gateway.
func (w *Workload) Name() string {
	if w.Version == "" {
		return w.App
	}
	return w.App + "-" + w.Version
}

func (w *Workload) uid() string { return "kubernetes://" + w.Pod + "." + w.Namespace }

func (w *Workload) principal() string {
	return "cluster.local/ns/" + w.Namespace + "/sa/" + w.ServiceAccount
}

func (w *Workload) labels() *attribute.StringMap {
	m := attribute.NewStringMap("app", w.App, "pod-template-hash", w.PodHash)
	if w.Version != "" {
		m.Set("version", w.Version)
	}
	return m
}

// The Bookinfo workloads.
var (
	Gateway     = &Workload{"istio-ingressgateway", "", "istio-system", "istio-ingressgateway-7c8b6b6b5d-f9g2h", "7c8b6b6b5d", net.IPv4(10, 44, 0, 2).To4(), "istio-ingressgateway-service-account"}
	ProductPage = &Workload{"productpage", "v1", "default", "productpage-v1-6c886ff494-hm7zk", "6c886ff494", net.IPv4(10, 44, 0, 11).To4(), "bookinfo-productpage"}
	Details     = &Workload{"details", "v1", "default", "details-v1-5974b67c8-wclnd", "5974b67c8", net.IPv4(10, 44, 0, 12).To4(), "bookinfo-details"}
	ReviewsV1   = &Workload{"reviews", "v1", "default", "reviews-v1-79b7f5d8c9-d5w8v", "79b7f5d8c9", net.IPv4(10, 44, 0, 13).To4(), "bookinfo-reviews"}
	ReviewsV2   = &Workload{"reviews", "v2", "default", "reviews-v2-6c5bf657cf-jmbkr", "6c5bf657cf", net.IPv4(10, 44, 0, 14).To4(), "bookinfo-reviews"}
	ReviewsV3   = &Workload{"reviews", "v3", "default", "reviews-v3-5c5cc7b6d-8s6bz", "5c5cc7b6d", net.IPv4(10, 44, 0, 15).To4(), "bookinfo-reviews"}
	Ratings     = &Workload{"ratings", "v1", "default", "ratings-v1-7855f5bcb9-zswkm", "7855f5bcb9", net.IPv4(10, 44, 0, 16).To4(), "bookinfo-ratings"}
	RatingsV2   = &Workload{"ratings", "v2", "default", "ratings-v2-6bd99ccd96-p2m8x", "6bd99ccd96", net.IPv4(10, 44, 0, 17).To4(), "bookinfo-ratings-v2"}
	MongoDB     = &Workload{"mongodb", "v1", "default", "mongodb-v1-5d5c9d7b8f-j6s3q", "5d5c9d7b8f", net.IPv4(10, 44, 0, 18).To4(), "default"}
)

// Call is one HTTP call between two workloads.
type Call struct {
	Source, Destination *Workload
	Service             string // destination service short name
	Port                int64
	Path                string
	Code                int64
	RequestSize         int64
	ResponseSize        int64
	Duration            time.Duration
}

// Options shape the generated traffic.
type Options struct {
	Seed     uint64
	Start    time.Time // time of the first request; default 2020-07-01T10:00:00Z
	Enriched bool      // add the kubernetesenv attributes
	MTLS     bool      // sidecars use mutual TLS
}

// Generator produces the reports of successive Bookinfo page loads.
type Generator struct {
	opts Options
	rnd  *rand.Rand
	now  time.Time
	seq  uint64
}

// NewGenerator returns a deterministic generator: the same options give the
// same reports.
func NewGenerator(o Options) *Generator {
	if o.Start.IsZero() {
		o.Start = time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC)
	}
	return &Generator{opts: o, rnd: rand.New(rand.NewPCG(o.Seed, 0x6b6f6f62)), now: o.Start}
}

// PageLoad returns the calls of one request for /productpage: the gateway to
// productpage, productpage to details and to one reviews version (chosen at
// random), and that version to ratings if it calls ratings.
func (g *Generator) PageLoad() []Call {
	reviews := []*Workload{ReviewsV1, ReviewsV2, ReviewsV3}[g.rnd.IntN(3)]
	ms := func(lo, hi int) time.Duration {
		return time.Duration(lo+g.rnd.IntN(hi-lo+1)) * time.Millisecond
	}
	calls := []Call{
		{Gateway, ProductPage, "productpage", 9080, "/productpage", 200, 0, 4415 + int64(g.rnd.IntN(700)), ms(20, 120)},
		{ProductPage, Details, "details", 9080, "/details/0", 200, 0, 178, ms(2, 15)},
		{ProductPage, reviews, "reviews", 9080, "/reviews/0", 200, 0, 295 + int64(g.rnd.IntN(200)), ms(5, 40)},
	}
	if reviews != ReviewsV1 {
		calls = append(calls, Call{reviews, Ratings, "ratings", 9080, "/ratings/0", 200, 0, 48, ms(1, 10)})
	}
	return calls
}

// Next returns the reports of the next page load: for every call, the
// client's (outbound) and then the server's (inbound).
func (g *Generator) Next() []Bag {
	calls := g.PageLoad()
	out := make([]Bag, 0, 2*len(calls))
	for _, c := range calls {
		out = append(out, g.HTTP(c, true), g.HTTP(c, false))
	}
	g.now = g.now.Add(time.Second)
	return out
}

// HTTP returns the report of call c from the client (outbound) or the server.
func (g *Generator) HTTP(c Call, outbound bool) Bag {
	g.seq++
	reqTime := g.now.Add(time.Duration(g.seq%1000) * time.Microsecond)
	id := fmt.Sprintf("%08x-%04x-4c7e-9d2b-0a1b2c3d4e5f", g.opts.Seed, g.seq)
	host := c.Service + ":" + fmt.Sprint(c.Port)
	ua := "python-requests/2.21.0"
	if c.Source != Gateway {
		ua = "Go-http-client/1.1"
	}
	reporter := c.Destination
	kind := "inbound"
	if outbound {
		reporter, kind = c.Source, "outbound"
	}
	b := Bag{
		{"context.protocol", attribute.StringValue("http")},
		{"context.proxy_error_code", attribute.StringValue("-")},
		{"context.reporter.kind", attribute.StringValue(kind)},
		{"context.reporter.uid", attribute.StringValue(reporter.uid())},
		{"request.path", attribute.StringValue(c.Path)},
		{"request.url_path", attribute.StringValue(c.Path)},
		{"request.method", attribute.StringValue("GET")},
		{"request.host", attribute.StringValue(host)},
		{"request.scheme", attribute.StringValue("http")},
		{"request.useragent", attribute.StringValue(ua)},
		{"request.headers", attribute.StringMapValue(attribute.NewStringMap("x-request-id", id, "x-forwarded-proto", "http", "user-agent", ua))},
		{"request.size", attribute.Int64Value(c.RequestSize)},
		{"request.total_size", attribute.Int64Value(c.RequestSize + 312)},
		{"request.time", attribute.TimestampValue(reqTime)},
		{"response.code", attribute.Int64Value(c.Code)},
		{"response.size", attribute.Int64Value(c.ResponseSize)},
		{"response.total_size", attribute.Int64Value(c.ResponseSize + 180)},
		{"response.time", attribute.TimestampValue(reqTime.Add(c.Duration))},
		{"response.duration", attribute.DurationValue(c.Duration)},
		{"destination.service.host", attribute.StringValue(c.Service + "." + c.Destination.Namespace + ".svc.cluster.local")},
		{"destination.service.name", attribute.StringValue(c.Service)},
		{"destination.service.namespace", attribute.StringValue(c.Destination.Namespace)},
		{"destination.service.uid", attribute.StringValue("istio://" + c.Destination.Namespace + "/services/" + c.Service)},
		{"destination.port", attribute.Int64Value(c.Port)},
		{"destination.uid", attribute.StringValue(c.Destination.uid())},
		{"destination.ip", attribute.IPValue(c.Destination.IP)},
		{"source.uid", attribute.StringValue(c.Source.uid())},
		{"source.namespace", attribute.StringValue(c.Source.Namespace)},
		{"destination.namespace", attribute.StringValue(c.Destination.Namespace)},
	}
	b = g.peerAttrs(b, c.Source, c.Destination, outbound)
	return b
}

// peerAttrs adds mTLS facts and, with Enriched, the kubernetesenv attributes.
func (g *Generator) peerAttrs(b Bag, src, dst *Workload, outbound bool) Bag {
	mtls := g.opts.MTLS && !outbound // the server side sees the client certificate
	b = append(b, Attr{"connection.mtls", attribute.BoolValue(mtls)})
	if mtls {
		b = append(b,
			Attr{"source.principal", attribute.StringValue(src.principal())},
			Attr{"source.user", attribute.StringValue(src.principal())},
			Attr{"destination.principal", attribute.StringValue(dst.principal())})
	}
	if !g.opts.Enriched {
		return b
	}
	for _, side := range []struct {
		prefix string
		w      *Workload
	}{{"source", src}, {"destination", dst}} {
		w, p := side.w, side.prefix
		b = append(b,
			Attr{p + ".name", attribute.StringValue(w.Pod)},
			Attr{p + ".labels", attribute.StringMapValue(w.labels())},
			Attr{p + ".owner", attribute.StringValue("kubernetes://apis/apps/v1/namespaces/" + w.Namespace + "/deployments/" + w.Name())},
			Attr{p + ".workload.name", attribute.StringValue(w.Name())},
			Attr{p + ".workload.namespace", attribute.StringValue(w.Namespace)},
			Attr{p + ".workload.uid", attribute.StringValue("istio://" + w.Namespace + "/workloads/" + w.Name())},
			Attr{p + ".serviceAccount", attribute.StringValue(w.ServiceAccount)})
		if p == "source" {
			b = append(b, Attr{"source.ip", attribute.IPValue(w.IP)})
		}
	}
	return b
}

// TCPConnection returns the reports of one ratings-v2 → mongodb connection:
// open, one periodic continue and close, each from the client and the server.
func (g *Generator) TCPConnection() []Bag {
	g.seq++
	connID := fmt.Sprintf("e2a1a3f0-77b4-4d8e-a1c8-%012x", g.seq)
	sent, received := int64(1633+g.rnd.IntN(100)), int64(412+g.rnd.IntN(50))
	var out []Bag
	steps := []struct {
		event      string
		after      time.Duration
		sent, recv int64 // since the previous report
		sentTotal  int64
		recvTotal  int64
	}{
		{"open", 0, 0, 0, 0, 0},
		{"continue", 10 * time.Second, sent, received, sent, received},
		{"close", 12 * time.Second, 100, 20, sent + 100, received + 20},
	}
	for _, s := range steps {
		for _, outbound := range []bool{true, false} {
			reporter, kind := MongoDB, "inbound"
			if outbound {
				reporter, kind = RatingsV2, "outbound"
			}
			b := Bag{
				{"context.protocol", attribute.StringValue("tcp")},
				{"context.time", attribute.TimestampValue(g.now.Add(s.after))},
				{"context.reporter.kind", attribute.StringValue(kind)},
				{"context.reporter.uid", attribute.StringValue(reporter.uid())},
				{"connection.event", attribute.StringValue(s.event)},
				{"connection.id", attribute.StringValue(connID)},
				{"connection.duration", attribute.DurationValue(s.after)},
				{"connection.sent.bytes", attribute.Int64Value(s.sent)},
				{"connection.received.bytes", attribute.Int64Value(s.recv)},
				{"connection.sent.bytes_total", attribute.Int64Value(s.sentTotal)},
				{"connection.received.bytes_total", attribute.Int64Value(s.recvTotal)},
				{"destination.service.host", attribute.StringValue("mongodb.default.svc.cluster.local")},
				{"destination.service.name", attribute.StringValue("mongodb")},
				{"destination.service.namespace", attribute.StringValue("default")},
				{"destination.port", attribute.Int64Value(27017)},
				{"destination.uid", attribute.StringValue(MongoDB.uid())},
				{"destination.ip", attribute.IPValue(MongoDB.IP)},
				{"source.uid", attribute.StringValue(RatingsV2.uid())},
				{"source.namespace", attribute.StringValue(RatingsV2.Namespace)},
				{"destination.namespace", attribute.StringValue(MongoDB.Namespace)},
			}
			out = append(out, g.peerAttrs(b, RatingsV2, MongoDB, outbound))
		}
	}
	g.now = g.now.Add(time.Second)
	return out
}
