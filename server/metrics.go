package server

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

// The server counts each figure once, in its counters (s.stats), which the
// stat command reports; the Prometheus metrics read those counters when
// scraped. Only the latency histogram lives on the Prometheus side alone.

// errorCodes are the values of the "code" label: the codes the server
// sends, and "other" for a code it passes on from its store (a client of
// another server) that this version does not know.
var errorCodes = []string{
	wire.CodeInvalidKey, wire.CodeCorrupt, wire.CodeClosed, wire.CodeBadRequest,
	wire.CodeTooLarge, wire.CodeForbidden, wire.CodeBusy, wire.CodeInternal, "other",
}

// errorLabels are the labels of one errors_total series.
type errorLabels struct{ command, code string }

// newErrorCounts returns a counter for every command label and code, so that
// every series exists, at 0, from the start.
func newErrorCounts() map[errorLabels]*atomic.Uint64 {
	m := make(map[errorLabels]*atomic.Uint64, len(commandLabels)*len(errorCodes))
	for _, c := range commandLabels {
		for _, code := range errorCodes {
			m[errorLabels{c, code}] = new(atomic.Uint64)
		}
	}
	return m
}

// errorCount returns the counter of the error replies to a command label
// with a code.
func (c *counters) errorCount(label, code string) *atomic.Uint64 {
	if n, ok := c.errorsBy[errorLabels{label, code}]; ok {
		return n
	}
	if n, ok := c.errorsBy[errorLabels{label, "other"}]; ok {
		return n
	}
	return c.errorsBy[errorLabels{"other", "other"}]
}

// metrics are the Prometheus collectors of one server (WithMetrics).
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	duration *prometheus.HistogramVec // command
}

// errorTotal returns the error replies of every command and code.
func (c *counters) errorTotal() uint64 {
	var n uint64
	for _, e := range c.errorsBy {
		n += e.Load()
	}
	return n
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		reg: reg,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "partd", Subsystem: "server", Name: "request_duration_seconds",
			Help:    "Time from receiving a request to its reply being ready, by command.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10), // 50µs … 13s
		}, []string{"command"}),
	}
	cs := []prometheus.Collector{
		m.duration,
		&statsCollector{s: &s.stats},
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "partd", Subsystem: "server", Name: "received_bytes_total",
			Help: "Request bytes received (frames plus a per-frame overhead).",
		}, func() float64 { return float64(s.stats.bytesIn.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "partd", Subsystem: "server", Name: "sent_bytes_total",
			Help: "Reply bytes sent.",
		}, func() float64 { return float64(s.stats.bytesOut.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "partd", Subsystem: "server", Name: "requests_in_flight",
			Help: "Requests handed to workers and not yet answered.",
		}, func() float64 { return float64(s.stats.inflight.Load()) }),
	}
	if _, ok := partd.Size(s.store); ok {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "partd", Subsystem: "server", Name: "store_bytes",
			Help: "Bytes held by the store, as its Size method reports.",
		}, func() float64 { n, _ := partd.Size(s.store); return float64(n) }))
	}
	if _, ok := partd.BufferStatsOf(s.store); ok {
		cs = append(cs, newBufferCollector(s.store))
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

// statsCollector exports the request and error counters by label.
type statsCollector struct{ s *counters }

var (
	requestsDesc = prometheus.NewDesc("partd_server_requests_total",
		`Requests answered, by command ("other" for unknown commands).`, []string{"command"}, nil)
	errorsDesc = prometheus.NewDesc("partd_server_errors_total",
		"Error replies sent, by command and error code.", []string{"command", "code"}, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	ch <- errorsDesc
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	for label, n := range c.s.requests {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(n.Load()), label)
	}
	for l, n := range c.s.errorsBy {
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(n.Load()), l.command, l.code)
	}
}

// bufferCollector exports the figures of the Buffer in a store's chain
// (partd.BufferStatsOf), read once per scrape.
type bufferCollector struct {
	store partd.Store
	descs [6]*prometheus.Desc
}

func newBufferCollector(store partd.Store) *bufferCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("partd_buffer_"+name, help, nil, nil)
	}
	return &bufferCollector{store: store, descs: [6]*prometheus.Desc{
		d("memory_bytes", "Bytes held in the Buffer's fast (in-memory) store."),
		d("limit_bytes", "The most bytes the Buffer holds in memory before it spills."),
		d("spills_total", "Spills begun: moves of the largest keys to the slow store, to make room or to flush."),
		d("spilled_keys_total", "Keys moved to the slow store, once per spill that moved them."),
		d("spilled_bytes_total", "Bytes moved to the slow store."),
		d("spill_seconds_total", "Time spent spilling."),
	}}
}

func (c *bufferCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *bufferCollector) Collect(ch chan<- prometheus.Metric) {
	st, _ := partd.BufferStatsOf(c.store)
	for i, v := range []float64{float64(st.FastBytes), float64(st.Limit), float64(st.Spills),
		float64(st.SpilledKeys), float64(st.SpilledBytes), st.SpillTime.Seconds()} {
		kind := prometheus.CounterValue
		if i < 2 {
			kind = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[i], kind, v)
	}
}
