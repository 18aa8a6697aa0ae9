package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apikey"
	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerkuser"
	"github.com/praxiom/praxiom-api/internal/store"
)

// ProfileFetcher reads a user from Clerk's Backend API (package clerkuser).
type ProfileFetcher interface {
	Fetch(ctx context.Context, clerkID string) (store.Profile, error)
}

var (
	errNoToken  = apperr.New(apperr.Unauthorized, "A bearer token is required.")
	errBadToken = apperr.New(apperr.Unauthorized, "The token is invalid or expired.")
	// A session with unfinished tasks (a forced password reset, MFA set-up)
	// counts as signed out.
	errPendingSession = apperr.New(apperr.Unauthorized, "The session is pending: finish signing in to continue.")
	errBadKey         = apperr.New(apperr.Unauthorized, "The API key is invalid, revoked or expired.")
	errBadUser        = apperr.New(apperr.Unauthorized, "The token's user is unknown or deleted.")
	errAuthDown       = apperr.New(apperr.Unavailable, "Authentication is temporarily unavailable; please retry.")
	errClerkDown      = apperr.New(apperr.Unavailable, "Clerk is unavailable; please retry.")
	errNoIdentity     = apperr.New(apperr.Unauthorized, "The token's user is unknown and the token carries no email.")
)

// verifyCredential checks the bearer credential of every authenticated
// /api route without touching the database: a Clerk session token (RS256
// signature, claims, token kind: package auth) or a workspace API key
// (shape and checksum). It runs before routing, so an unknown /api path
// without a valid credential answers 401 too. Returns UNAUTHORIZED or, when
// Clerk's keys cannot be had, SERVICE_UNAVAILABLE.
func (s *Server) verifyCredential(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	token, _, ok := auth.ParseBearer(r.Header.Get("Authorization"))
	if !ok {
		return errNoToken
	}
	st := state(r)
	if apikey.Looks(token) {
		if !apikey.Valid(token) {
			return errBadKey
		}
		st.keyHashV = apikey.Hash(token)
		st.keyHash = &st.keyHashV
	} else {
		claims, err := s.verifier.Verify(r.Context(), token)
		switch {
		case errors.Is(err, auth.ErrUnavailable):
			return apperr.Wrap(apperr.Unavailable, errAuthDown.Message, err)
		case errors.Is(err, auth.ErrPendingSession):
			return apperr.Wrap(apperr.Unauthorized, errPendingSession.Message, err)
		case err != nil:
			return apperr.Wrap(apperr.Unauthorized, errBadToken.Message, err)
		}
		st.claimsV = claims
		st.claims = &st.claimsV
	}
	next.ServeHTTP(w, r)
	return nil
}

// loadPrincipal loads the principal of the credential in one query: the
// session's user (provisioned on first sight) or the API key with its
// workspace. Returns UNAUTHORIZED (unknown or deleted user; unknown,
// revoked or expired key), SERVICE_UNAVAILABLE.
func (s *Server) loadPrincipal(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if err := s.load(r.Context(), state(r), uuid.Nil, false); err != nil {
		return err
	}
	next.ServeHTTP(w, r)
	return nil
}

// loadWorkspace loads the principal of the credential together with its
// place in the path's workspace, in one query: the workspace as the
// principal sees it, or nothing for an outsider or an unknown workspace
// (refused by requireRole, after the suspension check). The path's ids
// are parsed here, before the query, and one that is not a UUID is
// remembered for requireRole's 400: after the query the request reads its
// own state only, not chi's routing context. Returns what loadPrincipal
// returns.
func (s *Server) loadWorkspace(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	st := state(r)
	rc := chi.RouteContext(r.Context())
	id, err := parseUUID(rc.URLParam("workspace_id"), "workspace_id")
	st.wsIDErr = err
	if st.nestedName = nestedIDParam(rc); st.nestedName != "" {
		st.nestedID, st.nestedErr = parseUUID(rc.URLParam(st.nestedName), st.nestedName)
	}
	if err := s.load(r.Context(), st, id, err == nil); err != nil {
		return err
	}
	next.ServeHTTP(w, r)
	return nil
}

