package apperr_test

import (
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

func TestRetryLater(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want time.Duration
		msg  string
	}{
		{1200 * time.Millisecond, 2 * time.Second, "Too many requests; retry after 2s."},
		{300 * time.Millisecond, time.Second, "Too many requests; retry after 1s."},
		{0, time.Second, "Too many requests; retry after 1s."},
		{59 * time.Second, 59 * time.Second, "Too many requests; retry after 59s."},
	} {
		e := apperr.RetryLater(apperr.RateLimited, "Too many requests", c.d)
		if e.Code != apperr.RateLimited || e.RetryAfter != c.want || e.Message != c.msg {
			t.Errorf("RetryLater(%v) = %+v, want RetryAfter %v and %q", c.d, e, c.want, c.msg)
		}
	}
}
