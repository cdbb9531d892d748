package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const (
	requestKey ctxKey = iota
)

// requestInfo travels in the request context. The outer middleware creates
// it; the Huma middleware fills in the operation, so that the access log and
// the metrics can name it.
type requestInfo struct {
	id          string
	operationID string
	// operation is the Huma operation, once known: problems locate the
	// fields of domain errors in its parameters or body.
	operation *huma.Operation
	principal string
	cause     error
	// client is the client's address, for login throttling only.
	client string
	// tls is set when the connection is TLS.
	tls bool
}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestKey).(*requestInfo)
	return ri
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if ri := infoFrom(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// validRequestID accepts a caller's X-Request-Id only if it is short and
// plain, so that it cannot smuggle data into logs.
func validRequestID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// metrics are the Prometheus collectors of the HTTP layer.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "verwerker_http_requests_total",
			Help: "HTTP requests by operation, method and status code.",
		}, []string{"operation", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "verwerker_http_request_duration_seconds",
			Help:    "HTTP request latency by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe is the outermost middleware: it assigns the request id, recovers
// from panics, writes one access-log line (never bodies, query strings or
// headers) and records metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{id: r.Header.Get("X-Request-Id"), client: s.clientAddr(r), tls: r.TLS != nil}
		if !validRequestID(ri.id) {
			ri.id = newRequestID()
		}
		w.Header().Set("X-Request-Id", ri.id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestKey, ri))

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.Error("panic", "request_id", ri.id, "operation", ri.operationID, "panic", p)
				if sw.status == 0 {
					prob := newProblem(http.StatusInternalServerError, "").(*Problem)
					prob.Instance = instance(ri.id)
					writeJSON(w, http.StatusInternalServerError, "application/problem+json", prob)
				}
				sw.status = http.StatusInternalServerError
			}
			op := ri.operationID
			if op == "" {
				op = "other"
			}
			elapsed := time.Since(start)
			s.metrics.requests.WithLabelValues(op, r.Method, strconv.Itoa(sw.status)).Inc()
			s.metrics.duration.WithLabelValues(op, r.Method).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if sw.status >= 500 {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("request_id", ri.id),
				slog.String("method", r.Method),
				slog.String("operation", op),
				slog.Int("status", sw.status),
				slog.Int("bytes", sw.bytes),
				slog.Duration("duration", elapsed),
			}
			if ri.principal != "" {
				attrs = append(attrs, slog.String("principal", ri.principal))
			}
			if ri.cause != nil {
				// Causes are verwerker errors and driver errors; they carry
				// ids and SQL states, never request bodies.
				attrs = append(attrs, slog.String("error", ri.cause.Error()))
			}
			s.logger.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// operationMiddleware is the first Huma middleware: it records which
// operation is running.
func (s *Server) operationMiddleware(ctx huma.Context, next func(huma.Context)) {
	if ri := infoFrom(ctx.Context()); ri != nil {
		ri.operation = ctx.Operation()
		ri.operationID = ri.operation.OperationID
	}
	next(ctx)
}

func instance(requestID string) string {
	if requestID == "" {
		return ""
	}
	return "urn:verwerker:request:" + requestID
}

// clientAddr is the client's address: the connection's peer, or, when the
// peer is a trusted proxy, the right-most address in X-Forwarded-For that
// is not a trusted proxy. Addresses left of it were written by the client
// itself and could be anything, so they are never used. When every hop is
// trusted, the left-most is the client; an entry that is not an address
// stops the walk at the trusted hop that reported it.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	client := peer.Unmap().WithZone("")
	if !s.trustedProxy(client) {
		return client.String()
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop, ok := parseHop(hops[j])
			if !ok {
				return client.String()
			}
			client = hop
			if !s.trustedProxy(hop) {
				return hop.String()
			}
		}
	}
	return client.String()
}

// ClientAddr is the client's address as the API sees it, behind the
// trusted proxies of Config.TrustedProxies: for the dashboard's sign-in
// throttling.
func (s *Server) ClientAddr(r *http.Request) string { return s.clientAddr(r) }

// parseHop parses one X-Forwarded-For entry: an IP address, possibly with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes
// ("10.0.0.0/8, 2001:db8::/32"); a bare address stands for itself alone.
// Empty means none.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if a, err := netip.ParseAddr(item); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR prefix", item)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
