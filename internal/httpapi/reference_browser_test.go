package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/praxiom/praxiom-api/internal/apitest"
)

// TestReferenceRendersInABrowser loads GET /docs from the real router in
// headless Chromium and holds the page to api/openapi.yaml ("reference"):
// Redoc renders a section, the summary and the path of every operation of
// the spec; every request the page makes goes to its own origin (or is a
// data:/blob: URL) and succeeds; and no console error, exception or browser
// error (a CSP violation included) occurs. A second page, with an image from
// another loopback origin, shows that the recording catches such a request.
func TestReferenceRendersInABrowser(t *testing.T) {
	start := time.Now()
	chromium := chromiumPath(t)
	e := apitest.New(t, apitest.Options{})
	srv := httptest.NewServer(e.Handler)
	t.Cleanup(srv.Close)

	type operation struct{ ID, Summary, Path string }
	var ops []operation
	for path, item := range apitest.Spec(t).Doc().Paths.Map() {
		for _, op := range item.Operations() {
			ops = append(ops, operation{op.OperationID, op.Summary, path})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].ID < ops[j].ID })
	if len(ops) < 25 {
		t.Fatalf("the spec lists only %d operations", len(ops))
	}

	ctx, rec := newBrowserTab(t, chromium)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/docs")); err != nil {
		t.Fatalf("navigate to /docs: %v", err)
	}
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = "operation/" + op.ID
	}
	idsJSON, _ := json.Marshal(ids)
	missingJS := fmt.Sprintf(`%s.filter(id => !document.querySelector('[data-section-id="' + id + '"]'))`, idsJSON)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](missingJS+`.length === 0`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		missing, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](missingJS))
		t.Fatalf("Redoc did not render every operation within 15 s (%v); missing sections: %v\nbrowser log:\n%s", err, missing, rec)
	}
	rendered := time.Since(start)
	rec.waitQuiet(ctx, 300*time.Millisecond, 3*time.Second) // late loads: images, the search worker

	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatalf("read the page's text: %v", err)
	}
	for _, op := range ops {
		if !strings.Contains(text, op.Summary) || !strings.Contains(text, op.Path) {
			t.Errorf("the rendered reference lacks %s: summary %q or path %q", op.ID, op.Summary, op.Path)
		}
	}

	reqs, failures, errs := rec.snapshot()
	pageRequests := len(reqs)
	if off := offOrigin(srv.URL, reqs); len(off) > 0 {
		t.Errorf("the page requested URLs of another origin: %v", off)
	}
	for _, want := range []string{"/docs", "/docs/redoc.standalone.js", "/docs/reference.js", "/openapi.json"} {
		if !slices.Contains(reqs, srv.URL+want) {
			t.Errorf("the page never requested %s; requests: %v", want, reqs)
		}
	}
	if len(failures) > 0 {
		t.Errorf("failed loads: %v", failures)
	}
	if len(errs) > 0 {
		t.Errorf("console or browser errors: %v", errs)
	}

	// The negative control: another origin is caught.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(other.Close)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><title>control</title><link rel="icon" href="data:,"><img src="%s/pixel" alt="">`, other.URL)
	}))
	t.Cleanup(page.Close)
	rec.reset()
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("navigate to the control page: %v", err)
	}
	rec.waitQuiet(ctx, 200*time.Millisecond, 3*time.Second)
	control, _, _ := rec.snapshot()
	if off := offOrigin(page.URL, control); !slices.Equal(off, []string{other.URL + "/pixel"}) {
		t.Errorf("the control page's image from another origin was not caught: other-origin URLs %v, requests %v", off, control)
	}
	t.Logf("rendered %d operations %s after the test started (server and browser start included) with %d requests; whole test %s",
		len(ops), rendered.Round(time.Millisecond), pageRequests, time.Since(start).Round(time.Millisecond))
}

