// Package metrics holds the service's Prometheus metrics on a registry of
// its own (no package globals), served at /metrics.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the instruments the server updates.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	webhooks    *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	emails      *prometheus.CounterVec
	// queue reads the job queue at scrape time (WatchQueue); nil until set.
	queue atomic.Pointer[QueueReader]
	// The series of fixed labels, looked up once: the token cache is
	// consulted on every authenticated request.
	jwksOK, jwksError, cacheHit, cacheMiss prometheus.Counter
	// series caches the request series by their labels (a bounded set:
	// methods, route patterns and statuses are), so a request costs no
	// label hashing and no status formatting.
	series sync.Map // requestLabels → *requestSeries
}

type requestLabels struct {
	method, route string
	status        int
}

type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// New registers every metric, the Go runtime and process collectors, and,
// when pool is set, the pgx pool's statistics.
func New(pool *pgxpool.Pool) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "praxiom_http_requests_total", Help: "HTTP requests by method, route pattern and status.",
	}, []string{"method", "route", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "praxiom_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route"})
	jwksFetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "praxiom_jwks_fetches_total", Help: "Clerk JWKS fetch attempts by outcome.",
	}, []string{"outcome"})
	tokenCache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "praxiom_token_cache_total", Help: "Verified-token cache look-ups by result (hit, miss).",
	}, []string{"result"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "praxiom_webhook_events_total", Help: "Clerk webhook deliveries by event type and outcome.",
	}, []string{"type", "outcome"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "praxiom_rate_limited_total", Help: "Requests refused by the rate limiter, by scope (user, ip, failures).",
	}, []string{"scope"})
	m.emails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "praxiom_emails_total",
		Help: "Emails by kind (invitation, waitlist_approval) and outcome: sent; failed (given up after 24 hours of retries); retry (an attempt failed and will be retried); skipped (no longer applies).",
	}, []string{"kind", "outcome"})
	m.reg.MustRegister(m.requests, m.latency, jwksFetches, tokenCache, m.webhooks, m.rateLimited, m.emails,
		queueCollector{m: m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		m.reg.MustRegister(poolCollector{pool: pool})
	}
	// Series that exist from the start, so dashboards and rate() see zeros
	// rather than nothing before the first event.
	m.jwksOK, m.jwksError = jwksFetches.WithLabelValues("ok"), jwksFetches.WithLabelValues("error")
	m.cacheHit, m.cacheMiss = tokenCache.WithLabelValues("hit"), tokenCache.WithLabelValues("miss")
	for _, sc := range []string{"user", "ip", "failures"} {
		m.rateLimited.WithLabelValues(sc)
	}
	for _, k := range emailKinds {
		for _, o := range emailOutcomes {
			m.emails.WithLabelValues(k, o)
		}
	}
	return m
}

// The label values of praxiom_emails_total: fixed sets.
var (
	emailKinds    = []string{"invitation", "waitlist_approval"}
	emailOutcomes = []string{"sent", "failed", "retry", "skipped"}
)

// Email records what happened to an email of kind: outcome is sent,
// failed, retry or skipped. Values outside those sets are recorded as
// "other", so no caller can add series.
func (m *Metrics) Email(kind, outcome string) {
	m.emails.WithLabelValues(oneOf(kind, emailKinds), oneOf(outcome, emailOutcomes)).Inc()
}

func oneOf(v string, set []string) string {
	for _, s := range set {
		if v == s {
			return v
		}
	}
	return "other"
}

// QueueReader reads the job queue's depth (jobs not finished yet) and the
// age of its oldest unfinished job.
type QueueReader func(ctx context.Context) (depth int, oldest time.Duration, err error)

// WatchQueue makes every scrape read the job queue with read (at most
// queueReadTimeout long; a failed read leaves the two gauges out of that
// scrape).
func (m *Metrics) WatchQueue(read QueueReader) { m.queue.Store(&read) }

const queueReadTimeout = 2 * time.Second

var (
	queueDepth  = prometheus.NewDesc("praxiom_job_queue_depth", "Jobs in the queue not finished yet (waiting, scheduled, being retried or running), read at scrape time.", nil, nil)
	queueOldest = prometheus.NewDesc("praxiom_job_queue_oldest_age_seconds", "Age of the oldest unfinished job in the queue (0 when empty), read at scrape time.", nil, nil)
)

// queueCollector exports the job queue's depth and oldest age at scrape
// time.
type queueCollector struct{ m *Metrics }

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepth
	ch <- queueOldest
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	read := c.m.queue.Load()
	if read == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueReadTimeout)
	defer cancel()
	depth, oldest, err := (*read)(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(queueOldest, prometheus.GaugeValue, oldest.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Method bounds an HTTP method to a fixed set, for metric labels and log
// fields: GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS are themselves
// (methods are case-sensitive), anything else is OTHER. The request line is
// the client's to choose: a raw method as a label value would let anyone,
// without a token, add a series per request.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

// ObserveRequest records a finished request under its method (bounded by
// Method) and route pattern (never the raw path, so ids do not explode the
// label space).
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	key := requestLabels{method: Method(method), route: route, status: status}
	v, ok := m.series.Load(key)
	if !ok {
		v, _ = m.series.LoadOrStore(key, &requestSeries{
			count:   m.requests.WithLabelValues(key.method, route, strconv.Itoa(status)),
			latency: m.latency.WithLabelValues(key.method, route),
		})
	}
	rs := v.(*requestSeries)
	rs.count.Inc()
	rs.latency.Observe(d.Seconds())
}

// JWKSFetch records a JWKS fetch attempt.
func (m *Metrics) JWKSFetch(ok bool) {
	if ok {
		m.jwksOK.Inc()
	} else {
		m.jwksError.Inc()
	}
}

// TokenCache records a verified-token cache look-up.
func (m *Metrics) TokenCache(hit bool) {
	if hit {
		m.cacheHit.Inc()
	} else {
		m.cacheMiss.Inc()
	}
}

// Webhook records a delivery's event type (bounded to what we know) and outcome.
func (m *Metrics) Webhook(eventType, outcome string) {
	switch eventType {
	case "user.created", "user.updated", "user.deleted":
	default:
		eventType = "other"
	}
	m.webhooks.WithLabelValues(eventType, outcome).Inc()
}

// RateLimited records a refusal by the rate limiter.
func (m *Metrics) RateLimited(scope string) { m.rateLimited.WithLabelValues(scope).Inc() }

// poolCollector exports pgxpool.Stat at scrape time.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	poolMax      = prometheus.NewDesc("praxiom_db_pool_max_conns", "Pool size.", nil, nil)
	poolTotal    = prometheus.NewDesc("praxiom_db_pool_total_conns", "Open connections.", nil, nil)
	poolIdle     = prometheus.NewDesc("praxiom_db_pool_idle_conns", "Idle connections.", nil, nil)
	poolInUse    = prometheus.NewDesc("praxiom_db_pool_acquired_conns", "Connections in use.", nil, nil)
	poolWaits    = prometheus.NewDesc("praxiom_db_pool_empty_acquire_total", "Acquires that had to wait for a connection.", nil, nil)
	poolWaitTime = prometheus.NewDesc("praxiom_db_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.", nil, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolMax, poolTotal, poolIdle, poolInUse, poolWaits, poolWaitTime} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
}
