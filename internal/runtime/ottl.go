package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// Rules and instances annotated `policy.istio.io/lang: OTTL` have their
// expressions written in OTTL over the bag record (log context), e.g.
// `attributes["destination.service.name"] == "details"`. A match is an OTTL
// condition; an instance field is an OTTL value expression whose result is
// converted: strings, ints, doubles, bools, byte slices (IP addresses) and
// maps (STRING_MAP) as they are; a `timestamp` field also takes Unix
// nanoseconds, which is how bag records carry TIMESTAMP attributes. An
// expression that yields nothing (an absent attribute) fails like an absent
// attribute in CEXL.

type ottlTCtx = *ottllog.TransformContext

var ottlParser = sync.OnceValues(func() (ottl.Parser[ottlTCtx], error) {
	return ottllog.NewParser(ottlfuncs.StandardConverters[ottlTCtx](), component.TelemetrySettings{
		Logger:         zap.NewNop(),
		MeterProvider:  metricnoop.NewMeterProvider(),
		TracerProvider: tracenoop.NewTracerProvider(),
	})
})

// CheckOTTL reports whether src compiles as an OTTL condition or value
// expression over the bag record; config validation uses it.
func CheckOTTL(src string) error {
	p, err := ottlParser()
	if err != nil {
		return err
	}
	if _, cerr := p.ParseCondition(src); cerr == nil {
		return nil
	}
	if _, verr := p.ParseValueExpression(src); verr != nil {
		return fmt.Errorf("OTTL: %w", verr)
	}
	return nil
}

func compileOTTLCondition(src string) (*ottl.Condition[ottlTCtx], error) {
	p, err := ottlParser()
	if err != nil {
		return nil, err
	}
	return p.ParseCondition(src)
}

func compileOTTLValue(e *istioconfig.Expr) (*ottl.ValueExpression[ottlTCtx], error) {
	if e == nil {
		return nil, nil
	}
	p, err := ottlParser()
	if err != nil {
		return nil, err
	}
	return p.ParseValueExpression(e.Text)
}

// ottlInstance holds the OTTL programs of an instance's fields.
type ottlInstance struct {
	value     *ottl.ValueExpression[ottlTCtx]
	dims      []*ottl.ValueExpression[ottlTCtx] // parallel to instance.dims
	timestamp *ottl.ValueExpression[ottlTCtx]
	severity  *ottl.ValueExpression[ottlTCtx]
	labelIdx  []int // for a metric: the dimension index of each label, -1 for none
}

// ottlRecord is the record being dispatched, for OTTL evaluation.
type ottlRecord struct {
	rl plog.ResourceLogs
	sl plog.ScopeLogs
	lr plog.LogRecord
	tc ottlTCtx
}

func (r *ottlRecord) context() ottlTCtx {
	if r.tc == nil {
		lr := r.lr
		if bagrecord.IsPacked(lr) {
			// OTTL reads attributes: show it the bag in that form, on a
			// copy, since the record belongs to the caller.
			lr = plog.NewLogRecord()
			r.lr.CopyTo(lr)
			_ = bagrecord.Unpack(lr) // a corrupt tail was counted when decoding
		}
		r.tc = ottllog.NewTransformContext(r.rl, r.sl, lr)
	}
	return r.tc
}

func (r *ottlRecord) release() {
	if r.tc != nil {
		r.tc.Close()
		r.tc = nil
	}
}

var errNoValue = errors.New("no value")

// ottlValue evaluates an OTTL expression into an attribute value.
func ottlValue(e *ottl.ValueExpression[ottlTCtx], src string, rec *ottlRecord, asTime bool) (attribute.Value, error) {
	v, err := e.Eval(context.Background(), rec.context())
	if err != nil {
		return attribute.Value{}, fmt.Errorf("OTTL expression '%s': %w", src, err)
	}
	switch x := v.(type) {
	case nil:
		return attribute.Value{}, fmt.Errorf("OTTL expression '%s': %w", src, errNoValue)
	case string:
		return attribute.StringValue(x), nil
	case int64:
		if asTime {
			return attribute.TimestampValue(time.Unix(0, x).UTC()), nil
		}
		return attribute.Int64Value(x), nil
	case float64:
		return attribute.DoubleValue(x), nil
	case bool:
		return attribute.BoolValue(x), nil
	case []byte:
		return attribute.IPValue(x), nil
	case time.Time:
		return attribute.TimestampValue(x), nil
	case time.Duration:
		return attribute.DurationValue(x), nil
	case pcommon.Map:
		m := attribute.NewStringMap()
		for k, val := range x.All() {
			m.Set(k, val.AsString())
		}
		return attribute.StringMapValue(m), nil
	case map[string]any:
		m := attribute.NewStringMap()
		for k, val := range x {
			m.Set(k, fmt.Sprint(val))
		}
		return attribute.StringMapValue(m), nil
	}
	return attribute.Value{}, fmt.Errorf("OTTL expression '%s': a %T cannot be an instance field", src, v)
}
