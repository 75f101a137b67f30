package accesslog

import (
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
)

// record is Mapper.Record in the attribute form, checked against the packed
// form: every test that records a line covers both.
func record(t testing.TB, m *Mapper, lr plog.LogRecord, e *Entry, r *Reporter) {
	t.Helper()
	packed := plog.NewLogRecord()
	lr.CopyTo(packed)
	m.Record(bagrecord.NewWriter(false), lr, e, r)
	m.Record(bagrecord.NewWriter(true), packed, e, r)
	if !bagrecord.IsPacked(packed) {
		t.Fatal("the packed form wrote no packed record")
	}
	if err := bagrecord.Unpack(packed); err != nil {
		t.Fatal(err)
	}
	if packed.EventName() != lr.EventName() || packed.Timestamp() != lr.Timestamp() || packed.ObservedTimestamp() != lr.ObservedTimestamp() {
		t.Fatalf("packed record %s %v %v, attribute form %s %v %v", packed.EventName(), packed.Timestamp(),
			packed.ObservedTimestamp(), lr.EventName(), lr.Timestamp(), lr.ObservedTimestamp())
	}
	if g, w := packed.Attributes().AsRaw(), lr.Attributes().AsRaw(); !reflect.DeepEqual(g, w) {
		t.Fatalf("packed record %v, attribute form %v", g, w)
	}
}
