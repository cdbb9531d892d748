package dsr

import (
	"sync"
	"time"

	"github.com/verwerker/verwerker"
)

// Limits are the public intake's rate limits: at most PerAddress
// submissions per client address and PerEmail per e-mail address within
// Window. They are kept per replica, in memory.
type Limits struct {
	PerAddress, PerEmail int
	Window               time.Duration
}

// DefaultLimits: 5 per address and 3 per e-mail address an hour.
var DefaultLimits = Limits{PerAddress: 5, PerEmail: 3, Window: time.Hour}

type limiter struct {
	clock  verwerker.Clock
	limits Limits
	mu     sync.Mutex
	hits   map[string][]time.Time
}

func newLimiter(clock verwerker.Clock, l Limits) *limiter {
	return &limiter{clock: clock, limits: l, hits: map[string][]time.Time{}}
}

// allow counts a submission from addr for email, or returns ETHROTTLED with
// when to try again. A refused submission is not counted.
func (l *limiter) allow(addr, email string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	keys := []struct {
		key string
		max int
	}{{"a:" + addr, l.limits.PerAddress}, {"e:" + email, l.limits.PerEmail}}
	var wait time.Duration
	for _, k := range keys {
		list := l.hits[k.key]
		i := 0
		for i < len(list) && now.Sub(list[i]) >= l.limits.Window {
			i++
		}
		list = list[i:]
		l.hits[k.key] = list
		if len(list) >= k.max {
			wait = max(wait, l.limits.Window-now.Sub(list[0]))
		}
	}
	if wait > 0 {
		return &verwerker.Error{Code: verwerker.ETHROTTLED, Message: "too many requests; try again later", RetryAfter: wait.Round(time.Second) + time.Second}
	}
	for _, k := range keys {
		l.hits[k.key] = append(l.hits[k.key], now)
	}
	if len(l.hits) > 100000 {
		// Bounded memory under a flood: forget the oldest window.
		l.hits = map[string][]time.Time{}
	}
	return nil
}
