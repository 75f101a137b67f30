package main

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"

	"github.com/otelcol-istio/otelcol-istio/internal/accesslog"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// --protocol otel-als sends what Envoy's OpenTelemetry access logger sends
// for Istio's envoyOtelAls extension provider: OTLP log records whose body
// is the access-log line of --format (the provider's default body is the
// default TEXT format), timed at the request's start, under one resource per
// proxy with no attributes (Istio 1.20 and later turn Envoy's built-in
// labels off), and the provider labels that docs/kubernetes.md recommends,
// k8s.pod.name and k8s.namespace.name, as record attributes. One Export
// request per --batch reports; like Envoy, it logs a TCP connection once,
// when it closes.
func init() { loadgenProtocols["otel-als"] = newOTelALSSender }

type otelALSSender struct {
	conn   *grpc.ClientConn
	client plogotlp.GRPCClient
	f      *accesslog.Format
	line   []byte
}

func newOTelALSSender(c loadgenConfig) (reportSender, error) {
	f, err := accesslog.Preset(c.format)
	if err != nil {
		return nil, err
	}
	conn, err := dial(c)
	if err != nil {
		return nil, fmt.Errorf("OTLP client for %s: %w", c.target, err)
	}
	return &otelALSSender{conn: conn, client: plogotlp.NewGRPCClient(conn), f: f}, nil
}

func (o *otelALSSender) send(ctx context.Context, bags []bookinfo.Bag) (int, error) {
	ld, err := o.logs(bags)
	if err != nil {
		return 0, err
	}
	if ld.LogRecordCount() == 0 {
		return 0, nil
	}
	return export(ctx, o.client, ld, len(bags))
}

// logs is the records of bags, one resource per reporting proxy.
func (o *otelALSSender) logs(bags []bookinfo.Bag) (plog.Logs, error) {
	ld := plog.NewLogs()
	proxies := map[[2]string]plog.LogRecordSlice{}
	for _, b := range bags {
		var at accesslog.Logged
		var err error
		o.line, at, err = accesslog.AppendProxyLine(o.line[:0], o.f, b)
		if errors.Is(err, accesslog.ErrNotLogged) {
			continue
		} else if err != nil {
			return ld, err
		}
		k := [2]string{at.Namespace, at.Pod}
		recs, ok := proxies[k]
		if !ok {
			recs = ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
			proxies[k] = recs
		}
		lr := recs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at.Start))
		lr.Body().SetStr(string(o.line) + "\n") // Envoy's formatter ends the TEXT line with one
		lr.Attributes().PutStr("k8s.pod.name", at.Pod)
		lr.Attributes().PutStr("k8s.namespace.name", at.Namespace)
	}
	return ld, nil
}

func (o *otelALSSender) close() error { return o.conn.Close() }
