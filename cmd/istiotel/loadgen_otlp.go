package main

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// --protocol otlp sends the same Bookinfo bags as the Mixer path, but as
// OTLP log records in the attribute-bag encoding (DESIGN §3.1), one Export
// request per --batch records. It is what any OTLP producer of bag records
// (or a collector in front of this one) sends, and what a stock contrib
// pipeline can consume, so the two can be compared on the same input.
func init() { loadgenProtocols["otlp"] = newOTLPSender }

type otlpSender struct {
	conn   *grpc.ClientConn
	client plogotlp.GRPCClient
}

func newOTLPSender(c loadgenConfig) (reportSender, error) {
	// gRPC's defaults, as the collector's otlp exporter and the SDKs use them.
	conn, err := dial(c)
	if err != nil {
		return nil, fmt.Errorf("OTLP client for %s: %w", c.target, err)
	}
	return &otlpSender{conn: conn, client: plogotlp.NewGRPCClient(conn)}, nil
}

func (o *otlpSender) send(ctx context.Context, bags []bookinfo.Bag) (int, error) {
	return export(ctx, o.client, bagLogs(bags), len(bags))
}

// export sends ld, which stands for n reports, in one Export request and
// returns how many of them were refused.
func export(ctx context.Context, client plogotlp.GRPCClient, ld plog.Logs, n int) (int, error) {
	resp, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return n, refusal{err}
	}
	if ps := resp.PartialSuccess(); ps.RejectedLogRecords() > 0 {
		return int(ps.RejectedLogRecords()), refusal{fmt.Errorf("partial success: %s", ps.ErrorMessage())}
	}
	return 0, nil
}

func (o *otlpSender) close() error { return o.conn.Close() }

// bagLogs encodes bags as bag records of one resource and scope, the shape
// the mixer receiver produces for one Report request.
func bagLogs(bags []bookinfo.Bag) plog.Logs {
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	recs.EnsureCapacity(len(bags))
	for _, b := range bags {
		var ts time.Time
		for _, name := range [...]string{"request.time", "context.time"} {
			if v, ok := b.Get(name); ok {
				ts = v.Time()
				break
			}
		}
		// The observed time is the receiver's to set, as for any OTLP source.
		m := bagrecord.InitRecord(recs.AppendEmpty(), ts, time.Time{}, len(b))
		for _, a := range b {
			bagrecord.PutValue(m, a.Name, a.Value)
		}
	}
	return ld
}
