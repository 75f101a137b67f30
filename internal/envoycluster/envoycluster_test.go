package envoycluster

import (
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
