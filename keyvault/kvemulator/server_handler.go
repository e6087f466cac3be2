package kvemulator

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Route names, as Stats.ByRoute reports them: the REST API's operation names.
const (
	RouteSetSecret            = "SetSecret"
	RouteGetSecret            = "GetSecret"
	RouteUpdateSecret         = "UpdateSecret"
	RouteDeleteSecret         = "DeleteSecret"
	RouteGetSecrets           = "GetSecrets"
	RouteGetSecretVersions    = "GetSecretVersions"
	RouteGetDeletedSecrets    = "GetDeletedSecrets"
	RouteGetDeletedSecret     = "GetDeletedSecret"
	RoutePurgeDeletedSecret   = "PurgeDeletedSecret"
	RouteRecoverDeletedSecret = "RecoverDeletedSecret"
	RouteBackupSecret         = "BackupSecret"
	RouteRestoreSecret        = "RestoreSecret"
	RouteUnknown              = "Unknown"
)

const (
	defaultMaxResults = 25
	maxMaxResults     = 25
)

// route is a request matched against the REST surface.
type route struct {
	name    string // one of the Route constants
	secret  string // raw (unescaped) secret name, "" if none
	version string
	allowed string // for a known path with a wrong method: the allowed methods
}

// match maps method and escaped path to a route.
func match(method, escapedPath string) route {
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	for i, seg := range segs {
		u, err := pathUnescape(seg)
		if err != nil {
			return route{name: RouteUnknown}
		}
		segs[i] = u
	}
	is := func(i int, lit string) bool { return strings.EqualFold(segs[i], lit) }
	pick := func(r route, methods map[string]string) route {
		if n, ok := methods[method]; ok {
			r.name = n
			return r
		}
		allowed := make([]string, 0, len(methods))
		for _, m := range []string{"GET", "PUT", "PATCH", "POST", "DELETE"} {
			if _, ok := methods[m]; ok {
				allowed = append(allowed, m)
			}
		}
		r.name, r.allowed = RouteUnknown, strings.Join(allowed, ", ")
		return r
	}
	switch {
	case len(segs) == 1 && is(0, "secrets"), len(segs) == 2 && is(0, "secrets") && segs[1] == "":
		return pick(route{}, map[string]string{"GET": RouteGetSecrets})
	case len(segs) == 2 && is(0, "secrets") && is(1, "restore"):
		return pick(route{}, map[string]string{"POST": RouteRestoreSecret})
	case len(segs) == 2 && is(0, "secrets"):
		return pick(route{secret: segs[1]}, map[string]string{
			"PUT": RouteSetSecret, "GET": RouteGetSecret, "PATCH": RouteUpdateSecret, "DELETE": RouteDeleteSecret})
	case len(segs) == 3 && is(0, "secrets") && segs[1] != "" && is(2, "versions"):
		return pick(route{secret: segs[1]}, map[string]string{"GET": RouteGetSecretVersions})
	case len(segs) == 3 && is(0, "secrets") && segs[1] != "" && is(2, "backup"):
		return pick(route{secret: segs[1]}, map[string]string{"POST": RouteBackupSecret})
	case len(segs) == 3 && is(0, "secrets") && segs[1] != "" && segs[2] == "":
		return pick(route{secret: segs[1]}, map[string]string{
			"PUT": RouteSetSecret, "GET": RouteGetSecret, "PATCH": RouteUpdateSecret})
	case len(segs) == 3 && is(0, "secrets") && segs[1] != "":
		return pick(route{secret: segs[1], version: segs[2]}, map[string]string{
			"GET": RouteGetSecret, "PATCH": RouteUpdateSecret})
	case len(segs) == 1 && is(0, "deletedsecrets"), len(segs) == 2 && is(0, "deletedsecrets") && segs[1] == "":
		return pick(route{}, map[string]string{"GET": RouteGetDeletedSecrets})
	case len(segs) == 2 && is(0, "deletedsecrets"):
		return pick(route{secret: segs[1]}, map[string]string{
			"GET": RouteGetDeletedSecret, "DELETE": RoutePurgeDeletedSecret})
	case len(segs) == 3 && is(0, "deletedsecrets") && segs[1] != "" && is(2, "recover"):
		return pick(route{secret: segs[1]}, map[string]string{"POST": RouteRecoverDeletedSecret})
	}
	return route{name: RouteUnknown}
}

func pathUnescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	return url.PathUnescape(s)
}

// response is what a handler answers; serveHTTP writes it.
type response struct {
	status int
	body   any // marshalled as JSON; nil for no body
	header http.Header
}

func errorResponse(e *apiError) response {
	type inner struct {
		Code string `json:"code"`
	}
	type body struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *inner `json:"innererror,omitempty"`
	}
	b := body{Code: e.code, Message: e.msg}
	if e.inner != "" {
		b.InnerError = &inner{e.inner}
	}
	return response{status: e.status, body: map[string]any{"error": b}}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()

	rt := match(effectiveMethod(r), r.URL.EscapedPath())

	if d := s.latency(); d > 0 {
		if h := s.latencyHook.Load(); h != nil {
			(*h)()
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			panic(http.ErrAbortHandler) // the client is gone
		case <-s.closing:
			t.Stop()
			panic(http.ErrAbortHandler) // close the connection unanswered
		}
	}

	// Authentication comes first and is answered before the body is read.
	if !s.authorized(r) {
		msg := "AKV10000: Request is missing a Bearer or PoP token."
		if r.Header.Get("Authorization") != "" {
			msg = "AKV10032: Invalid issuer or token."
		}
		resp := errorResponse(&apiError{401, "Unauthorized", "", msg})
		resp.header = http.Header{"Www-Authenticate": {fmt.Sprintf(
			`Bearer authorization="https://login.microsoftonline.com/%s", resource="%s"`, s.opts.TenantID, ChallengeResource)}}
		s.record(rt.name, 401, func(st *Stats) { st.Challenges++ })
		s.write(w, resp, false)
		return
	}

	// Bodies are bounded: one announced too large is refused unread.
	limit := s.opts.MaxBodyBytes
	if rt.name == RouteRestoreSecret {
		limit *= 4
	}
	if r.ContentLength > limit {
		resp := errorResponse(tooLarge(limit))
		resp.header = http.Header{"Connection": {"close"}}
		s.record(rt.name, http.StatusRequestEntityTooLarge, nil)
		s.write(w, resp, false)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)

	if throttled, retryAfter := s.throttle(); throttled {
		resp := errorResponse(&apiError{429, "Throttled",
			"", "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"})
		if retryAfter != "" {
			resp.header = http.Header{"Retry-After": {retryAfter}}
		}
		s.record(rt.name, 429, func(st *Stats) { st.Throttled++ })
		s.write(w, resp, false)
		return
	}

	f, status := s.nextFault()
	switch f {
	case faultDrop:
		s.record(rt.name, 0, func(st *Stats) { st.Dropped++ })
		panic(http.ErrAbortHandler) // closes the connection without a response
	case faultError:
		resp := errorResponse(&apiError{status, faultCode(status), "", "Injected fault."})
		s.record(rt.name, status, func(st *Stats) { st.Faults++ })
		s.write(w, resp, false)
		return
	}

	resp := s.handle(r, rt)
	if f == faultTruncate {
		s.record(rt.name, resp.status, func(st *Stats) { st.Truncated++ })
		s.write(w, resp, true)
		return
	}
	s.record(rt.name, resp.status, nil)
	s.write(w, resp, false)
}

