package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/verwerker/verwerker/store"
)

// Cluster is a private PostgreSQL server for one test: a cluster of the
// machine's PostgreSQL binaries (store.StartCluster, as `verwerker dev`
// makes) in a temporary directory, listening on a free loopback port, with
// one migrated database. Unlike the shared server of New, the test may
// restart it (Restart) or stop it for a while (StopServer, StartServer).
type Cluster struct {
	*store.Cluster
}

// NewCluster starts a private cluster and migrates its database; both are
// deleted when the test ends. Starting one costs about a second or two,
// migrating a few more: use New unless the test restarts the server.
func NewCluster(tb testing.TB) Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := store.StartCluster(ctx, store.ClusterOptions{Loopback: true})
	if err != nil {
		tb.Fatalf("storetest: cluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("storetest: stop cluster: %v", err)
		}
	})
	db, err := store.Open(ctx, c.URL(), store.Options{MaxConns: 2})
	if err != nil {
		tb.Fatalf("storetest: cluster: %v", err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		tb.Fatalf("storetest: migrate the cluster's database: %v", err)
	}
	return Cluster{c}
}

// Restart restarts the server with a fast shutdown (every session ends,
// transactions in flight roll back) and waits until it accepts connections
// again, failing the test if it does not.
func (c Cluster) Restart(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Cluster.Restart(ctx); err != nil {
		tb.Fatalf("storetest: restart: %v", err)
	}
}
