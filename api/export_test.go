package api

// FastDecisions counts the decisions the fast path answered itself.
func (s *Server) FastDecisions() int64 { return s.fastDecisions.Load() }
