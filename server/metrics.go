package server

import (
	"errors"
	"github.com/gopartd/partd"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus collectors of one server (WithMetrics).
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	requests *prometheus.CounterVec   // command
	errors   *prometheus.CounterVec   // command, code
	duration *prometheus.HistogramVec // command
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "partd", Subsystem: "server", Name: "requests_total",
			Help: "Requests answered, by command (\"other\" for unknown commands).",
		}, []string{"command"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "partd", Subsystem: "server", Name: "errors_total",
			Help: "Error replies sent, by command and error code.",
		}, []string{"command", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "partd", Subsystem: "server", Name: "request_duration_seconds",
			Help:    "Time from receiving a request to its reply being ready, by command.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10), // 50µs … 13s
		}, []string{"command"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "partd", Subsystem: "server", Name: "received_bytes_total",
			Help: "Request bytes received (frames plus a per-frame overhead).",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "partd", Subsystem: "server", Name: "sent_bytes_total",
			Help: "Reply bytes sent.",
		}),
	}
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "partd", Subsystem: "server", Name: "requests_in_flight",
		Help: "Requests handed to workers and not yet answered.",
	}, func() float64 { return float64(s.stats.inflight.Load()) })
	cs := []prometheus.Collector{m.requests, m.errors, m.duration, m.bytesIn, m.bytesOut, inflight}
	if _, ok := partd.Size(s.store); ok {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "partd", Subsystem: "server", Name: "store_bytes",
			Help: "Bytes held by the store, as its Size method reports.",
		}, func() float64 { n, _ := partd.Size(s.store); return float64(n) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, errors.Join(errors.New("partd/server: register metrics"), err)
		}
		m.collectors = append(m.collectors, c)
	}
	// Pre-create the label values so dashboards see zeros, not gaps.
	for _, c := range commandLabels {
		m.requests.WithLabelValues(c)
		m.duration.WithLabelValues(c)
	}
	return m, nil
}

// unregister removes the collectors registered so far.
func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
}