func faultCode(status int) string {
	switch status {
	case 500:
		return "InternalServerError"
	case 502:
		return "BadGateway"
	case 503:
		return "ServiceUnavailable"
	case 504:
		return "GatewayTimeout"
	case 429:
		return "Throttled"
	case 408:
		return "RequestTimeout"
	}
	return strings.ReplaceAll(http.StatusText(status), " ", "")
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimSpace(tok)
	if _, ok := s.accepted.Load(tok); ok && tok != "" {
		return true
	}
	if s.opts.AcceptAnyToken {
		return tok != "" && !strings.ContainsAny(tok, " \t")
	}
	return tok == s.token
}

// Response headers every answer carries; their value slices are shared,
// never modified.
var (
	hdrNoCache     = []string{"no-cache"}
	hdrVersion     = []string{"kvemulator"}
	hdrJSON        = []string{"application/json; charset=utf-8"}
	hdrCloseConn   = []string{"close"}
	encodeFailBody = []byte(`{"error":{"code":"InternalServerError","message":"encoding failed"}}`)
)

func (s *Server) write(w http.ResponseWriter, resp response, truncate bool) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h["Cache-Control"] = hdrNoCache
	h["X-Ms-Keyvault-Service-Version"] = hdrVersion
	h["X-Ms-Request-Id"] = []string{requestID()}
	var body []byte
	switch b := resp.body.(type) {
	case nil:
	case jsonAppender:
		bp := bodyPool.Get().(*[]byte)
		body = b.appendJSON((*bp)[:0])
		defer func() {
			if cap(body) <= maxPooledBody {
				*bp = body[:0]
				bodyPool.Put(bp)
			}
		}()
	default:
		var err error
		if body, err = json.Marshal(resp.body); err != nil {
			resp.status, body = 500, encodeFailBody
		}
	}
	if resp.body != nil {
		h["Content-Type"] = hdrJSON
	}
	if truncate {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		h["Connection"] = hdrCloseConn
		w.WriteHeader(resp.status)
		_, _ = w.Write(body[:len(body)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler) // close the connection mid-body
	}
	if resp.status != http.StatusNoContent {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(body)
}

// requestID is a random request ID in the GUID form Key Vault uses.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	var x [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			x[j] = '-'
			j++
		}
		x[j], x[j+1] = hexDigits[c>>4], hexDigits[c&0xF]
		j += 2
	}
	return string(x[:])
}

// effectiveMethod is the request's method after Key Vault's documented
// override: a POST with an X-HTTP-REQUEST header naming DELETE, PATCH or PUT
// is served as that method, for clients that cannot send them.
func effectiveMethod(r *http.Request) string {
	if r.Method != http.MethodPost {
		return r.Method
	}
	switch m := strings.ToUpper(strings.TrimSpace(r.Header.Get("X-HTTP-REQUEST"))); m {
	case http.MethodDelete, http.MethodPatch, http.MethodPut:
		return m
	}
	return r.Method
}

// LatestAPIVersion is the newest api-version the emulator speaks, the default
// of azsecrets v1.5.1; Key Vault names it when it refuses a version.
const LatestAPIVersion = "2026-04-01"

// apiVersions are the secrets api-versions Key Vault has published, stable and
// preview, which the Go, Python and JavaScript SDKs send. The emulator speaks
// the same wire protocol for all of them.
var apiVersions = map[string]bool{
	"2015-06-01": true, "2016-10-01": true,
	"7.0-preview": true, "7.0": true, "7.1-preview": true, "7.1": true,
	"7.2-preview": true, "7.2": true, "7.3-preview": true, "7.3": true,
	"7.4-preview.1": true, "7.4": true, "7.5-preview.1": true, "7.5": true,
	"7.6-preview.1": true, "7.6-preview.2": true, "7.6": true, "7.7-preview.1": true,
	"2025-06-01-preview": true, "2025-07-01": true, LatestAPIVersion: true,
}

