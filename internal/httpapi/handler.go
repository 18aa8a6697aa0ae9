package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/store"
)

// handlerFunc is the one shape of the service's handlers and middleware: an
// error is answered by writeError, which alone decides the status and the
// headers of every error answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// h adapts a handlerFunc to net/http.
func h(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			writeError(w, r, err)
		}
	}
}

// middleware adapts a handlerFunc that calls next itself into chi
// middleware.
func middleware(fn func(w http.ResponseWriter, r *http.Request, next http.Handler) error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return h(func(w http.ResponseWriter, r *http.Request) error { return fn(w, r, next) })
	}
}

// reqState is what the middleware chain learns about a request. It is put
// in the context once, by served, and filled in as the chain runs,
// so that the chain copies the request once rather than once per step, and
// the request log (which runs outside the chain) sees what it learnt.
type reqState struct {
	id  string
	log *slog.Logger
	// start is when served took the request: its latency's start, and
	// the time of an API key's use.
	start time.Time

	// Set by verifyCredential: a session's verified claims, or the hash of
	// a well-formed API key.
	claims  *auth.Claims
	keyHash *[32]byte

	// The principal, set by loadPrincipal or loadWorkspace: a session's
	// caller, or an API key. user is the caller's Account, read on the
	// caller's own routes (loadPrincipal) only: a workspace route reads
	// the caller alone.
	caller *store.Caller
	user   *store.Account
	key    *store.KeyCaller
	// ws is, on /api/workspaces/{workspace_id} routes, that workspace as
	// the principal sees it (nil for outsiders and unknown workspaces);
	// with an API key elsewhere, the key's own workspace.
	ws *store.Workspace
	// keyWS is an API key's own workspace, wherever the request goes.
	keyWS *store.Workspace
	// wsIDErr is the 400 of a path's {workspace_id} that is not a UUID,
	// answered by requireRole after the suspension check.
	wsIDErr error
	// nestedName names the path's id below the workspace ({user_id},
	// {invitation_id}, {api_key_id}; "" on a route without one), nestedID
	// is its value and nestedErr its 400 when it is not a UUID, answered by
	// requireRole after wsIDErr. loadWorkspace parses both ids.
	nestedName string
	nestedID   uuid.UUID
	nestedErr  error
	// remaining holds X-RateLimit-Remaining's value when it is not one of
	// the shared ones (countValue).
	remaining [1]string

	// claimsV, keyHashV, callerV, userV, keyV and keyWSV are where
	// claims, keyHash, caller, user, key and keyWS point: kept here, in the
	// request's state already on the heap, so that they cost no allocation
	// of their own.
	claimsV  auth.Claims
	keyHashV [32]byte
	callerV  store.Caller
	userV    store.Account
	keyV     store.KeyCaller
	keyWSV   store.Workspace
}

type ctxKey struct{}

// state returns the request's state; served guarantees it.
func state(r *http.Request) *reqState {
	st, ok := r.Context().Value(ctxKey{}).(*reqState)
	if !ok {
		panic("httpapi: request state outside served")
	}
	return st
}

// requestID returns the request's id ("" outside served).
func requestID(ctx context.Context) string {
	if st, ok := ctx.Value(ctxKey{}).(*reqState); ok {
		return st.id
	}
	return ""
}

// currentUser returns the signed-in user of a session on the caller's own
// routes; the chain guarantees one (sessionOnly, or a route keys cannot
// reach, behind loadPrincipal).
func currentUser(r *http.Request) store.Account {
	u := state(r).user
	if u == nil {
		panic("httpapi: currentUser without a session's user (a workspace route, or an API key)")
	}
	return *u
}

// currentWorkspace returns the workspace of the path as the principal sees
// it; requireRole guarantees one.
func currentWorkspace(r *http.Request) store.Workspace {
	w := state(r).ws
	if w == nil {
		panic("httpapi: currentWorkspace outside requireRole")
	}
	return *w
}

// impersonator returns the act.sub of an impersonated session, else "".
func (st *reqState) impersonator() string {
	if st.claims == nil {
		return ""
	}
	return st.claims.Impersonator
}

// actor returns who makes the request, for the store: the user or the API
// key, with where the request came from.
func (s *Server) actor(r *http.Request) store.Actor {
	st := state(r)
	var a store.Actor
	switch {
	case st.caller != nil:
		a = store.CallerActor(*st.caller)
		a.Impersonator = st.impersonator()
	case st.key != nil:
		a = store.KeyActor(*st.key)
	default:
		panic("httpapi: actor without a principal")
	}
	a.RequestID = st.id
	a.IP = clientIP(r, s.limits.TrustedProxies)
	return a
}
