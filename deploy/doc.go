// Package deploy holds no code of the server: it is the home of the
// deployment files (Kubernetes manifests in k8s/, the Prometheus alert rules
// and the Grafana dashboard, the scripts that start PostgreSQL, mailpit and
// Vault for development) and of the tests that validate them.
//
// The manifests carry the security of processing into the cluster (GDPR
// Art. 32: non-root, read-only containers, secrets by reference, keys in
// Vault) and the alert rules make what must never be silent page someone:
// overdue data-subject requests (Art. 12(3)), breach notices within 48 hours
// of discovery (Art. 33(2), the processor agreement), overdue deletions
// (Art. 28(3)(g)), undelivered subprocessor notices (Art. 28(2)) and audit
// failures (Art. 28(3)(h)).
package deploy
