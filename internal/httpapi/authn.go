package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

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
	errNoToken = apperr.New(apperr.Unauthorized, "A bearer token is required.")
	errBadUser = apperr.New(apperr.Unauthorized, "The token's user is unknown or deleted.")
)

// unauthorized answers 401 with the RFC 6750 challenge: error="invalid_token"
// whenever a bearer token was sent.
func unauthorized(w http.ResponseWriter, r *http.Request, tokenSent bool, err error) {
	if tokenSent {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer`)
	}
	writeError(w, r, err)
}

// authenticate verifies the Clerk session token and resolves its user,
// provisioning it on first sight. 401 for a missing or bad token and for an
// unknown or deleted user; 503 when Clerk or the database is unreachable.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present, ok := auth.ParseBearer(r.Header.Get("Authorization"))
		if !ok {
			unauthorized(w, r, present && token != "", errNoToken)
			return
		}
		claims, err := s.verifier.Verify(r.Context(), token)
		if err != nil {
			if errors.Is(err, auth.ErrUnavailable) {
				writeError(w, r, apperr.Wrap(apperr.Unavailable, "Authentication is temporarily unavailable; please retry.", err))
				return
			}
			unauthorized(w, r, true, apperr.Wrap(apperr.Unauthorized, "The token is invalid or expired.", err))
			return
		}
		wsID, onWorkspace := workspaceInPath(r.URL.Path)
		user, ws, err := s.resolveUser(r.Context(), claims, wsID, onWorkspace)
		if err != nil {
			if apperr.CodeOf(err) == apperr.Unauthorized {
				unauthorized(w, r, true, err)
				return
			}
			writeError(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), userKey, user)
		if onWorkspace {
			// loadMembership admits or refuses with this; it runs no query.
			ctx = context.WithValue(ctx, prefetchKey, membership{WorkspaceID: wsID, Workspace: ws})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requireActive refuses suspended users (403 ACCOUNT_SUSPENDED). Every
// route but GET /api/auth/me sits behind it.
func requireActive(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if currentUser(r).Suspended() {
			writeError(w, r, apperr.New(apperr.AccountSuspended, "Your account is suspended."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// currentUser returns the authenticated user; authenticate guarantees it.
func currentUser(r *http.Request) store.User {
	u, ok := r.Context().Value(userKey).(store.User)
	if !ok {
		panic("httpapi: currentUser outside authenticate")
	}
	return u
}

// resolveUser returns the live user of claims.Subject, provisioning it when
// it is new. On a workspace route it also returns that workspace as the
// user sees it (nil for outsiders), read in the same query. Returns
// UNAUTHORIZED, SERVICE_UNAVAILABLE or INTERNAL.
func (s *Server) resolveUser(ctx context.Context, c auth.Claims, wsID uuid.UUID, onWorkspace bool) (store.User, *store.Workspace, error) {
	var (
		u   store.User
		ws  *store.Workspace
		err error
	)
	if onWorkspace {
		u, ws, err = s.store.UserWithWorkspace(ctx, c.Subject, wsID)
	} else {
		u, err = s.store.UserByClerkID(ctx, c.Subject)
	}
	if err == nil {
		if u.DeletedAt != nil {
			return store.User{}, nil, errBadUser
		}
		return u, ws, nil
	}
	if apperr.CodeOf(err) != apperr.NotFound {
		return store.User{}, nil, err
	}
	// First sight: one provisioning per subject at a time in this process;
	// the store's upsert makes it one row across processes too.
	v, err, _ := s.provisioning.Do(c.Subject, func() (any, error) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return s.provision(pctx, c)
	})
	if err != nil {
		return store.User{}, nil, err
	}
	// A user provisioned just now is a member of nothing yet.
	return v.(store.User), nil, nil
}

// workspaceInPath finds the workspace id of /api/workspaces/{id}[/…] so
// that authentication can read the caller's membership with the user. A
// malformed id is left to loadMembership (400).
func workspaceInPath(path string) (uuid.UUID, bool) {
	const prefix = "/api/workspaces/"
	if !strings.HasPrefix(path, prefix) {
		return uuid.Nil, false
	}
	rest := path[len(prefix):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if len(rest) != 36 {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil
}

func (s *Server) provision(ctx context.Context, c auth.Claims) (store.User, error) {
	var p store.Profile
	if s.fetcher != nil {
		var err error
		p, err = s.fetcher.Fetch(ctx, c.Subject)
		switch {
		case errors.Is(err, clerkuser.ErrNotFound):
			return store.User{}, apperr.Wrap(apperr.Unauthorized, "The token's user is unknown.", err)
		case err != nil:
			return store.User{}, apperr.Wrap(apperr.Unavailable, "Clerk is unavailable; please retry.", err)
		}
	} else {
		email := clerkuser.NormalizeEmail(c.Email)
		if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
			return store.User{}, apperr.New(apperr.Unauthorized, "The token's user is unknown and the token carries no email.")
		}
		p = store.Profile{ClerkID: c.Subject, Email: email, Name: clerkuser.DisplayName(c.Name, "", "", email)}
	}
	u, outcome, err := s.store.UpsertUser(ctx, p, s.applier.Policy)
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

// provisioner deduplicates concurrent first requests of one subject.
type provisioner = singleflight.Group