// checkAPIVersion answers Key Vault's errors for a missing or unknown api-version.
func checkAPIVersion(v string) *apiError {
	if v == "" {
		return badParameter("The api-version query parameter (?api-version=) is required for all requests.")
	}
	if apiVersions[v] {
		return nil
	}
	return badParameter(fmt.Sprintf("The specified version (%s) is not recognized. Consider using the latest supported version (%s).", bounded(v, 64), LatestAPIVersion))
}

// bounded cuts client text quoted in an error to at most n bytes (on a rune
// boundary); JSON encoding escapes the rest.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// Key Vault's documented limits on secret attributes.
const (
	maxTags           = 15
	maxTagNameLen     = 512
	maxTagValueLen    = 512
	maxContentTypeLen = 255
)

// checkLimits enforces the limits on tags and contentType for a set or an update.
func checkLimits(contentType *string, tags map[string]string) *apiError {
	if contentType != nil && utf8.RuneCountInString(*contentType) > maxContentTypeLen {
		return badParameter(fmt.Sprintf("Property contentType is too long: the maximum is %d characters.", maxContentTypeLen))
	}
	if len(tags) > maxTags {
		return badParameter(fmt.Sprintf("Too many tags: the maximum is %d.", maxTags))
	}
	for k, v := range tags {
		if utf8.RuneCountInString(k) > maxTagNameLen {
			return badParameter(fmt.Sprintf("A tag name is too long: the maximum is %d characters.", maxTagNameLen))
		}
		if utf8.RuneCountInString(v) > maxTagValueLen {
			return badParameter(fmt.Sprintf("The value of tag %s is too long: the maximum is %d characters.", bounded(k, 64), maxTagValueLen))
		}
	}
	return nil
}

func tooLarge(limit int64) *apiError {
	return &apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "",
		fmt.Sprintf("The request body is too large: the maximum is %d bytes.", limit)}
}

// malformedBackup is Key Vault's answer to a restore of a blob it cannot read.
func malformedBackup() *apiError {
	return &apiError{400, "Malformed backup blob", "", "Backup blob contains invalid or corrupt version."}
}

// handle serves an authenticated, unthrottled, unfaulted request.
func (s *Server) handle(r *http.Request, rt route) response {
	if rt.name == RouteUnknown {
		if rt.allowed != "" {
			resp := errorResponse(&apiError{405, "MethodNotAllowed", "",
				fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method)})
			resp.header = http.Header{"Allow": {rt.allowed}}
			return resp
		}
		return errorResponse(&apiError{404, "NotFound", "", "The requested resource was not found: " + r.URL.Path})
	}
	q := r.URL.Query()
	if ae := checkAPIVersion(q.Get("api-version")); ae != nil {
		return errorResponse(ae)
	}
	if rt.secret != "" && !validName(rt.secret) {
		return errorResponse(badName(rt.secret))
	}
	host := r.Host
	now := s.now()
	var (
		out any
		err error
	)
	switch rt.name {
	case RouteSetSecret:
		var p setParams
		if err = decodeBody(r, &p); err == nil {
			switch {
			case p.Value == nil:
				err = badParameter("Property value is required.")
			case len(*p.Value) > MaxValueBytes:
				err = badParameter(fmt.Sprintf("Secret value is too large: the maximum is %d bytes.", MaxValueBytes))
			default:
				if ae := checkLimits(p.ContentType, p.Tags); ae != nil {
					err = ae
					break
				}
				out, err = s.store.set(rt.secret, &p, now, host)
			}
		}
	case RouteGetSecret:
		out, err = s.store.get(rt.secret, rt.version, now, host)
	case RouteUpdateSecret:
		var p updateParams
		if err = decodeBody(r, &p); err == nil {
			if ae := checkLimits(p.ContentType, p.Tags); ae != nil {
				err = ae
				break
			}
			out, err = s.store.update(rt.secret, rt.version, &p, now, host)
		}
	case RouteDeleteSecret:
		out, err = s.store.delete(rt.secret, now, host)
	case RouteGetDeletedSecret:
		out, err = s.store.getDeleted(rt.secret, now, host)
	case RoutePurgeDeletedSecret:
		if err = s.store.purge(rt.secret, now); err == nil {
			return response{status: http.StatusNoContent}
		}
	case RouteRecoverDeletedSecret:
		out, err = s.store.recover(rt.secret, now, host)
	case RouteBackupSecret:
		var blob []byte
		if blob, err = s.store.backup(rt.secret, now); err == nil {
			out = map[string]string{"value": encodeBlob(blob)}
		}
	case RouteRestoreSecret:
		var p struct {
			Value *string `json:"value"`
		}
		if err = decodeBody(r, &p); err == nil {
			var blob []byte
			if p.Value == nil {
				err = badParameter("Property value is required.")
			} else if blob, err = decodeBlob(*p.Value); err != nil {
				err = malformedBackup()
			} else {
				out, err = s.store.restore(blob, now, host)
			}
		}
	case RouteGetSecrets, RouteGetDeletedSecrets, RouteGetSecretVersions:
		out, err = s.page(q, rt, now, host)
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{500, "InternalServerError", "", "Internal error."}
		}
		return errorResponse(ae)
	}
	return response{status: http.StatusOK, body: out}
}

