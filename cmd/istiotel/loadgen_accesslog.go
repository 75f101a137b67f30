package main

import (
	"context"
	"errors"

	"github.com/otelcol-istio/otelcol-istio/internal/accesslog"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// The accesslog protocol writes what istio-proxy would print with
// meshConfig.accessLogFile=/dev/stdout, as the container runtime stores it:
// CRI lines in <dir>/<namespace>_<pod>_<uid>/istio-proxy/0.log, one file per
// reporting pod. Like Envoy, it logs a TCP connection once, when it closes.
func init() { loadgenProtocols["accesslog"] = newAccessLogSender }

type accessLogSender struct{ w *accesslog.PodLogs }

func newAccessLogSender(c loadgenConfig) (reportSender, error) {
	if c.dir == "" {
		return nil, errors.New("--protocol accesslog needs --dir")
	}
	f, err := accesslog.Preset(c.format)
	if err != nil {
		return nil, err
	}
	return &accessLogSender{w: accesslog.NewPodLogs(c.dir, f, accesslog.CRI)}, nil
}

func (s *accessLogSender) send(_ context.Context, bags []bookinfo.Bag) (int, error) {
	for _, b := range bags {
		if err := s.w.Write(b); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func (s *accessLogSender) close() error { return s.w.Close() }
