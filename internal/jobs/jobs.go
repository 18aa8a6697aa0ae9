// Package jobs runs the service's background work on River, a job queue
// kept in PostgreSQL: the emails (enqueued by the store inside the
// transaction of the change that causes them, sent by a worker with
// retries for 24 hours; several instances share the queue and each job runs
// on one of them) and the periodic pruning of webhook de-duplication
// records. River keeps finished jobs for a while and then deletes them.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/mailer"
	"github.com/praxiom/praxiom-api/internal/metrics"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Queues and their workers.
const (
	queueEmail       = "email"
	queueMaintenance = "maintenance"
)

// Production defaults of Config.
const (
	DefaultFetchPollInterval = time.Second
	DefaultRetryBase         = 10 * time.Second
	DefaultRetryMax          = time.Hour
	DefaultRetryFor          = 24 * time.Hour
	DefaultJobTimeout        = time.Minute
	DefaultEmailWorkers      = 10
	// DefaultPruneInterval is how often webhook de-duplication records,
	// audit events and idempotency keys past their retention are pruned
	// (once across all instances: only River's leader schedules it).
	DefaultPruneInterval = time.Hour
	// Finished jobs are kept this long, then River deletes them.
	CompletedJobRetention = 24 * time.Hour
	CancelledJobRetention = 7 * 24 * time.Hour
	DiscardedJobRetention = 7 * 24 * time.Hour
)

// emailMaxAttempts is far more attempts than RetryFor allows with growing
// delays: the deadline, not River's attempt count, decides when an email
// has failed.
const emailMaxAttempts = 1000

// Config is what Start needs; zero durations take the defaults above
// (tests shorten them).
type Config struct {
	// Mailer sends emails; nil means email is off (no SMTP_URL): nothing is
	// enqueued then, and a job left from a time it was on is retried until
	// its deadline and then marked failed.
	Mailer *mailer.Mailer
	// WebhookRetention is how long webhook de-duplication records are kept,
	// AuditRetention audit events (idempotency keys are kept a day).
	WebhookRetention, AuditRetention time.Duration
	// PruneInterval is how often what is past its retention is pruned.
	PruneInterval time.Duration

	// FetchPollInterval is how often a worker looks for jobs when no
	// notification arrives (new jobs notify).
	FetchPollInterval time.Duration
	// A failed email is retried after RetryBase, then twice as long each
	// time up to RetryMax, until RetryFor after it was enqueued: then it is
	// marked failed.
	RetryBase, RetryMax, RetryFor time.Duration
	// JobTimeout bounds one attempt; a job whose worker died is retried
	// RescueAfter after it started (JobTimeout + 4 minutes by default).
	JobTimeout, RescueAfter time.Duration
	// StopTimeout is how long stopping waits for running jobs before it
	// cancels them (20s by default).
	StopTimeout time.Duration
	// EmailWorkers is how many emails one instance sends at once.
	EmailWorkers int
	// PollOnly: the workers poll (every FetchPollInterval) instead of
	// LISTENing for new jobs (behind PgBouncer in transaction mode).
	PollOnly bool

	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Tracer makes a span of each email job, linked to the request that
	// queued it, with the SMTP conversation as its child; nil: no spans.
	Tracer trace.TracerProvider
}

