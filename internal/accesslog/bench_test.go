package accesslog

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
)

var benchLines = []struct{ name, line, format string }{
	{"istio-1.23/client", "real-current-client", "istio-1.23"},
	{"istio-1.23/server", "real-current-server", "istio-1.23"},
	{"istio-1.23/tcp", "real-tcp-egress", "istio-1.23"},
	{"istio-1.1/server", "real-1.1-server", "istio-1.1"},
	{"json/gateway", "real-json-gateway", "json"},
}

func reportLines(b *testing.B, perOp int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*perOp)
	b.ReportMetric(ns, "ns/line")
	b.ReportMetric(1e9/ns, "lines/s")
}

// BenchmarkParse: splitting one line into its operators' values, with the
// format given (preset) and detected (auto: the format of the previous
// line is tried first).
func BenchmarkParse(b *testing.B) {
	lines := loadRefLines(b)
	for _, bl := range benchLines {
		line := lines[bl.line].line
		f, err := Preset(bl.format)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []struct {
			how string
			p   *Parser
		}{{"preset", NewParser(f)}, {"auto", NewAutoParser()}} {
			b.Run(bl.name+"/"+p.how, func(b *testing.B) {
				var e Entry
				b.SetBytes(int64(len(line)))
				b.ReportAllocs()
				for b.Loop() {
					if err := p.p.Parse(line, &e); err != nil {
						b.Fatal(err)
					}
				}
				reportLines(b, 1)
			})
		}
	}
}

// BenchmarkParseRecord: what the processor does per line: parse (format
// detected) and turn the record holding the line into a bag record, 100
// lines to a batch.
func BenchmarkParseRecord(b *testing.B) {
	lines := loadRefLines(b)
	const batch = 100
	for _, packed := range []bool{false, true} {
		form := "attributes"
		if packed {
			form = "packed"
		}
		for _, bl := range benchLines {
			rl := lines[bl.line]
			b.Run(form+"/"+bl.name, func(b *testing.B) {
				p := NewAutoParser()
				m := NewMapper(MapperOptions{})
				now := pcommon.NewTimestampFromTime(time.Now())
				var e Entry
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					ld := plog.NewLogs()
					rs := ld.ResourceLogs().AppendEmpty()
					recs := rs.ScopeLogs().AppendEmpty().LogRecords()
					recs.EnsureCapacity(batch)
					for range batch {
						lr := recs.AppendEmpty()
						lr.Body().SetStr(rl.line)
						lr.SetObservedTimestamp(now)
						lr.Attributes().PutStr("log.file.path", "/var/log/pods/x/istio-proxy/0.log")
						lr.Attributes().PutStr("log.iostream", "stdout")
					}
					b.StartTimer()
					w := bagrecord.NewWriter(packed)
					w.Reset(batch)
					r := m.Reporter(rl.namespace, rl.pod)
					for i := range batch {
						lr := recs.At(i)
						if err := p.Parse(lr.Body().Str(), &e); err != nil {
							b.Fatal(err)
						}
						m.Record(w, lr, &e, r)
					}
				}
				reportLines(b, batch)
			})
		}
	}
}
