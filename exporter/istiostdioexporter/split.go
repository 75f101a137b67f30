package istiostdioexporter // import "github.com/otelcol-istio/otelcol-istio/exporter/istiostdioexporter"

import (
	"go.opentelemetry.io/collector/pdata/plog"
)

// maxQueuedLines is the most lines one queued request holds. A larger batch
// is queued in parts: whole, it would need that much room free at once, and
// one of more lines than the queue holds would be refused even by an empty
// queue. The rules engine's batches are one Report's worth (at most a few
// hundred lines) and stay whole; bag records relayed over OTLP come in
// whatever batches their sender makes.
const maxQueuedLines = 2_000

// splitLogs copies ld into parts of at most max records each, in order,
// every part with the resources and scopes of its records. ld is not
// changed: the exporter does not own it (MutatesData is false).
func splitLogs(ld plog.Logs, max int) []plog.Logs {
	var (
		parts []plog.Logs
		part  plog.Logs
		rl    plog.ResourceLogs
		sl    plog.ScopeLogs
		n     = max // records in part; max starts a new part
		// The indices in ld of the resource and scope that rl and sl copy.
		res, scope = -1, -1
	)
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		srcRL := ld.ResourceLogs().At(i)
		for j := 0; j < srcRL.ScopeLogs().Len(); j++ {
			srcSL := srcRL.ScopeLogs().At(j)
			records := srcSL.LogRecords()
			for k := 0; k < records.Len(); k++ {
				if n == max {
					part = plog.NewLogs()
					parts = append(parts, part)
					n, res, scope = 0, -1, -1
				}
				if res != i {
					rl = part.ResourceLogs().AppendEmpty()
					srcRL.Resource().CopyTo(rl.Resource())
					rl.SetSchemaUrl(srcRL.SchemaUrl())
					res, scope = i, -1
				}
				if scope != j {
					sl = rl.ScopeLogs().AppendEmpty()
					srcSL.Scope().CopyTo(sl.Scope())
					sl.SetSchemaUrl(srcSL.SchemaUrl())
					scope = j
				}
				records.At(k).CopyTo(sl.LogRecords().AppendEmpty())
				n++
			}
		}
	}
	return parts
}
