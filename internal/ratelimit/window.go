package ratelimit

import "time"

// windows counts events per key in consecutive fixed windows of one
// length, keeping the counts of the latest window counted in and of the
// one before: the counter of httprate's sliding window (its
// LocalLimitCounter), with the same answers, built so that the common case
// (a key already counted in this window) is one map look-up.
//
// Keys are 64-bit hashes of the caller's keys (as httprate keeps them);
// Local hashes with a seed of its own, so that nobody can pick keys that
// collide. It is not safe for concurrent use: Local locks around it.
type windows struct {
	length int64 // nanoseconds
	// aligned: a day is a whole number of windows, so windows counted
	// from the Unix epoch are those time.Truncate counts from the zero
	// time (the two are a whole number of days apart).
	aligned bool
	// start is the latest window counted in (Unix nanoseconds); valid is
	// false until the first event.
	start int64
	valid bool
	// cur has a slot for each key counted in window start, prev for each
	// key counted in the window before (some of them moved on to cur
	// since, and read there).
	cur, prev map[uint64]*slot
}

// slot is one key's counts: n in the window of the map that holds it, p in
// the window before (read only through cur).
type slot struct{ n, p int }

func newWindows(length time.Duration) *windows {
	return &windows{length: int64(length), aligned: (24*time.Hour)%length == 0,
		cur: map[uint64]*slot{}, prev: map[uint64]*slot{}}
}

// windowOf is the start of the window now falls in, in Unix nanoseconds:
// now truncated to a multiple of the length since the zero time, as
// time.Truncate rounds.
func (w *windows) windowOf(now time.Time) int64 {
	if !w.aligned {
		return now.Truncate(time.Duration(w.length)).UnixNano()
	}
	n := now.UnixNano()
	r := n % w.length
	if r < 0 {
		r += w.length
	}
	return n - r
}

// get returns key's counts in window at and in the window before, and its
// slot when it has one in window at (add counts there directly). It
// changes nothing.
func (w *windows) get(key uint64, at int64) (c, p int, s *slot) {
	if !w.valid {
		return 0, 0, nil
	}
	switch w.start {
	case at:
		if s := w.cur[key]; s != nil {
			return s.n, s.p, s
		}
		if s := w.prev[key]; s != nil {
			return 0, s.n, nil
		}
	case at - w.length:
		// Nothing has been counted in window at yet.
		if s := w.cur[key]; s != nil {
			return 0, s.n, nil
		}
	}
	// Window start is older than the one before at (nothing counted
	// since), or later than at (the clock went back): httprate answers
	// nothing counted.
	return 0, 0, nil
}

// add counts one event under key in window at; s is what get returned for
// the same key and window with nothing counted in between.
func (w *windows) add(key uint64, at int64, s *slot) {
	if s != nil {
		s.n++
		return
	}
	switch {
	case w.valid && w.start == at:
	case w.valid && w.start == at-w.length:
		// A new window: this one's counts become the previous ones. A
		// new map rather than a cleared one, which would keep the size
		// of a burst of keys (many client IPs) for good.
		w.cur, w.prev = map[uint64]*slot{}, w.cur
		w.start = at
	default:
		// A window or more went by without events, or the clock went
		// back: httprate forgets every count.
		w.cur, w.prev = map[uint64]*slot{}, map[uint64]*slot{}
		w.start, w.valid = at, true
	}
	s = w.cur[key]
	if s == nil {
		if s = w.prev[key]; s != nil {
			s.n, s.p = 0, s.n
		} else {
			s = &slot{}
		}
		w.cur[key] = s
	}
	s.n++
}
