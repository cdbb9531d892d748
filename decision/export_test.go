package decision

// Cached returns the decision_state version of the tenant's cached table,
// or -1 when none is cached: for tests of the cache.
func (s *Service) Cached(tenantID string) int64 {
	if t := s.tenants.lookup(tenantID); t != nil {
		if tb := t.table.Load(); tb != nil {
			return tb.Version()
		}
	}
	return -1
}
