// Command reference is the hand-tuned reference the bench measures the
// server against (issue 13): it does the same work as the API's hot routes
// with nothing else — raw net/http, pgx with one joined query per request,
// cached token verification, the same JSON — and none of the service's
// features (request ids, the request log, metrics, rate limits, tracing,
// token kinds). It is not a product: it serves GET /api/auth/me and GET
// /api/workspaces/{id} for session tokens and API keys, on loopback, for
// the bench only, and net/http/pprof on PRAXIOM_BENCH_PPROF_ADDR (as the
// bench's build of the server does).
//
//	DATABASE_URL=… CLERK_API_URL=http://127.0.0.1:…/v1 CLERK_SECRET_KEY=… PORT=… DB_MAX_CONNS=10 reference
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(os.Getenv("DB_MAX_CONNS")); err == nil && n > 0 {
		cfg.MaxConns = int32(n)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	keys, err := fetchJWKS(os.Getenv("CLERK_API_URL")+"/jwks", os.Getenv("CLERK_SECRET_KEY"))
	if err != nil {
		return err
	}
	if addr := os.Getenv("PRAXIOM_BENCH_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	s := &server{pool: pool, keys: keys, tokens: map[string]claims{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /api/auth/me", s.me)
	mux.HandleFunc("GET /api/workspaces/{id}", s.workspace)
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		return err
	}
	fmt.Println("listening", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// fetchJWKS reads the key set once (the bench's keys never rotate), as
// Clerk's Backend API serves it: to the secret key.
func fetchJWKS(url, secret string) (map[string]*jose.JSONWebKey, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	keys := map[string]*jose.JSONWebKey{}
	for i := range set.Keys {
		keys[set.Keys[i].KeyID] = &set.Keys[i]
	}
	return keys, nil
}

type server struct {
	pool *pgxpool.Pool
	keys map[string]*jose.JSONWebKey

	mu     sync.RWMutex
	tokens map[string]claims // verified tokens
}

type claims struct {
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
	Nbf int64  `json:"nbf"`
}

// verify checks an RS256 token against the key set, once per token.
func (s *server) verify(tok string) (claims, bool) {
	s.mu.RLock()
	c, ok := s.tokens[tok]
	s.mu.RUnlock()
	now := time.Now().Unix()
	if ok {
		return c, c.Exp > now
	}
	jws, err := jose.ParseSigned(tok)
	if err != nil || len(jws.Signatures) != 1 || jws.Signatures[0].Header.Algorithm != "RS256" {
		return claims{}, false
	}
	key := s.keys[jws.Signatures[0].Header.KeyID]
	if key == nil {
		return claims{}, false
	}
	payload, err := jws.Verify(key)
	if err != nil || json.Unmarshal(payload, &c) != nil || c.Sub == "" || c.Exp <= now || c.Nbf > now+5 {
		return claims{}, false
	}
	s.mu.Lock()
	s.tokens[tok] = c
	s.mu.Unlock()
	return c, true
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return h[7:]
	}
	return ""
}

func fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":"refused"}}`, code)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(w, 500, "INTERNAL")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}

// The same JSON as the API's user and workspace objects.
type userJSON struct {
	ID               pgtype.UUID `json:"id"`
	ClerkID          string      `json:"clerk_id"`
	Email            string      `json:"email"`
	Name             string      `json:"name"`
	AvatarURL        *string     `json:"avatar_url"`
	AccessStatus     string      `json:"access_status"`
	HasProductAccess bool        `json:"has_product_access"`
	IsFounder        bool        `json:"is_founder"`
	IsAdmin          bool        `json:"is_admin"`
	ReferralCode     string      `json:"referral_code"`
	ReferralCount    int         `json:"referral_count"`
	ActivatedAt      *time.Time  `json:"activated_at"`
	CreatedAt        time.Time   `json:"created_at"`
	UpdatedAt        time.Time   `json:"updated_at"`
}

