package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

var accessCodePattern = regexp.MustCompile(`^PRAXIOM-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$`)

func TestAccessCodeStoreProblems(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	big := json.RawMessage(`{"k":"` + strings.Repeat("x", store.MaxAccessCodeMetadata) + `"}`)
	for _, tc := range []struct {
		name string
		n    store.NewAccessCodes
		want []string
	}{
		{"valid", store.NewAccessCodes{Count: 1, MaxRedemptions: 1}, nil},
		{"valid limits", store.NewAccessCodes{Count: 1000, MaxRedemptions: 10000, ExpiresAt: &future,
			Metadata: json.RawMessage(` {"a": [1, 2]} `)}, nil},
		{"count 0", store.NewAccessCodes{Count: 0, MaxRedemptions: 1}, []string{"count"}},
		{"count 1001", store.NewAccessCodes{Count: 1001, MaxRedemptions: 1}, []string{"count"}},
		{"max 0", store.NewAccessCodes{Count: 1, MaxRedemptions: 0}, []string{"max_redemptions"}},
		{"max 10001", store.NewAccessCodes{Count: 1, MaxRedemptions: 10001}, []string{"max_redemptions"}},
		{"past", store.NewAccessCodes{Count: 1, MaxRedemptions: 1, ExpiresAt: &past}, []string{"expires_at"}},
		{"array", store.NewAccessCodes{Count: 1, MaxRedemptions: 1, Metadata: json.RawMessage(`[1]`)}, []string{"metadata"}},
		{"string", store.NewAccessCodes{Count: 1, MaxRedemptions: 1, Metadata: json.RawMessage(`"x"`)}, []string{"metadata"}},
		{"broken", store.NewAccessCodes{Count: 1, MaxRedemptions: 1, Metadata: json.RawMessage(`{"a":`)}, []string{"metadata"}},
		{"too big", store.NewAccessCodes{Count: 1, MaxRedemptions: 1, Metadata: big}, []string{"metadata"}},
		{"all", store.NewAccessCodes{Count: -1, MaxRedemptions: -1, ExpiresAt: &past, Metadata: big},
			[]string{"count", "expires_at", "max_redemptions", "metadata"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := slices.Sorted(maps.Keys(tc.n.Problems(now)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAccessCodeStoreCreate(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()

	_, err := st.CreateAccessCodes(ctx, store.CLIActor, store.NewAccessCodes{Count: 0, MaxRedemptions: 1})
	wantCode(t, err, apperr.ValidationError)

	codes, err := st.CreateAccessCodes(ctx, store.CLIActor, store.NewAccessCodes{Count: 1000, MaxRedemptions: 3,
		Metadata: json.RawMessage(`{ "campaign" : "launch" }`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 1000 {
		t.Fatalf("%d codes, want 1000", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !accessCodePattern.MatchString(c.Code) {
			t.Fatalf("code %q has the wrong format", c.Code)
		}
		if seen[c.Code] {
			t.Fatalf("code %q twice", c.Code)
		}
		seen[c.Code] = true
		if c.MaxRedemptions != 3 || c.RedemptionCount != 0 || c.ExpiresAt != nil || c.RevokedAt != nil {
			t.Fatalf("code = %+v", c)
		}
		var meta map[string]any
		if err := json.Unmarshal(c.Metadata, &meta); err != nil || meta["campaign"] != "launch" {
			t.Fatalf("metadata = %s", c.Metadata)
		}
	}
	list, total, err := st.ListAccessCodes(ctx, 200, 0)
	if err != nil || total != 1000 || len(list) != 200 {
		t.Fatalf("list: %d of %d, %v", len(list), total, err)
	}
}

func TestAccessCodeStoreRedeem(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	codes, err := st.CreateAccessCodes(ctx, store.CLIActor, store.NewAccessCodes{Count: 2, MaxRedemptions: 1})
	if err != nil {
		t.Fatal(err)
	}
	first, second := codes[0], codes[1]
	ada := apitest.NewUser(t, st, "ada@example.com", store.NewUserPolicy{})
	bob := apitest.NewUser(t, st, "bob@example.com", store.NewUserPolicy{})

	// Codes match case-insensitively after trimming; a blank one is refused.
	_, err = st.RedeemAccessCode(ctx, as(ada.ID), "  ")
	wantCode(t, err, apperr.ValidationError)
	u, err := st.RedeemAccessCode(ctx, as(ada.ID), " "+strings.ToLower(first.Code)+"\t")
	if err != nil {
		t.Fatal(err)
	}
	if !u.HasProductAccess || u.AccessStatus != store.StatusActive || u.ActivatedAt == nil {
		t.Errorf("after redeeming: %+v", u)
	}
	// Already has access: answered as is, the second code is not consumed.
	if _, err := st.RedeemAccessCode(ctx, as(ada.ID), second.Code); err != nil {
		t.Fatal(err)
	}
	_, err = st.RedeemAccessCode(ctx, as(bob.ID), first.Code)
	wantCode(t, err, apperr.AccessCodeExhausted)
	var count int
	if err := st.Pool().QueryRow(ctx, `SELECT redemption_count FROM access_codes WHERE id = $1`, second.ID).Scan(&count); err != nil || count != 0 {
		t.Fatalf("second code redemption_count = %d (%v), want 0", count, err)
	}

	// Revoked beats exhausted; revoking twice keeps the first revoked_at.
	if err := st.RevokeAccessCode(ctx, store.CLIActor, first.ID); err != nil {
		t.Fatal(err)
	}
	var at1, at2 time.Time
	_ = st.Pool().QueryRow(ctx, `SELECT revoked_at FROM access_codes WHERE id = $1`, first.ID).Scan(&at1)
	if err := st.RevokeAccessCode(ctx, store.CLIActor, first.ID); err != nil {
		t.Fatal(err)
	}
	_ = st.Pool().QueryRow(ctx, `SELECT revoked_at FROM access_codes WHERE id = $1`, first.ID).Scan(&at2)
	if !at1.Equal(at2) || at1.IsZero() {
		t.Errorf("revoked_at %v then %v", at1, at2)
	}
	_, err = st.RedeemAccessCode(ctx, as(bob.ID), first.Code)
	wantCode(t, err, apperr.AccessCodeInvalid)

	// Expired.
	if _, err := st.Pool().Exec(ctx, `UPDATE access_codes SET expires_at = now() - interval '1 second' WHERE id = $1`, second.ID); err != nil {
		t.Fatal(err)
	}
	_, err = st.RedeemAccessCode(ctx, as(bob.ID), second.Code)
	wantCode(t, err, apperr.AccessCodeInvalid)
	_, err = st.RedeemAccessCode(ctx, as(bob.ID), "PRAXIOM-ZZZZZZ")
	wantCode(t, err, apperr.AccessCodeInvalid)
	wantCode(t, st.RevokeAccessCode(ctx, store.CLIActor, ada.ID), apperr.NotFound)
}

// TestAccessCodeStoreLastRedemptionRace: ten users race for the last
// redemption of a code; exactly one wins.
func TestAccessCodeStoreLastRedemptionRace(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{MaxConns: 12})
	ctx := context.Background()
	for round := range 3 {
		codes, err := st.CreateAccessCodes(ctx, store.CLIActor, store.NewAccessCodes{Count: 1, MaxRedemptions: 5})
		if err != nil {
			t.Fatal(err)
		}
		code := codes[0]
		if _, err := st.Pool().Exec(ctx, `UPDATE access_codes SET redemption_count = 4 WHERE id = $1`, code.ID); err != nil {
			t.Fatal(err)
		}
		users := make([]store.User, 10)
		for i := range users {
			users[i] = apitest.NewUser(t, st, fmt.Sprintf("racer%d-%d@example.com", round, i), store.NewUserPolicy{})
		}
		errs := apitest.Race(len(users), func(i int) error {
			_, err := st.RedeemAccessCode(ctx, as(users[i].ID), code.Code)
			return err
		})
		var won int
		for _, err := range errs {
			if err == nil {
				won++
			} else if apperr.CodeOf(err) != apperr.AccessCodeExhausted {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		var count, withAccess int
		_ = st.Pool().QueryRow(ctx, `SELECT redemption_count FROM access_codes WHERE id = $1`, code.ID).Scan(&count)
		_ = st.Pool().QueryRow(ctx, `SELECT count(*) FROM users WHERE email LIKE $1 AND has_product_access`,
			fmt.Sprintf("racer%d-%%", round)).Scan(&withAccess)
		if won != 1 || count != 5 || withAccess != 1 {
			t.Fatalf("round %d: %d winners, redemption_count %d, %d users with access; want 1, 5, 1", round, won, count, withAccess)
		}
	}
}

// TestAccessCodeStoreOneUserTwoCodesAtOnce: a user redeeming two codes at
// once consumes only one of them.
func TestAccessCodeStoreOneUserTwoCodesAtOnce(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{MaxConns: 8})
	ctx := context.Background()
	for round := range 5 {
		codes, err := st.CreateAccessCodes(ctx, store.CLIActor, store.NewAccessCodes{Count: 2, MaxRedemptions: 10})
		if err != nil {
			t.Fatal(err)
		}
		u := apitest.NewUser(t, st, fmt.Sprintf("twice%d@example.com", round), store.NewUserPolicy{})
		errs := apitest.Race(len(codes), func(i int) error {
			_, err := st.RedeemAccessCode(ctx, as(u.ID), codes[i].Code)
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Errorf("redeem: %v", err)
			}
		}
		var used int
		_ = st.Pool().QueryRow(ctx, `SELECT sum(redemption_count) FROM access_codes WHERE id = ANY($1)`,
			[]string{codes[0].ID.String(), codes[1].ID.String()}).Scan(&used)
		if used != 1 {
			t.Fatalf("round %d: %d redemptions consumed, want 1", round, used)
		}
	}
}
