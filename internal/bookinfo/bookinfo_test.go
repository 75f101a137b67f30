package bookinfo

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

func TestDeterministic(t *testing.T) {
	a, b := NewGenerator(Options{Seed: 7}), NewGenerator(Options{Seed: 7})
	for range 5 {
		x, y := a.Next(), b.Next()
		require.Equal(t, len(x), len(y))
		for i := range x {
			require.Equal(t, len(x[i]), len(y[i]))
			for j := range x[i] {
				assert.Equal(t, x[i][j].Name, y[i][j].Name)
				assert.True(t, x[i][j].Value.Equal(y[i][j].Value), "%s: %v and %v", x[i][j].Name, x[i][j].Value, y[i][j].Value)
			}
		}
	}
}

func TestPageLoadShape(t *testing.T) {
	g := NewGenerator(Options{Seed: 1, Enriched: true, MTLS: true})
	vocab := attribute.DefaultVocabulary()
	seen := map[string]int{}
	for range 30 {
		bags := g.Next()
		require.True(t, len(bags) == 6 || len(bags) == 8, "3 or 4 calls, two reports each")
		for i, b := range bags {
			kind, _ := b.Get("context.reporter.kind")
			want := "outbound"
			if i%2 == 1 {
				want = "inbound"
			}
			assert.Equal(t, want, kind.Str())
			for _, a := range b {
				_, typ, ok := vocab.Lookup(a.Name)
				require.True(t, ok, "%s is not in the default vocabulary", a.Name)
				assert.Equal(t, typ, a.Value.Type(), a.Name)
			}
			if i%2 == 0 {
				w, _ := b.Get("destination.workload.name")
				seen[w.Str()]++
			}
		}
	}
	for _, w := range []string{"productpage-v1", "details-v1", "reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1"} {
		assert.Positive(t, seen[w], w)
	}
	assert.Equal(t, 30, seen["productpage-v1"])
}

func TestTCPConnection(t *testing.T) {
	bags := NewGenerator(Options{}).TCPConnection()
	require.Len(t, bags, 6)
	var events []string
	for _, b := range bags {
		e, _ := b.Get("connection.event")
		events = append(events, e.Str())
		_, enriched := b.Get("source.workload.name")
		assert.False(t, enriched)
	}
	assert.Equal(t, []string{"open", "open", "continue", "continue", "close", "close"}, events)
}