// decodeBody reads a JSON request body into v, answering BadParameter for an
// empty, oversized or malformed body. Error messages never quote the body.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body) // bounded by serveHTTP's MaxBytesReader
	if err != nil {
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge(mbe.Limit)
		}
		return badParameter("The request body could not be read.")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return badParameter("The request body is required.")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badParameter(fmt.Sprintf("Invalid type for property %s.", te.Field))
		}
		return badParameter("The request body is not valid JSON.")
	}
	return nil
}

// page answers a listing: maxresults 1..25 (default 25), and a nextLink with
// api-version, $skiptoken (the key of the next item, base64url) and maxresults.
func (s *Server) page(q url.Values, rt route, now time.Time, host string) (listJSON, error) {
	maxResults := defaultMaxResults
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxMaxResults {
			return listJSON{}, badParameter(fmt.Sprintf("Invalid value for maxresults: it must be between 1 and %d.", maxMaxResults))
		}
		maxResults = n
	}
	start := ""
	if v := q.Get("$skiptoken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return listJSON{}, badParameter("Invalid $skiptoken.")
		}
		start = string(b)
	}
	items, nextKey := s.store.listPage(rt.name, rt.secret, start, maxResults, now, host)
	out := listJSON{Value: items}
	if nextKey != "" {
		next := nextLink(host, rt, q.Get("api-version"), nextKey, maxResults)
		out.NextLink = &next
	}
	return out, nil
}

// nextLink is a list page's link to the next one:
// https://HOST/PATH?api-version=V&$skiptoken=T&maxresults=N, where T is the
// next item's key in base64url.
func nextLink(host string, rt route, apiVersion, nextKey string, maxResults int) string {
	b := make([]byte, 0, 64+len(host)+len(rt.secret)+len(apiVersion)+base64.RawURLEncoding.EncodedLen(len(nextKey)))
	b = append(b, "https://"...)
	b = append(b, host...)
	switch rt.name {
	case RouteGetDeletedSecrets:
		b = append(b, "/deletedsecrets"...)
	case RouteGetSecretVersions:
		b = append(b, "/secrets/"...)
		b = append(b, rt.secret...)
		b = append(b, "/versions"...)
	default:
		b = append(b, "/secrets"...)
	}
	b = append(b, "?api-version="...)
	b = append(b, url.QueryEscape(apiVersion)...)
	b = append(b, "&$skiptoken="...)
	b = base64.RawURLEncoding.AppendEncode(b, []byte(nextKey))
	b = append(b, "&maxresults="...)
	b = strconv.AppendInt(b, int64(maxResults), 10)
	return string(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
