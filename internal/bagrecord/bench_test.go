package bagrecord

import (
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// BenchmarkDecodeRecord reads Bookinfo bags (about 50 attributes) into a
// bag over Istio's default vocabulary. "stable" bags list their attributes
// in the same order every time, as a proxy's encoder does; "shuffled" ones
// in a new order each, as Go's protobuf encoder writes map entries.
func BenchmarkDecodeRecord(b *testing.B) {
	vocab := attribute.DefaultVocabulary()
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true})
	var bags []bookinfo.Bag
	for len(bags) < 64 {
		bags = append(bags, g.Next()...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, order := range []string{"stable", "shuffled"} {
		for _, packed := range []bool{false, true} {
			name := order + "/attributes"
			if packed {
				name = order + "/packed"
			}
			b.Run(name, func(b *testing.B) {
				var records []plog.LogRecord
				for _, bag := range bags {
					bag = append(bookinfo.Bag(nil), bag...)
					if order == "shuffled" {
						rng.Shuffle(len(bag), func(i, j int) { bag[i], bag[j] = bag[j], bag[i] })
					}
					lr := plog.NewLogRecord()
					if packed {
						buf := BeginPacked(nil)
						for _, a := range bag {
							buf = AppendValue(buf, a.Name, a.Value)
						}
						InitPacked(lr, time.Time{}, time.Time{}, buf)
					} else {
						m := InitRecord(lr, time.Time{}, time.Time{}, len(bag))
						for _, a := range bag {
							PutValue(m, a.Name, a.Value)
						}
					}
					records = append(records, lr)
				}
				bag := attribute.NewBag(vocab)
				var d Decoder
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					_, _ = d.DecodeRecord(records[i%len(records)], bag)
				}
			})
		}
	}
}
