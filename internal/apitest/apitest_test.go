package apitest_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
)

const dbURL = "postgres://praxiom@127.0.0.1:5432/praxiom_test"

// TestConfigDefaults: the zero Options give config.Load's defaults with the
// test key, PLG gating on, metrics on, rate limits off and no Clerk API.
func TestConfigDefaults(t *testing.T) {
	cfg := apitest.Config(t, dbURL, apitest.Options{})
	want, err := config.Load(func(k string) (string, bool) {
		v, ok := map[string]string{"DATABASE_URL": dbURL, "CLERK_JWT_KEY": apitest.Key(t).PublicPEM()}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != dbURL || cfg.ClerkJWTKey != want.ClerkJWTKey || cfg.ClerkSecretKey != "" {
		t.Errorf("database %q, key set %v, secret %q; want the test database and key, no secret",
			cfg.DatabaseURL, cfg.ClerkJWTKey == want.ClerkJWTKey, cfg.ClerkSecretKey)
	}
	if !cfg.PLGGating || cfg.RateLimitEnabled || cfg.MetricsAddr == "" || len(cfg.CORSAllowedOrigins) != 0 {
		t.Errorf("PLG gating %v, rate limits %v, metrics %q, CORS %v; want on, off, set, none",
			cfg.PLGGating, cfg.RateLimitEnabled, cfg.MetricsAddr, cfg.CORSAllowedOrigins)
	}
	if cfg.TokenCacheSize != want.TokenCacheSize || cfg.TrialDays != want.TrialDays || cfg.ClerkClockSkew != want.ClerkClockSkew {
		t.Errorf("token cache %d, trial %d days, skew %v; want the defaults %d, %d, %v", cfg.TokenCacheSize,
			cfg.TrialDays, cfg.ClerkClockSkew, want.TokenCacheSize, want.TrialDays, want.ClerkClockSkew)
	}
}

type noLimiter struct{}

func (noLimiter) Allow(context.Context, string, int) (ratelimit.Result, error) {
	return ratelimit.Result{Allowed: true}, nil
}

// TestConfigFromOptions: each option lands in its configuration field.
func TestConfigFromOptions(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cfg := apitest.Config(t, dbURL, apitest.Options{
		PLGGatingOff: true, ClerkAPIURL: "http://127.0.0.1:1/v1", CORSOrigins: []string{"https://app.example.com"},
		RateLimits: httpapi.RateLimits{Limiter: noLimiter{}, PerPlan: map[string]int{"pro": 5}, PerIP: 3, TrustedProxies: proxies},
	})
	if cfg.PLGGating || cfg.ClerkAPIURL != "http://127.0.0.1:1/v1" || cfg.ClerkSecretKey != clerktest.SecretKey {
		t.Errorf("PLG gating %v, Clerk API %q, secret %q", cfg.PLGGating, cfg.ClerkAPIURL, cfg.ClerkSecretKey)
	}
	if !slices.Equal(cfg.CORSAllowedOrigins, []string{"https://app.example.com"}) {
		t.Errorf("CORS = %v", cfg.CORSAllowedOrigins)
	}
	if !cfg.RateLimitEnabled || cfg.RateLimits["pro"] != 5 || cfg.RateLimits["trial"] != 30 || cfg.RateLimitIP != 3 ||
		!slices.Equal(cfg.TrustedProxies, proxies) {
		t.Errorf("rate limits on %v, per plan %v, per IP %d, proxies %v; want on, pro 5 and trial's default, 3, %v",
			cfg.RateLimitEnabled, cfg.RateLimits, cfg.RateLimitIP, cfg.TrustedProxies, proxies)
	}
	// A failure budget alone turns the limits on too; per-plan limits
	// without a limiter do not.
	if !apitest.Config(t, dbURL, apitest.Options{RateLimits: httpapi.RateLimits{Failures: ratelimit.NewLocal(nil)}}).RateLimitEnabled {
		t.Error("Failures alone left rate limits off")
	}
	if apitest.Config(t, dbURL, apitest.Options{RateLimits: httpapi.RateLimits{PerPlan: map[string]int{"pro": 5}}}).RateLimitEnabled {
		t.Error("PerPlan without a Limiter turned rate limits on")
	}
}
