package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/mailer"
	"github.com/praxiom/praxiom-api/internal/store"
)

// errEmailOff is the failure of an email job found while SMTP_URL is unset.
var errEmailOff = errors.New("jobs: email is off (SMTP_URL is not set)")

// emailWorker sends one email per job.
type emailWorker struct {
	river.WorkerDefaults[EmailArgs]
	store *store.Store
	cfg   Config
	retry retryPolicy
}

// Timeout bounds one attempt.
func (w *emailWorker) Timeout(*river.Job[EmailArgs]) time.Duration { return w.cfg.JobTimeout }

// Work sends the email as the database holds it now and records the
// outcome. An email whose invitation or workspace is gone is dropped; one
// that no longer applies (its invitation is not pending any more, or a
// resend superseded it) is marked skipped, unsent. A failed send is retried
// with growing delays until RetryFor after the email was enqueued, then the
// email is marked failed. The send and its record are two steps: a crash
// between them sends the email again (with the same Message-ID) and never
// loses it.
func (w *emailWorker) Work(ctx context.Context, job *river.Job[EmailArgs]) (err error) {
	id := job.Args.EmailID
	ctx, span := w.startSpan(ctx, job)
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, "email not sent")
		}
		span.End()
	}()
	e, err := w.store.EmailToSend(ctx, id)
	if apperr.CodeOf(err) == apperr.NotFound {
		w.cfg.Logger.Info("email dropped: what it announced is gone", "email_id", id.String())
		return nil
	}
	if err != nil {
		return err
	}
	if e.Status != store.EmailQueued {
		return nil // already settled (a job run again after its record)
	}
	span.SetAttributes(attribute.String("praxiom.email.kind", e.Kind))
	var msg mailer.Message
	switch {
	case e.Invitation != nil && (!e.Invitation.Pending || !e.Invitation.Latest):
		w.observe(e.Kind, "skipped")
		return w.store.MarkEmail(ctx, id, store.EmailSkipped, "")
	case w.cfg.Mailer == nil:
		err = errEmailOff
	case e.Invitation != nil:
		inv := e.Invitation
		msg, err = w.cfg.Mailer.Invitation(id, e.To, mailer.Invitation{Workspace: inv.WorkspaceName,
			Inviter: inv.InvitedByName, Role: inv.Role, ExpiresAt: inv.ExpiresAt, Token: inv.Token})
	default:
		msg, err = w.cfg.Mailer.WaitlistApproval(id, e.To, mailer.Approval{Name: e.Approval.Name, Code: e.Approval.Code})
	}
	if err == nil {
		err = w.cfg.Mailer.Send(ctx, msg)
	}
	if err != nil {
		return w.failed(ctx, job, e, err)
	}
	w.observe(e.Kind, "sent")
	w.cfg.Logger.Info("email sent", "email_id", id.String(), "kind", e.Kind, "attempt", job.Attempt)
	if err := w.store.MarkEmail(ctx, id, store.EmailSent, ""); err != nil {
		// Sent but not recorded: the retry sends it again, same Message-ID.
		return fmt.Errorf("jobs: record sent email %s: %w", id, err)
	}
	return nil
}

// failed handles a failed attempt: the email is marked failed (and the job
// cancelled) when the next attempt would come after its deadline, else the
// error goes back to River, which retries after retryPolicy's delay.
func (w *emailWorker) failed(ctx context.Context, job *river.Job[EmailArgs], e store.OutgoingEmail, sendErr error) error {
	deadline := e.CreatedAt.Add(w.cfg.RetryFor)
	next := time.Now().Add(w.retry.delay(job.Attempt))
	log := w.cfg.Logger.With("email_id", e.ID.String(), "kind", e.Kind, "attempt", job.Attempt, "error", sendErr.Error())
	if next.After(deadline) || job.Attempt >= job.MaxAttempts {
		if err := w.store.MarkEmail(ctx, e.ID, store.EmailFailed, sendErr.Error()); err != nil {
			return fmt.Errorf("jobs: record failed email %s: %w", e.ID, err) // retried, then recorded
		}
		w.observe(e.Kind, "failed")
		log.Warn("email failed: giving up", "retried_for", time.Since(e.CreatedAt).Round(time.Second).String())
		return river.JobCancel(sendErr)
	}
	w.observe(e.Kind, "retry")
	log.Warn("email not sent; will retry", "retry_in", w.retry.delay(job.Attempt).String())
	_ = w.store.NoteEmailError(ctx, e.ID, sendErr.Error())
	return sendErr
}

// startSpan starts the job's span, a consumer span linked (not parented:
// the job may run long after the request ended) to the request that queued
// the email. Without a Tracer it is a no-op span.
func (w *emailWorker) startSpan(ctx context.Context, job *river.Job[EmailArgs]) (context.Context, trace.Span) {
	if w.cfg.Tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "river"), attribute.Int64("messaging.message.id", job.ID),
		attribute.String("praxiom.email_id", job.Args.EmailID.String()), attribute.Int("river.attempt", job.Attempt))}
	if job.Args.TraceParent != "" {
		queued := propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": job.Args.TraceParent})
		if sc := trace.SpanContextFromContext(queued); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	return w.cfg.Tracer.Tracer("github.com/praxiom/praxiom-api/internal/jobs").Start(ctx, "email send", opts...)
}

func (w *emailWorker) observe(kind, outcome string) {
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.Email(kind, outcome)
	}
}
