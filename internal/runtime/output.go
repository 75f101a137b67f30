package runtime

import (
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
)

// batchOutput collects the log records of one Dispatch call, creating the
// ResourceLogs and each group's ScopeLogs only when a record needs them.
type batchOutput struct {
	logs   plog.Logs
	rl     plog.ResourceLogs
	hasRL  bool
	scopes []plog.ScopeLogs
	has    []bool
	arena  arena // Bodies of packed records
}

func (o *batchOutput) resize(n int) {
	o.scopes = make([]plog.ScopeLogs, n)
	o.has = make([]bool, n)
}

func (o *batchOutput) begin(out plog.Logs) {
	o.logs, o.hasRL = out, false
	clear(o.has)
	o.arena.newCall()
}

func (o *batchOutput) scope(g *group) plog.ScopeLogs {
	if !o.has[g.idx] {
		if !o.hasRL {
			o.rl = o.logs.ResourceLogs().AppendEmpty()
			o.hasRL = true
		}
		sl := o.rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(g.handler)
		sl.Scope().Attributes().PutStr(instancerecord.ScopeAttrAdapter, g.adapter)
		sl.Scope().Attributes().PutStr(instancerecord.ScopeAttrTemplate, g.template)
		o.scopes[g.idx], o.has[g.idx] = sl, true
	}
	return o.scopes[g.idx]
}

func (o *batchOutput) end() { o.logs = plog.Logs{} }

// arena holds the Bodies of packed records. Records keep referencing their
// bytes after Dispatch returns (exporters queue them), so the arena only
// appends: bytes once handed out are never written again, and a full chunk is
// left to the records in it for a new one. Only the unused tail of a chunk
// carries over to the next Dispatch call. Chunks are sized by what the
// previous call wrote, so a batch costs about one allocation, not one per
// record.
type arena struct {
	packer
	chunk []byte // len: the bytes handed out
	used  int    // bytes handed out in this Dispatch call
	last  int    // and in the previous one
}

const (
	minChunk = 16 << 10
	maxChunk = 1 << 20
)

func (a *arena) newCall() { a.last, a.used = a.used, 0 }

// begin returns an empty buffer with room for at least n bytes, which the
// caller appends a record to and hands to commit.
func (a *arena) begin(n int) []byte {
	if a.chunk == nil || cap(a.chunk)-len(a.chunk) < n {
		size := min(max(2*a.last, minChunk), maxChunk)
		a.chunk = make([]byte, 0, max(size, n))
	}
	return a.chunk[len(a.chunk):len(a.chunk)]
}

// commit takes buf, grown from what begin returned, as a record's Body and
// returns it capped, so that appending to it cannot reach the next record.
// A buf that outgrew its room was moved by append and is its own.
func (a *arena) commit(buf []byte) []byte {
	if room := a.chunk[len(a.chunk):cap(a.chunk)]; len(buf) <= len(room) && unsafe.SliceData(buf) == unsafe.SliceData(room) {
		a.chunk = a.chunk[:len(a.chunk)+len(buf)]
	}
	a.used += len(buf)
	return buf[:len(buf):len(buf)]
}

// Stats counts what the engine did; the components export them as the
// collector's own telemetry.
type Stats struct {
	BagsIn                  atomic.Uint64
	AttributesUnconvertible atomic.Uint64
	BagsMalformed           atomic.Uint64
	RulesMatched            atomic.Uint64
	MatchErrors             atomic.Uint64
	InstancesBuilt          atomic.Uint64
	InstanceErrors          atomic.Uint64
	DispatchErrors          atomic.Uint64
	RecordsEmitted          atomic.Uint64
	SeriesCreated           atomic.Uint64
	SeriesExpired           atomic.Uint64
	SeriesDropped           atomic.Uint64
}

// rateLogger logs a failing rule or instance at most once per interval, with
// the number of failures it suppressed meanwhile.
type rateLogger struct {
	log      *zap.Logger
	interval time.Duration
	now      func() time.Time
	last     map[string]time.Time
	dropped  map[string]int
}

func newRateLogger(l *zap.Logger, interval time.Duration, now func() time.Time) *rateLogger {
	return &rateLogger{log: l, interval: interval, now: now, last: map[string]time.Time{}, dropped: map[string]int{}}
}

func (r *rateLogger) warn(subject, msg string, err error) {
	now := r.now()
	if last, ok := r.last[subject]; ok && now.Sub(last) < r.interval {
		r.dropped[subject]++
		return
	}
	if len(r.last) > 10000 { // bounded: subjects come from config, but stay safe
		clear(r.last)
		clear(r.dropped)
	}
	r.last[subject] = now
	if msg == "" {
		msg = "dispatch failed"
	}
	r.log.Warn(subject+": "+msg, zap.Error(err), zap.Int("suppressed_since_last", r.dropped[subject]))
	r.dropped[subject] = 0
}
