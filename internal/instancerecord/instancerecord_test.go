package instancerecord

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestTimeRoundTrip(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2018, 9, 15, 20, 46, 36, 9801123, time.UTC), "2018-09-15T20:46:36.009801Z"},
		{time.Date(2018, 9, 15, 22, 46, 36, 0, time.FixedZone("x", 7200)), "2018-09-15T20:46:36.000000Z"},
		{time.Unix(0, 0), "1970-01-01T00:00:00.000000Z"},
		{time.Unix(0, -1000), "1969-12-31T23:59:59.999999Z"},
		{time.Time{}, "0001-01-01T00:00:00.000000Z"},
	}
	for _, tt := range tests {
		lr := plog.NewLogRecord()
		SetTime(lr, tt.in)
		assert.Equal(t, tt.want, string(AppendTime(nil, lr)), tt.in.String())
	}
	// A record whose time was never set prints Mixer's zero time.
	assert.Equal(t, "0001-01-01T00:00:00.000000Z", string(AppendTime(nil, plog.NewLogRecord())))
}