// load fills in the principal of st's credential; onWorkspace asks for
// workspace wsID as the principal sees it too.
func (s *Server) load(ctx context.Context, st *reqState, wsID uuid.UUID, onWorkspace bool) error {
	if st.keyHash != nil {
		k, ws, err := s.store.APIKeyByHash(ctx, *st.keyHash)
		if err != nil {
			if apperr.CodeOf(err) == apperr.NotFound {
				return errBadKey
			}
			return err
		}
		st.keyV, st.keyWSV = k, ws
		st.key, st.keyWS = &st.keyV, &st.keyWSV
		if !onWorkspace || ws.ID == wsID {
			st.ws = st.keyWS // a key sees its own workspace only
		}
		s.keyUsage.touch(k.ID, st.start)
		return nil
	}
	if !onWorkspace {
		u, err := s.resolveUser(ctx, *st.claims)
		if err != nil {
			return err
		}
		st.userV, st.callerV = u, u.Caller()
		st.user, st.caller = &st.userV, &st.callerV
		return nil
	}
	c, ws, err := s.resolveCaller(ctx, *st.claims, wsID)
	if err != nil {
		return err
	}
	st.callerV, st.ws = c, ws
	st.caller = &st.callerV
	return nil
}

// resolveUser returns the live user of c.Subject, provisioning it when it
// is new. Returns UNAUTHORIZED, SERVICE_UNAVAILABLE or INTERNAL.
func (s *Server) resolveUser(ctx context.Context, c auth.Claims) (store.Account, error) {
	a, err := s.store.AccountByClerkID(ctx, c.Subject)
	switch {
	case err == nil && a.DeletedAt != nil:
		return store.Account{}, errBadUser
	case err == nil:
		return a, nil
	case apperr.CodeOf(err) != apperr.NotFound:
		return store.Account{}, err
	}
	u, err := s.provisionOnce(ctx, c)
	return u.Account, err
}

// resolveCaller returns the live caller of c.Subject, provisioning the user
// when it is new, with workspace wsID as the user sees it (nil for
// outsiders), read in the same query. Returns what resolveUser returns.
func (s *Server) resolveCaller(ctx context.Context, c auth.Claims, wsID uuid.UUID) (store.Caller, *store.Workspace, error) {
	caller, ws, err := s.store.UserWithWorkspace(ctx, c.Subject, wsID)
	switch {
	case err == nil && caller.Deleted:
		return store.Caller{}, nil, errBadUser
	case err == nil:
		return caller, ws, nil
	case apperr.CodeOf(err) != apperr.NotFound:
		return store.Caller{}, nil, err
	}
	u, err := s.provisionOnce(ctx, c)
	if err != nil {
		return store.Caller{}, nil, err
	}
	// A user provisioned just now is a member of nothing yet.
	return u.Caller(), nil, nil
}

// provisionOnce provisions the user of c seen for the first time: one
// provisioning per subject at a time in this process; the store's upsert
// makes it one row across processes too.
func (s *Server) provisionOnce(ctx context.Context, c auth.Claims) (store.User, error) {
	v, err, _ := s.provisioning.Do(c.Subject, func() (any, error) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return s.provision(pctx, c)
	})
	if err != nil {
		return store.User{}, err
	}
	return v.(store.User), nil
}

// provision creates the user of c: from Clerk's Backend API when a secret
// key is configured, else from the token's email and name claims. Returns
// UNAUTHORIZED (Clerk does not know the user, or it has no email; a
// tombstoned user), SERVICE_UNAVAILABLE (Clerk down).
func (s *Server) provision(ctx context.Context, c auth.Claims) (store.User, error) {
	var p store.Profile
	if s.fetcher != nil {
		var err error
		p, err = s.fetcher.Fetch(ctx, c.Subject)
		switch {
		case errors.Is(err, clerkuser.ErrNotFound):
			return store.User{}, apperr.Wrap(apperr.Unauthorized, "The token's user is unknown.", err)
		case err != nil:
			return store.User{}, apperr.Wrap(apperr.Unavailable, errClerkDown.Message, err)
		}
	} else {
		email := store.NormalizeEmail(c.Email)
		if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
			return store.User{}, errNoIdentity
		}
		// A token's email claim counts as verified: the token is signed by
		// the instance's key, and claims provisioning runs only without a
		// Clerk secret key (development and tests).
		p = store.Profile{ClerkID: c.Subject, Email: email, EmailVerified: true,
			Name: clerkuser.DisplayName(c.Name, "", "", email)}
	}
	u, outcome, err := s.store.UpsertUser(ctx, p, s.policy)
	if err != nil {
		return store.User{}, err
	}
	if outcome == store.Tombstoned {
		return store.User{}, errBadUser
	}
	if outcome == store.Created {
		s.log.Info("user provisioned", "user_id", u.ID.String())
	}
	return u, nil
}