type workspaceJSON struct {
	ID                 pgtype.UUID `json:"id"`
	Name               string      `json:"name"`
	ProductName        *string     `json:"product_name"`
	ProductDescription *string     `json:"product_description"`
	TargetUsers        *string     `json:"target_users"`
	CurrentStage       *string     `json:"current_stage"`
	Role               string      `json:"role"`
	Subscription       struct {
		Plan        string     `json:"plan"`
		Status      string     `json:"status"`
		TrialEndsAt *time.Time `json:"trial_ends_at"`
	} `json:"subscription"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const userCols = `u.id, u.clerk_id, u.email, u.name, u.avatar_url, u.access_status, u.has_product_access,
	u.is_founder, u.is_admin, u.referral_code, u.referral_count, u.activated_at, u.created_at, u.updated_at, u.deleted_at`

const wsCols = `w.id, w.name, w.product_name, w.product_description, w.target_users, w.current_stage,
	coalesce(s.plan, 'trial'), coalesce(s.status, 'trialing'), s.trial_ends_at, w.created_at, w.updated_at`

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	c, ok := s.verify(bearer(r))
	if !ok {
		fail(w, 401, "UNAUTHORIZED")
		return
	}
	var u userJSON
	var deleted *time.Time
	err := s.pool.QueryRow(r.Context(), `SELECT `+userCols+` FROM users u WHERE u.clerk_id = $1`, c.Sub).Scan(
		&u.ID, &u.ClerkID, &u.Email, &u.Name, &u.AvatarURL, &u.AccessStatus, &u.HasProductAccess,
		&u.IsFounder, &u.IsAdmin, &u.ReferralCode, &u.ReferralCount, &u.ActivatedAt, &u.CreatedAt, &u.UpdatedAt, &deleted)
	if err != nil || deleted != nil {
		fail(w, 401, "UNAUTHORIZED")
		return
	}
	writeJSON(w, u)
}

func (s *server) workspace(w http.ResponseWriter, r *http.Request) {
	var id pgtype.UUID
	if err := id.Scan(r.PathValue("id")); err != nil {
		fail(w, 400, "BAD_REQUEST")
		return
	}
	tok := bearer(r)
	var ws workspaceJSON
	var (
		role, status *string
		err          error
		wsID         pgtype.UUID
		name         *string
		created      *time.Time
		updated      *time.Time
	)
	dest := []any{&wsID, &name, &ws.ProductName, &ws.ProductDescription, &ws.TargetUsers, &ws.CurrentStage,
		&ws.Subscription.Plan, &ws.Subscription.Status, &ws.Subscription.TrialEndsAt, &created, &updated}
	if strings.HasPrefix(tok, "pxm_") {
		hash := sha256.Sum256([]byte(tok))
		err = s.pool.QueryRow(r.Context(), `SELECT k.role, `+wsCols+` FROM api_keys k
			JOIN workspaces w ON w.id = k.workspace_id LEFT JOIN subscriptions s ON s.workspace_id = w.id
			WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`,
			hash[:]).Scan(append([]any{&role}, dest...)...)
		if errors.Is(err, pgx.ErrNoRows) {
			fail(w, 401, "UNAUTHORIZED")
			return
		}
		if err == nil && wsID != id {
			role = nil
		}
	} else {
		c, ok := s.verify(tok)
		if !ok {
			fail(w, 401, "UNAUTHORIZED")
			return
		}
		var uid pgtype.UUID
		err = s.pool.QueryRow(r.Context(), `SELECT u.id, u.access_status, m.role, `+wsCols+` FROM users u
			LEFT JOIN workspace_members m ON m.workspace_id = $2 AND m.user_id = u.id
			LEFT JOIN workspaces w ON w.id = m.workspace_id
			LEFT JOIN subscriptions s ON s.workspace_id = w.id
			WHERE u.clerk_id = $1 AND u.deleted_at IS NULL`, c.Sub, id).Scan(append([]any{&uid, &status, &role}, dest...)...)
		if errors.Is(err, pgx.ErrNoRows) {
			fail(w, 401, "UNAUTHORIZED")
			return
		}
		if err == nil && *status == "suspended" {
			fail(w, 403, "ACCOUNT_SUSPENDED")
			return
		}
	}
	if err != nil {
		fail(w, 503, "SERVICE_UNAVAILABLE")
		return
	}
	if role == nil {
		fail(w, 403, "FORBIDDEN")
		return
	}
	ws.ID, ws.Name, ws.Role, ws.CreatedAt, ws.UpdatedAt = wsID, *name, *role, *created, *updated
	writeJSON(w, ws)
}
