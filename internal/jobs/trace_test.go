package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/jobs"
	"github.com/praxiom/praxiom-api/internal/mailer"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/smtptest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// TestEmailJobSpans: an email queued by a traced request is sent in a span
// of its own ("email send"), linked to the request's span, with the SMTP
// conversation as its child ("SMTP send"); neither carries the recipient,
// and a refused send marks both as errors without the server's reply.
func TestEmailJobSpans(t *testing.T) {
	ctx := context.Background()
	st, _ := pgtest.NewStore(t, store.Options{Outbox: jobs.NewOutbox()})
	owner := apitest.NewUser(t, st, "ada@example.com", store.NewUserPolicy{Active: true})
	ws := apitest.InsertWorkspace(t, st, "Acme", owner.ID)
	srv := smtptest.Start(t, smtptest.Options{})
	m, err := mailer.New(mailer.Config{SMTPURL: srv.URL, From: apitest.TestMailFrom, AppURL: apitest.TestAppURL})
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(ctx) })
	c := apitest.TestJobs
	c.Mailer, c.Tracer = m, tp
	stop, err := jobs.Start(ctx, st, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop(ctx) })

	// The request: a span around the change that queues the email.
	reqCtx, req := tp.Tracer("test").Start(ctx, "POST /api/workspaces/{workspace_id}/invitations")
	if _, err := st.CreateInvitation(reqCtx, store.UserActor(owner), ws,
		store.NewInvitation{Email: "bob@example.com", Role: store.RoleMember}); err != nil {
		t.Fatal(err)
	}
	req.End()
	srv.Wait(1, 20*time.Second)

	job, smtp := waitSpans(t, spans, 1)
	if len(job.Links) != 1 || job.Links[0].SpanContext.TraceID() != req.SpanContext().TraceID() ||
		job.Links[0].SpanContext.SpanID() != req.SpanContext().SpanID() {
		t.Errorf("the job's links %+v, want the request's span %s", job.Links, req.SpanContext().SpanID())
	}
	if job.SpanContext.TraceID() == req.SpanContext().TraceID() {
		t.Error("the job runs in the request's trace; want a trace of its own, linked")
	}
	if job.SpanKind != trace.SpanKindConsumer || smtp.SpanKind != trace.SpanKindClient {
		t.Errorf("kinds %v and %v, want consumer and client", job.SpanKind, smtp.SpanKind)
	}
	if smtp.Parent.SpanID() != job.SpanContext.SpanID() {
		t.Errorf("SMTP send's parent is %s, want the job's span %s", smtp.Parent.SpanID(), job.SpanContext.SpanID())
	}
	for _, s := range []tracetest.SpanStub{job, smtp} {
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), "bob@") {
				t.Errorf("%s carries the recipient in %s", s.Name, kv.Key)
			}
		}
	}

	// Refused: both spans are errors, and the reply (which names the
	// recipient) is not their description.
	srv.Refuse(550)
	if _, err := st.CreateInvitation(ctx, store.UserActor(owner), ws,
		store.NewInvitation{Email: "carol@example.com", Role: store.RoleMember}); err != nil {
		t.Fatal(err)
	}
	job, smtp = waitSpans(t, spans, 2)
	if len(job.Links) != 0 {
		t.Errorf("an email queued outside a trace has links %+v", job.Links)
	}
	for _, s := range []tracetest.SpanStub{job, smtp} {
		if s.Status.Code.String() != "Error" || strings.Contains(s.Status.Description, "carol") {
			t.Errorf("%s: status %v %q, want an error without the recipient", s.Name, s.Status.Code, s.Status.Description)
		}
	}
}

// waitSpans waits for the n-th "email send" span and returns it with its
// "SMTP send" child.
func waitSpans(t *testing.T, exp *tracetest.InMemoryExporter, n int) (job, smtp tracetest.SpanStub) {
	t.Helper()
	var jobs []tracetest.SpanStub
	apitest.WaitFor(t, 20*time.Second, func() bool {
		jobs = jobs[:0]
		for _, s := range exp.GetSpans() {
			if s.Name == "email send" {
				jobs = append(jobs, s)
			}
		}
		return len(jobs) >= n
	})
	job = jobs[n-1]
	for _, s := range exp.GetSpans() {
		if s.Name == "SMTP send" && s.Parent.SpanID() == job.SpanContext.SpanID() {
			return job, s
		}
	}
	t.Fatalf("no SMTP send span under email send %s", job.SpanContext.SpanID())
	return
}
