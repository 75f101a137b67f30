package als

import (
	"testing"
	"time"

	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"
)

// FuzzALSMapping feeds arbitrary stream messages (as wire bytes) through one
// Mapper: no panic, and one record per entry.
func FuzzALSMapping(f *testing.F) {
	seeds := []*alsv3.StreamAccessLogsMessage{
		{
			Identifier: &alsv3.StreamAccessLogsMessage_Identifier{Node: productpageNode(f), LogName: "l"},
			LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{
				LogEntry: []*alsdata.HTTPAccessLogEntry{outboundHTTP(f), inboundGRPC(f)},
			}},
		},
		{
			Identifier: &alsv3.StreamAccessLogsMessage_Identifier{Node: reviewsNode(f)},
			LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{
				LogEntry: []*alsdata.TCPAccessLogEntry{{CommonProperties: inboundGRPC(f).CommonProperties,
					ConnectionProperties: &alsdata.ConnectionProperties{ReceivedBytes: 1, SentBytes: 2}}},
			}},
		},
	}
	for _, s := range seeds {
		raw, err := proto.Marshal(s)
		require.NoError(f, err)
		f.Add(raw)
	}
	m, pm := NewMapper(), NewPackingMapper(true)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var msg alsv3.StreamAccessLogsMessage
		if proto.Unmarshal(raw, &msg) != nil {
			return
		}
		out, pout := plog.NewLogRecordSlice(), plog.NewLogRecordSlice()
		n := m.Map(&msg, out, time.Unix(1, 0))
		pm.Map(&msg, pout, time.Unix(1, 0))
		if err := samePacked(out, pout); err != nil {
			t.Fatal(err)
		}
		want := len(msg.GetTcpLogs().GetLogEntry())
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			if !intermediate(e.GetCommonProperties()) {
				want++
			}
		}
		if n != want || out.Len() != want {
			t.Fatalf("%d entries, %d records (reported %d)", want, out.Len(), n)
		}
	})
}
