package keys

import (
	"context"
	"errors"
	"net/http"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultProbeEvery is how often a Transit keyring probes Vault's health
// when TransitOptions.ProbeEvery is zero.
const DefaultProbeEvery = 15 * time.Second

// Up reports whether Vault answered the last probe of its health or the
// last request verwerker made (a data key, an unwrap, a rotation): false
// from the moment a request fails for want of Vault (unreachable, sealed,
// standby without a leader, overloaded) until a probe or a request
// succeeds again.
func (t *Transit) Up() bool { return !t.down.Load() }

// Probe asks Vault's sys/health whether it is initialised, unsealed and
// serving, records the answer for Up and returns it: nil when Vault is up,
// an EUNAVAILABLE error otherwise.
func (t *Transit) Probe(ctx context.Context) error {
	h, err := t.client.Sys().HealthWithContext(ctx)
	switch {
	case err != nil:
	case !h.Initialized:
		err = errors.New("vault is not initialised")
	case h.Sealed:
		err = errors.New("vault is sealed")
	}
	if err != nil {
		t.down.Store(true)
		return unavailable("keys: vault health", t.retryAfter, err)
	}
	t.down.Store(false)
	return nil
}

// observe records the outcome of a request for Up: a success or a refusal
// (4xx) is Vault answering; a connection failure, 5xx or 429 is Vault
// unavailable.
func (t *Transit) observe(err error) {
	if err == nil {
		t.down.Store(false)
		return
	}
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500 {
		t.down.Store(true)
	}
}

// startProbe runs Probe every probeEvery until ctx ends.
func (t *Transit) startProbe(ctx context.Context) {
	every := t.probeEvery
	if every == 0 {
		every = DefaultProbeEvery
	}
	if every < 0 {
		return
	}
	t.done.Add(1)
	go func() {
		defer t.done.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			was := t.Up()
			pctx, cancel := context.WithTimeout(ctx, every)
			err := t.Probe(pctx)
			cancel()
			switch {
			case err != nil && was && ctx.Err() == nil:
				t.log.Warn("keys: vault does not answer; sealed records fail closed until it does", "error", err)
			case err == nil && !was:
				t.log.Info("keys: vault answers again")
			}
		}
	}()
}

// Metrics returns the gauge verwerker_vault_up: 1 while Up, 0 otherwise.
func (t *Transit) Metrics() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "verwerker_vault_up",
		Help: "1 when Vault (the Transit keyring) answered the last health probe or request, 0 when it did not: sealed records can then be neither written nor read (503 with Retry-After).",
	}, func() float64 {
		if t.Up() {
			return 1
		}
		return 0
	})
}
