package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"

	"github.com/otelcol-istio/otelcol-istio/internal/als"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// --protocol als sends the Bookinfo traffic as Istio 1.24 sidecars log it
// through Envoy's Access Log Service (envoy.service.accesslog.v3): each
// reporting workload is a client with its own connection, its HTTP and TCP
// loggers each keep one stream open for the whole run, the stream's first
// message carries the identifier (node metadata and log name) and later
// ones only entries, batched as Envoy batches them. --enriched says whether
// the node and peer metadata name workloads, labels and owners.
//
// ALS has no acknowledgement: a collector that cannot take entries closes
// the stream, which shows on the next message sent on it. That message's
// entries count as refused and the stream is opened again; entries in
// flight before that are lost unseen, as they are for Envoy.
//
// --protocol als-v2 sends the same on ALS v2, as the Envoys of Istio 1.3
// and 1.4 did (enableEnvoyAccessLogService): entries without the fields v3
// added and without peer metadata, a TCP connection once, when it closes
// (als.GenerateOptions.V2).
func init() {
	loadgenProtocols["als"] = func(c loadgenConfig) (reportSender, error) { return newALSSender(c, false) }
	loadgenProtocols["als-v2"] = func(c loadgenConfig) (reportSender, error) { return newALSSender(c, true) }
}

// alsV2Method is ALS v2's method; its messages have v3's field numbers.
const alsV2Method = "/envoy.service.accesslog.v2.AccessLogService/StreamAccessLogs"

// alsCloseTimeout bounds the wait for the collector to take the last
// messages when the streams are closed.
const alsCloseTimeout = 10 * time.Second

type alsSender struct {
	cfg     loadgenConfig
	v2      bool
	gen     *als.Generator
	proxies map[string]*alsProxy // by reporter (context.reporter.uid)
	order   []string             // reporters in the order they first reported
}

// alsProxy is one reporting workload: its connection and its loggers'
// streams.
type alsProxy struct {
	conn    *grpc.ClientConn
	streams map[string]*alsStream // by log name
}

type alsStream struct {
	stream alsv3.AccessLogService_StreamAccessLogsClient
	cancel context.CancelFunc
}

func newALSSender(c loadgenConfig, v2 bool) (reportSender, error) {
	return &alsSender{cfg: c, v2: v2, gen: als.NewGenerator(als.GenerateOptions{V2: v2}), proxies: map[string]*alsProxy{}}, nil
}

// open opens a logger's stream on the proxy's connection.
func (s *alsSender) open(ctx context.Context, conn *grpc.ClientConn) (alsv3.AccessLogService_StreamAccessLogsClient, error) {
	if !s.v2 {
		return alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(ctx)
	}
	cs, err := conn.NewStream(ctx, &alsv3.AccessLogService_ServiceDesc.Streams[0], alsV2Method)
	if err != nil {
		return nil, err
	}
	return &grpc.GenericClientStream[alsv3.StreamAccessLogsMessage, alsv3.StreamAccessLogsResponse]{ClientStream: cs}, nil
}

func (s *alsSender) send(ctx context.Context, bags []bookinfo.Bag) (int, error) {
	msgs, err := s.gen.Messages(bags)
	if err != nil {
		return 0, fmt.Errorf("writing reports as ALS entries: %w", err)
	}
	refused := 0
	var lastErr error
	for i := range msgs {
		if err := s.deliver(ctx, &msgs[i]); err != nil {
			if ctx.Err() != nil {
				return refused, ctx.Err()
			}
			refused += msgs[i].Entries
			lastErr = err
		}
	}
	if lastErr != nil {
		return refused, refusal{lastErr}
	}
	return 0, nil
}

// deliver sends one message on its stream, opening the stream (with the
// identifier in its first message) when there is none.
func (s *alsSender) deliver(ctx context.Context, m *als.StreamMessage) error {
	p, err := s.proxy(m.Stream.Reporter)
	if err != nil {
		return err
	}
	st, ok := p.streams[m.Stream.LogName]
	if !ok {
		// The stream outlives this call: its context is its own.
		sctx, cancel := context.WithCancel(context.Background())
		stream, err := s.open(sctx, p.conn)
		if err != nil {
			cancel()
			return fmt.Errorf("ALS stream %s of %s: %w", m.Stream.LogName, m.Stream.Reporter, err)
		}
		st = &alsStream{stream: stream, cancel: cancel}
		p.streams[m.Stream.LogName] = st
		m.Message.Identifier = m.Identifier()
	}
	// A send that blocks (flow control) ends with ctx: the stream goes.
	stop := context.AfterFunc(ctx, st.cancel)
	err = st.stream.Send(m.Message)
	stop()
	m.Message.Identifier = nil
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		// The collector ended the stream; its status says why.
		if _, rerr := st.stream.CloseAndRecv(); rerr != nil {
			err = rerr
		} else {
			err = errors.New("the collector ended the stream")
		}
	}
	st.cancel()
	delete(p.streams, m.Stream.LogName)
	return fmt.Errorf("ALS stream %s of %s: %w", m.Stream.LogName, m.Stream.Reporter, err)
}

// proxy returns the reporter's client, connecting on first use.
func (s *alsSender) proxy(reporter string) (*alsProxy, error) {
	if p, ok := s.proxies[reporter]; ok {
		return p, nil
	}
	conn, err := dial(s.cfg, envoyHTTP2...)
	if err != nil {
		return nil, fmt.Errorf("ALS client of %s for %s: %w", reporter, s.cfg.target, err)
	}
	p := &alsProxy{conn: conn, streams: map[string]*alsStream{}}
	s.proxies[reporter] = p
	s.order = append(s.order, reporter)
	return p, nil
}

// close half-closes every stream and waits (at most alsCloseTimeout) for
// the collector to answer, which it does once it has taken everything sent
// on the stream.
func (s *alsSender) close() error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	timer := time.AfterFunc(alsCloseTimeout, func() {
		for _, p := range s.proxies {
			for _, st := range p.streams {
				st.cancel()
			}
		}
	})
	defer timer.Stop()
	for _, reporter := range s.order {
		for name, st := range s.proxies[reporter].streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer st.cancel()
				if _, err := st.stream.CloseAndRecv(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("closing ALS stream %s of %s: %w", name, reporter, err))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, reporter := range s.order {
		if err := s.proxies[reporter].conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ALS client of %s: %w", reporter, err))
		}
	}
	return errors.Join(errs...)
}