func (c *Config) defaults() {
	or := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	or(&c.WebhookRetention, 7*24*time.Hour)
	or(&c.AuditRetention, 400*24*time.Hour)
	or(&c.PruneInterval, DefaultPruneInterval)
	or(&c.FetchPollInterval, DefaultFetchPollInterval)
	or(&c.RetryBase, DefaultRetryBase)
	or(&c.RetryMax, DefaultRetryMax)
	or(&c.RetryFor, DefaultRetryFor)
	or(&c.JobTimeout, DefaultJobTimeout)
	or(&c.RescueAfter, c.JobTimeout+4*time.Minute)
	or(&c.StopTimeout, 20*time.Second)
	if c.EmailWorkers <= 0 {
		c.EmailWorkers = DefaultEmailWorkers
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// EmailArgs is the job that sends one email (a row of emails).
type EmailArgs struct {
	EmailID uuid.UUID `json:"email_id"`
	// TraceParent is the W3C traceparent of the request that queued the
	// email, when it was traced: the job's span links to it.
	TraceParent string `json:"traceparent,omitempty"`
}

// Kind names the job kind.
func (EmailArgs) Kind() string { return "email" }

// InsertOpts puts email jobs on their queue with room for a day of retries.
func (EmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueEmail, MaxAttempts: emailMaxAttempts}
}

// PruneArgs is the periodic job that deletes what is past its retention:
// webhook de-duplication records, audit events and idempotency keys.
type PruneArgs struct{}

// Kind names the job kind.
func (PruneArgs) Kind() string { return "prune" }

// InsertOpts puts the pruning on the maintenance queue.
func (PruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueMaintenance}
}

// Outbox enqueues email jobs inside the caller's transaction with River's
// InsertManyTx (store.Outbox): the job commits with the change that causes
// it, or not at all. It needs no pool of its own.
type Outbox struct {
	client *river.Client[pgx.Tx]
}

// NewOutbox returns an insert-only River client for store.Options.Outbox.
func NewOutbox() *Outbox {
	c, err := river.NewClient(riverpgxv5.New(nil), &river.Config{})
	if err != nil { // only a bad Config can fail, and this one is fixed
		panic(fmt.Sprintf("jobs: insert-only client: %v", err))
	}
	return &Outbox{client: c}
}

// EnqueueEmails inserts one EmailArgs job per id inside tx. Returns the
// database's error.
func (o *Outbox) EnqueueEmails(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: EmailArgs{EmailID: id, TraceParent: carrier.Get("traceparent")}}
	}
	if _, err := o.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("jobs: enqueue emails: %w", err)
	}
	return nil
}

// retryPolicy grows the delay between attempts: base, then twice as long
// each time, up to max.
type retryPolicy struct{ base, max time.Duration }

// delay is the wait after the attempt-th failed attempt.
func (p retryPolicy) delay(attempt int) time.Duration {
	d := float64(p.base) * math.Pow(2, float64(max(attempt, 1)-1))
	if d > float64(p.max) {
		return p.max
	}
	return time.Duration(d)
}

// NextRetry implements river.ClientRetryPolicy.
func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(p.delay(job.Attempt))
}

// Start runs the River client that works this instance's share of the
// queue: the email worker, the periodic pruning of webhook records, job
// retention. The database may be down: River is then started in the
// background as soon as it answers. stop waits for running jobs up to
// Config.StopTimeout, then cancels them; it returns once River has stopped,
// ctx ends or 5 seconds more have passed, and logs a failure to stop.
func Start(ctx context.Context, st *store.Store, c Config) (stop func(context.Context) error, err error) {
	c.defaults()
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &emailWorker{store: st, cfg: c,
		retry: retryPolicy{base: c.RetryBase, max: c.RetryMax}}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &pruneWorker{store: st, cfg: c, log: c.Logger}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if c.Metrics != nil {
		c.Metrics.WatchQueue(func(ctx context.Context) (int, time.Duration, error) {
			q, err := st.QueueStats(ctx)
			return q.Depth, q.OldestAge, err
		})
	}
	rc := &river.Config{
		Logger:                      c.Logger,
		Workers:                     workers,
		Queues:                      map[string]river.QueueConfig{queueEmail: {MaxWorkers: c.EmailWorkers}, queueMaintenance: {MaxWorkers: 1}},
		FetchPollInterval:           c.FetchPollInterval,
		PollOnly:                    c.PollOnly,
		FetchCooldown:               min(river.FetchCooldownDefault, c.FetchPollInterval),
		RetryPolicy:                 retryPolicy{base: c.RetryBase, max: c.RetryMax},
		JobTimeout:                  c.JobTimeout,
		RescueStuckJobsAfter:        c.RescueAfter,
		SoftStopTimeout:             c.StopTimeout,
		CompletedJobRetentionPeriod: CompletedJobRetention,
		CancelledJobRetentionPeriod: CancelledJobRetention,
		DiscardedJobRetentionPeriod: DiscardedJobRetention,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(c.PruneInterval),
			func() (river.JobArgs, *river.InsertOpts) { return PruneArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true})},
	}
	client, err := river.NewClient(riverpgxv5.New(st.Pool()), rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	r := &runner{client: client, log: c.Logger, done: make(chan struct{})}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go r.run(runCtx)
	return func(ctx context.Context) error {
		cancel() // stops retrying a start that has not succeeded yet
		<-r.done
		if !r.started() {
			return nil
		}
		// River escalates to cancelling running jobs after StopTimeout;
		// this bounds the wait for them to return.
		ctx, cancel := context.WithTimeout(ctx, c.StopTimeout+5*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
			c.Logger.Warn("job queue did not stop cleanly", "error", err.Error())
			return fmt.Errorf("jobs: stop: %w", err)
		}
		return nil
	}, nil
}

