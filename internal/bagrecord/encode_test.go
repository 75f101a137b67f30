package bagrecord

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestPut(t *testing.T) {
	lr := plog.NewLogRecord()
	ts := time.Date(2020, 7, 1, 10, 0, 0, 123456789, time.UTC)
	m := InitRecord(lr, ts, time.Time{}, 8)
	assert.True(t, IsBag(lr))
	assert.Equal(t, pcommon.NewTimestampFromTime(ts), lr.Timestamp())
	assert.Equal(t, pcommon.Timestamp(0), lr.ObservedTimestamp())

	PutString(m, "destination.service.host", "details.default.svc.cluster.local")
	PutInt64(m, "response.code", 200)
	PutDouble(m, "d", 1.5)
	PutBool(m, "connection.mtls", true)
	PutTimestamp(m, "request.time", ts)
	PutDuration(m, "response.duration", 13601485*time.Nanosecond)
	PutIP(m, "destination.ip", []byte{10, 1, 2, 3})
	PutStringMap(m, "request.headers", 1).PutStr(":path", "/details/0")

	assert.Equal(t, map[string]any{
		"destination.service.host": "details.default.svc.cluster.local",
		"response.code":            int64(200),
		"d":                        1.5,
		"connection.mtls":          true,
		"request.time":             ts.UnixNano(),
		"response.duration":        int64(13601485),
		"destination.ip":           []byte{10, 1, 2, 3},
		"request.headers":          map[string]any{":path": "/details/0"},
	}, m.AsRaw())
}

func TestTimeToNanosClamps(t *testing.T) {
	assert.Equal(t, int64(-1<<63), TimeToNanos(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, int64(1<<63-1), TimeToNanos(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, int64(0), TimeToNanos(time.Unix(0, 0)))
}
