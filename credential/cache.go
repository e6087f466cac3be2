package credential

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/go-azureml/secrets/internal/flight"
)

// RefreshMargin is how long before its expiry a cached token is replaced.
const RefreshMargin = 5 * time.Minute

// cache holds one token per scope set (and tenant, and CAE flag); concurrent
// misses for the same key share one request through singleflight. Errors are
// never cached.
type cache struct {
	fetch func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)
	now   func() time.Time
	group flight.Group[azcore.AccessToken]

	mu     sync.Mutex
	tokens map[string]azcore.AccessToken
}

func newCache(fetch func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error), now func() time.Time) *cache {
	if now == nil {
		now = time.Now
	}
	return &cache{fetch: fetch, now: now, tokens: map[string]azcore.AccessToken{}}
}

func cacheKey(o policy.TokenRequestOptions) string {
	return strings.Join(o.Scopes, " ") + "|" + o.TenantID + "|" + strconv.FormatBool(o.EnableCAE)
}

func (c *cache) fresh(tok azcore.AccessToken) bool {
	now := c.now()
	if !tok.RefreshOn.IsZero() && !now.Before(tok.RefreshOn) {
		return false
	}
	return now.Add(RefreshMargin).Before(tok.ExpiresOn)
}

// GetToken returns the cached token for opts or fetches one. A request that
// carries claims (a CAE challenge) always fetches, and its answer replaces
// the cached token.
func (c *cache) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	key := cacheKey(opts)
	if opts.Claims == "" {
		c.mu.Lock()
		tok, ok := c.tokens[key]
		c.mu.Unlock()
		if ok && c.fresh(tok) {
			return tok, nil
		}
	} else {
		key += "|claims:" + opts.Claims
	}
	return c.group.Do(ctx, key, func(ctx context.Context) (azcore.AccessToken, error) {
		tok, err := c.fetch(ctx, opts)
		if err == nil {
			c.mu.Lock()
			c.tokens[cacheKey(opts)] = tok
			c.mu.Unlock()
		}
		return tok, err
	})
}