// runner starts the River client, retrying while the database does not
// answer.
type runner struct {
	client *river.Client[pgx.Tx]
	log    *slog.Logger
	done   chan struct{} // closed once run returns
	mu     sync.Mutex
	ok     bool
}

func (r *runner) started() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok
}

func (r *runner) run(ctx context.Context) {
	defer close(r.done)
	wait := time.Second
	for {
		// River's own context: stopping is Stop's business, not ctx's.
		err := r.client.Start(context.WithoutCancel(ctx))
		if err == nil {
			r.mu.Lock()
			r.ok = true
			r.mu.Unlock()
			return
		}
		r.log.Warn("job queue did not start; retrying", "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// pruneWorker deletes what is past its retention.
type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	store *store.Store
	cfg   Config
	log   *slog.Logger
}

// Work prunes; several instances never run it at once (River's leader
// schedules it), and the deletes are idempotent anyway.
func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	for _, p := range []struct {
		what      string
		retention time.Duration
		prune     func(context.Context) (int64, error)
	}{
		{"webhook events", w.cfg.WebhookRetention, func(ctx context.Context) (int64, error) {
			return w.store.PruneWebhookEvents(ctx, w.cfg.WebhookRetention)
		}},
		{"audit events", w.cfg.AuditRetention, func(ctx context.Context) (int64, error) {
			return w.store.PruneAuditEvents(ctx, w.cfg.AuditRetention)
		}},
		{"idempotency keys", store.IdempotencyRetention, w.store.PruneIdempotencyKeys},
		{"revoked and expired API keys", store.DeadAPIKeyRetention, w.store.PruneAPIKeys},
	} {
		n, err := p.prune(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			w.log.Info("pruned "+p.what, "count", n, "retention", p.retention.String())
		}
	}
	return nil
}

// NewMailer builds the mailer of cfg (SMTP_URL, MAIL_FROM, APP_URL), or nil
// when SMTP_URL is unset: email is off then, which a production start-up
// warns about.
func NewMailer(cfg config.Config, log *slog.Logger) (*mailer.Mailer, error) {
	if cfg.SMTPURL == "" {
		if cfg.AppEnv == "production" {
			log.Warn("SMTP_URL is not set: no email is sent (invitations show email_status \"disabled\", waitlist approvals send no codes)")
		}
		return nil, nil
	}
	return mailer.New(mailer.Config{SMTPURL: cfg.SMTPURL, From: cfg.MailFrom, AppURL: cfg.AppURL})
}

// OutboxFor is the store's outbox when m sends email, nil (email off)
// otherwise.
func OutboxFor(m *mailer.Mailer) store.Outbox {
	if m == nil {
		return nil
	}
	return NewOutbox()
}
