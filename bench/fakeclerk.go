package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// fakeClerk is the stand-in for Clerk's Backend API that the servers under
// test talk to: the JWKS at /{server}/v1/jwks (each server gets its own
// prefix so fetches are counted per server) and /{server}/v1/users/{id},
// which answers 404 and is counted (the users are seeded, so a call means
// provisioning happened during load). It listens on 127.0.0.1 only.
type fakeClerk struct {
	srv  *httptest.Server
	jwks []byte

	mu      sync.Mutex
	fetches map[string][]time.Time
	users   map[string]int
}

func newFakeClerk(jwks []byte) (*fakeClerk, error) {
	f := &fakeClerk{jwks: jwks, fetches: map[string][]time.Time{}, users: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(f.serve),
		ReadHeaderTimeout: 5 * time.Second}}
	f.srv.Start()
	return f, nil
}

// URL is the CLERK_API_URL of the server named name.
func (f *fakeClerk) URL(name string) string { return f.srv.URL + "/" + name + "/v1" }

func (f *fakeClerk) serve(w http.ResponseWriter, r *http.Request) {
	name, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Header.Get("Authorization") != "Bearer "+benchSecretKey {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && rest == "v1/jwks":
		f.mu.Lock()
		f.fetches[name] = append(f.fetches[name], time.Now())
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.jwks)
	case strings.HasPrefix(rest, "v1/users/"):
		f.mu.Lock()
		f.users[name]++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errors":[{"code":"resource_not_found","message":"not found"}]}`))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// Fetches returns the times server name fetched the JWKS.
func (f *fakeClerk) Fetches(name string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.fetches[name]...)
}

// UserCalls returns how many user look-ups server name made.
func (f *fakeClerk) UserCalls(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users[name]
}

func (f *fakeClerk) Close() { f.srv.Close() }
