// Package instancerecordtest helps tests run over both forms of instance
// records: they build a record in the attribute form and Pack it.
package instancerecordtest // import "github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Encodings are the two forms, as record_encoding spells them.
var Encodings = []string{instancerecord.EncodingAttributes, instancerecord.EncodingPacked}

// Encode turns lr, built in the attribute form, into the form enc names.
func Encode(lr plog.LogRecord, enc string) error {
	switch enc {
	case instancerecord.EncodingAttributes:
		return nil
	case instancerecord.EncodingPacked:
		return Pack(lr)
	}
	return fmt.Errorf("unknown record encoding %q", enc)
}

// EncodeLogs applies Encode to every record of ld.
func EncodeLogs(ld plog.Logs, enc string) error {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if err := Encode(lrs.At(k), enc); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Pack rewrites a record in the attribute form into the packed form, keeping
// the attributes' order (so a consumer that sorts still has to) and the time
// a consumer would read. Only maps of strings can be packed.
func Pack(lr plog.LogRecord) error {
	if instancerecord.IsPacked(lr) {
		return nil
	}
	buf := kvpack.Begin(nil)
	switch b := lr.Body(); {
	case b.Type() == pcommon.ValueTypeStr && b.Str() != "":
		lr.SetTimestamp(0)
		buf = kvpack.AppendStr(buf, "", b.Str())
	case lr.Timestamp() == 0:
		buf = kvpack.AppendStr(buf, "", time.Time{}.Format(instancerecord.TimeLayout))
	}
	var err error
	for k, v := range lr.Attributes().All() {
		switch v.Type() {
		case pcommon.ValueTypeStr:
			buf = kvpack.AppendStr(buf, k, v.Str())
		case pcommon.ValueTypeInt:
			buf = kvpack.AppendInt(buf, k, v.Int())
		case pcommon.ValueTypeDouble:
			buf = kvpack.AppendDouble(buf, k, v.Double())
		case pcommon.ValueTypeBool:
			buf = kvpack.AppendBool(buf, k, v.Bool())
		case pcommon.ValueTypeBytes:
			buf = kvpack.AppendBytes(buf, k, v.Bytes().AsRaw())
		case pcommon.ValueTypeEmpty:
			buf = kvpack.AppendEmpty(buf, k)
		case pcommon.ValueTypeMap:
			m := v.Map()
			buf = kvpack.AppendMap(buf, k, m.Len())
			for mk, mv := range m.All() {
				if mv.Type() != pcommon.ValueTypeStr {
					err = fmt.Errorf("attribute %s: entry %s is a %s, not a string", k, mk, mv.Type())
				}
				buf = kvpack.AppendMapEntry(buf, mk, mv.AsString())
			}
		default:
			err = fmt.Errorf("attribute %s: a %s cannot be packed", k, v.Type())
		}
	}
	if err != nil {
		return err
	}
	lr.Attributes().Clear()
	instancerecord.SetPacked(lr, buf)
	return nil
}

// Fields returns the fields of a record in either form as pcommon.Map.AsRaw
// gives them for the attribute form.
func Fields(lr plog.LogRecord) (map[string]any, error) {
	r, ok := instancerecord.PackedFields(lr)
	if !ok {
		return lr.Attributes().AsRaw(), nil
	}
	out := map[string]any{}
	var p kvpack.Pair
	for r.Next(&p) {
		switch p.Kind {
		case kvpack.Str:
			out[p.Key] = p.Text
		case kvpack.Int:
			out[p.Key] = p.Int()
		case kvpack.Double:
			out[p.Key] = p.Double()
		case kvpack.Bool:
			out[p.Key] = p.Bool()
		case kvpack.Bytes:
			out[p.Key] = []byte(p.Text)
		case kvpack.Map:
			m := map[string]any{}
			it := p.Entries()
			for k, v, ok := it.Next(); ok; k, v, ok = it.Next() {
				m[k] = v
			}
			out[p.Key] = m
		default:
			out[p.Key] = nil
		}
	}
	return out, r.Err()
}