// chromiumPath returns the Chromium binary. The test fails, never skips,
// when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium for the headless-browser test of GET /docs: install the Debian package chromium " +
		"(apt-get install chromium)")
	return ""
}

// newBrowserTab starts headless Chromium with a fresh profile and returns a
// tab's context and the recording of its events. The browser stops, and the
// profile is removed, when the test ends.
func newBrowserTab(t *testing.T, chromium string) (context.Context, *browserRecord) {
	t.Helper()
	profile := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // as root (CI) Chromium refuses to start otherwise
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Nothing may leave the machine even if the page tried: no proxy,
		// and every host name but the loopback address fails to resolve.
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 900),
	)
	rec := &browserRecord{urls: map[network.RequestID]string{}}
	tab, cancelTab := chromedp.NewContext(alloc, chromedp.WithListener(rec.listen))
	ctx, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc() // waits for the browser to exit, before TempDir's removal
	})
	return ctx, rec
}

// browserRecord collects what a tab did: every request's URL, failed loads,
// and console and browser-log errors. The listener runs on chromedp's event
// loop and must return fast.
type browserRecord struct {
	mu       sync.Mutex
	requests []string
	urls     map[network.RequestID]string
	failures []string
	errors   []string
	notes    []string // warnings: shown on failure, not failures themselves
	last     time.Time
}

func (b *browserRecord) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = time.Now()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, e.Request.URL)
		b.urls[e.RequestID] = e.Request.URL
	case *network.EventResponseReceived:
		if e.Response.Status >= 400 {
			b.failures = append(b.failures, fmt.Sprintf("%s: HTTP %d", e.Response.URL, e.Response.Status))
		}
	case *network.EventLoadingFailed:
		b.failures = append(b.failures, fmt.Sprintf("%s: %s %s", clipURL(b.urls[e.RequestID]), e.ErrorText, e.BlockedReason))
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range e.Args {
			if len(a.Value) > 0 {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		msg := fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
		switch e.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeAssert:
			b.errors = append(b.errors, msg)
		case runtime.ConsoleAPICalledTypeWarning:
			b.notes = append(b.notes, msg)
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.errors = append(b.errors, "exception: "+msg)
	case *cdplog.EventEntryAdded:
		msg := fmt.Sprintf("browser %s %s: %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, clipURL(e.Entry.URL))
		switch string(e.Entry.Level) {
		case "error":
			b.errors = append(b.errors, msg)
		case "warning":
			b.notes = append(b.notes, msg)
		}
	}
}

func (b *browserRecord) snapshot() (requests, failures, errors []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests), slices.Clone(b.failures), slices.Clone(b.errors)
}

func (b *browserRecord) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests, b.failures, b.errors, b.notes = nil, nil, nil, nil
}

// waitQuiet returns once no event arrived for quiet, or after most.
func (b *browserRecord) waitQuiet(ctx context.Context, quiet, most time.Duration) {
	deadline := time.Now().Add(most)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b.mu.Lock()
		idle := time.Since(b.last)
		b.mu.Unlock()
		if idle >= quiet {
			return
		}
		time.Sleep(quiet - idle)
	}
}

func (b *browserRecord) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for _, list := range [][]string{b.requests, b.failures, b.errors, b.notes} {
		for _, line := range list {
			s.WriteString("  " + clipURL(line) + "\n")
		}
	}
	return s.String()
}

// offOrigin returns the URLs that are neither of origin's origin nor data:
// or blob: URLs.
func offOrigin(origin string, urls []string) []string {
	base, err := url.Parse(origin)
	if err != nil {
		return urls
	}
	var off []string
	for _, raw := range urls {
		u, err := url.Parse(raw)
		switch {
		case err == nil && (u.Scheme == "data" || u.Scheme == "blob"):
			// blob: URLs carry their creator's origin; only the page creates them.
		case err == nil && u.Scheme == base.Scheme && u.Host == base.Host:
		default:
			off = append(off, clipURL(raw))
		}
	}
	return off
}

func clipURL(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}
