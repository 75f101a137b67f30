package envoycluster

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Cluster
		ok   bool
	}{
		{"outbound|9080|v1|details.default.svc.cluster.local", Cluster{"outbound", 9080, "v1", "details.default.svc.cluster.local"}, true},
		{"inbound|9080||", Cluster{Direction: "inbound", Port: 9080}, true},
		{"outbound_.9080_._.productpage.default.svc.cluster.local", Cluster{"outbound", 9080, "", "productpage.default.svc.cluster.local"}, true},
		{"PassthroughCluster", Cluster{}, false},
		{"sideways|1||x", Cluster{}, false},
		{"outbound|-1||x", Cluster{}, false},
	}
	for _, tt := range tests {
		got, ok := Parse(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestDirection(t *testing.T) {
	assert.Equal(t, "outbound", Direction("outbound|80||x", ""))
	assert.Equal(t, "outbound", Direction("", AllowAnyRoute))
	assert.Equal(t, "outbound", Direction(BlackHole, ""))
	assert.Equal(t, "inbound", Direction("InboundPassthroughClusterIpv4", ""))
	assert.Equal(t, "", Direction("", ""))
}

func TestServiceFromHost(t *testing.T) {
	assert.Equal(t, Service{"details.default.svc.cluster.local", "details", "default", "istio://default/services/details"}, ServiceFromHost("details.default.svc.cluster.local"))
	assert.Equal(t, Service{Host: "httpbin", Name: "httpbin"}, ServiceFromHost("httpbin"))
	assert.Equal(t, Service{Host: "api.example.com", Name: "api"}, ServiceFromHost("api.example.com"))
	assert.Equal(t, "reviews", HostFromAuthority("reviews:9080"))
	assert.Equal(t, "::1", HostFromAuthority("[::1]:80"))
	assert.Equal(t, "2001:db8::1", HostFromAuthority("2001:db8::1"))
}

func TestParseClusterTable(t *testing.T) {
	tests := []struct {
		in   string
		want Cluster
		ok   bool
	}{
		{"outbound|9080|v1|reviews.default.svc.cluster.local", Cluster{"outbound", 9080, "v1", "reviews.default.svc.cluster.local"}, true},
		{"outbound_.9080_.v1_.reviews.default.svc.cluster.local", Cluster{"outbound", 9080, "v1", "reviews.default.svc.cluster.local"}, true},
		{"outbound|443||edition.cnn.com", Cluster{"outbound", 443, "", "edition.cnn.com"}, true},
		{"inbound|9080||", Cluster{"inbound", 9080, "", ""}, true},
		{"inbound|8000|http|httpbin.default.svc.cluster.local", Cluster{"inbound", 8000, "http", "httpbin.default.svc.cluster.local"}, true},
		{"outbound|x||h", Cluster{}, false},
		{"sideways|1||h", Cluster{}, false},
		{"PassthroughCluster", Cluster{}, false},
		{"", Cluster{}, false},
	}
	for _, tt := range tests {
		got, ok := Parse(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	assert.Equal(t, Service{"www.example.com", "www", "", ""}, ServiceFromHost("www.example.com"))
	assert.Equal(t, Service{"a.b.svc", "a", "b", "istio://b/services/a"}, ServiceFromHost("a.b.svc"))
	for in, want := range map[string]string{"reviews:9080": "reviews", "reviews": "reviews", "[::1]:80": "::1", "::1": "::1"} {
		assert.Equal(t, want, HostFromAuthority(in), in)
	}
}

func TestParseNodeID(t *testing.T) {
	for _, c := range []struct {
		id   string
		want NodeID
		ok   bool
	}{
		{"sidecar~10.44.1.23~sleep-dd98b5f48-djwdw.foo~foo.svc.cluster.local", NodeID{"sidecar", "10.44.1.23", "sleep-dd98b5f48-djwdw", "foo"}, true},
		{"router~10.44.0.9~istio-ingressgateway-7d6b8c9f5-x2x4q.istio-system~istio-system.svc.cluster.local",
			NodeID{"router", "10.44.0.9", "istio-ingressgateway-7d6b8c9f5-x2x4q", "istio-system"}, true},
		{"sidecar~10.44.1.23~web.v2-0.shop~shop.svc.cluster.local", NodeID{"sidecar", "10.44.1.23", "web.v2-0", "shop"}, true}, // a pod name with a dot
		{"sidecar~10.44.1.23~sleep~foo.svc.cluster.local", NodeID{Type: "sidecar", IP: "10.44.1.23"}, true},                    // no namespace
		{"sidecar~10.44.1.23~sleep.~foo.svc.cluster.local", NodeID{Type: "sidecar", IP: "10.44.1.23"}, true},
		{"sleep.foo", NodeID{}, false},
		{"", NodeID{}, false},
	} {
		got, ok := ParseNodeID(c.id)
		assert.Equal(t, c.want, got, c.id)
		assert.Equal(t, c.ok, ok, c.id)
	}
}

func FuzzParseNodeID(f *testing.F) {
	for _, s := range []string{
		"sidecar~10.44.1.23~sleep-dd98b5f48-djwdw.foo~foo.svc.cluster.local", "router~~a.b~", "~~.~", "~~a.~", "a~b~c~d~e", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		n, ok := ParseNodeID(id)
		if !ok {
			if n != (NodeID{}) {
				t.Fatalf("%q: not a node id, but %+v", id, n)
			}
			return
		}
		if (n.Pod == "") != (n.Namespace == "") || strings.ContainsAny(n.Namespace, ".~") || strings.Contains(n.Pod, "~") {
			t.Fatalf("%q: %+v", id, n)
		}
		if n.Pod != "" && !strings.Contains(id, "~"+n.Pod+"."+n.Namespace+"~") {
			t.Fatalf("%q does not hold ~%s.%s~", id, n.Pod, n.Namespace)
		}
	})
}
