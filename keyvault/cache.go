package keyvault

import (
	"context"
	"errors"
	"hash/maphash"
	"iter"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-azureml/secrets/internal/flight"
)

// Cache defaults.
const (
	// DefaultCacheTTL is how long a cached secret is served before it is
	// fetched again, when CacheOptions.TTL is 0.
	DefaultCacheTTL = 5 * time.Minute
	// DefaultCacheMaxEntries bounds the cache when CacheOptions.MaxEntries
	// is 0.
	DefaultCacheMaxEntries = 10000
	// DefaultCacheJitter is the fraction of the TTL by which each entry's
	// lifetime is shortened at random when CacheOptions.Jitter is 0, so that
	// many processes that read a secret at the same moment do not all
	// refresh it at the same moment.
	DefaultCacheJitter = 0.1
	// staleRecheck is the least time a stale value is served after a failed
	// refresh before the next refresh is tried (longer when the vault's
	// Retry-After says so).
	staleRecheck = 10 * time.Second
)

// CacheOptions configure the in-memory cache of a Keyvault. A nil
// *CacheOptions in Options means the defaults: on, DefaultCacheTTL,
// DefaultCacheMaxEntries, DefaultCacheJitter.
//
// The cache holds the latest version of each secret read with GetSecret,
// GetSecrets or GetSecretVersion(ctx, name, ""). A hit costs no request. An
// entry past its TTL is fetched again on the next read (one request per name
// however many goroutines ask); if that refresh fails because the vault
// throttles (ErrThrottled) or is unavailable (ErrUnavailable), the last good
// value is served instead, OnStale is called, and the refresh is tried again
// no sooner than the vault's Retry-After (at least 10 s). Any other failure
// (ErrNotFound, ErrPermission, ...) drops the entry and is returned.
// SetSecret(s) replace the entry with the value just stored; DeleteSecret(s),
// UpdateSecretProperties, RecoverSecret and PurgeSecret drop it.
//
// The cache honours a secret's time bounds: an entry never outlives the
// version's Expires (it is fetched again at that moment, by the clock, and a
// value past its Expires is never served as a stale fallback either), and
// an entry of a version whose NotBefore is ahead lasts only until then. Key
// Vault itself serves a secret past its Expires or before its NotBefore as
// any other (for secrets the bounds are informational), and so does the
// Keyvault: the value comes back with the bounds in its Properties, fetched
// from the vault rather than the cache, for the caller to act on.
//
// Values in the cache are held as Value and never shown by fmt, logs or
// Keyvault's String.
type CacheOptions struct {
	// Disabled turns the cache off: every read is a request.
	Disabled bool
	// TTL is how long a value is served from memory; 0 means
	// DefaultCacheTTL.
	TTL time.Duration
	// MaxEntries bounds the number of cached secrets; 0 means
	// DefaultCacheMaxEntries. When full, an old entry (the oldest of a few
	// sampled at random) is evicted.
	MaxEntries int
	// Jitter is the fraction (0..1) of the TTL by which each entry's life is
	// shortened at random; 0 means DefaultCacheJitter, a negative value
	// means none.
	Jitter float64
	// OnStale, when set, is called (from the reading goroutine) each time a
	// stale value is served because a refresh failed; err is that failure.
	// It never receives the value.
	OnStale func(name string, err error)
	// Clock is the time source of entry lifetimes; nil means the real
	// clock. Keyvault's Options.Clock fills it.
	Clock Clock
}

// Clock is the time source of a Keyvault's cache and retries, injectable so
// that tests need not wait on the wall clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d, or until ctx ends, in which case it returns
	// ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CacheStore is the cache layer: a Store that keeps the latest version of
// each secret read through it in memory (see CacheOptions) and shares one
// request among the goroutines that read one name at once, in any letter
// case, each bounded by its own context. keyvault.New puts it over the
// retry layer; it can also be used alone. With CacheOptions.Disabled it
// caches nothing but still shares requests. Like RetryStore it has every
// optional ability; one the store beneath lacks returns an error wrapping
// errors.ErrUnsupported.
type CacheStore struct {
	next  Store
	c     *cache // nil when disabled
	clock Clock
	group flight.Group[Secret]
}

var _ Store = (*CacheStore)(nil)

// NewCacheStore returns the cache layer over next. opts nil means defaults.
func NewCacheStore(next Store, opts *CacheOptions) *CacheStore {
	var co CacheOptions
	if opts != nil {
		co = *opts
	}
	clock := co.Clock
	if clock == nil {
		clock = realClock{}
	}
	_, real := clock.(realClock)
	return &CacheStore{next: next, c: newCache(&co, real), clock: clock}
}

// Unwrap returns the Store beneath.
func (s *CacheStore) Unwrap() Store { return s.next }

// String names the store beneath; it never shows a cached value.
func (s *CacheStore) String() string { return storeString(s.next) }

// hit returns the fresh cached latest version of name, without a request or
// an allocation.
func (s *CacheStore) hit(name string) (Secret, bool) {
	if s.c == nil {
		return Secret{}, false
	}
	if e := s.c.get(name); e != nil && s.c.fresh(e, s.clock) {
		return e.secret, true
	}
	return Secret{}, false
}

// GetSecret returns the latest version from the cache when it holds a fresh
// one, else from the store beneath (one request per name at a time); a
// stale entry is served when the refresh is throttled or the vault is
// unavailable. A named version is always read from the store beneath.
func (s *CacheStore) GetSecret(ctx context.Context, name, version string) (Secret, error) {
	if version != "" {
		return s.next.GetSecret(ctx, name, version)
	}
	if err := ctx.Err(); err != nil {
		return Secret{}, err
	}
	c := s.c
	var old *cacheEntry
	if c != nil {
		old = c.get(name)
		if old != nil && c.fresh(old, s.clock) {
			return old.secret.clone(), nil
		}
	}
	key := NameKey(name)
	fctx := ctx
	if old != nil {
		// A stale value is at hand: serve it at once if the vault is
		// throttling rather than keep this caller waiting on retries.
		fctx = withoutRetries(ctx)
	}
	sec, err := s.fetchShared(fctx, key, name)
	if err == nil {
		return sec.clone(), nil // the cache and the other sharers hold it too
	}
	if c != nil {
		switch {
		case old != nil && serveStale(err) && ctx.Err() == nil && !expiredAt(old.secret, s.clock.Now()):
			wait := max(retryAfterOf(err), staleRecheck)
			now := s.clock.Now()
			c.postpone(key, old, now, now.Add(wait))
			if c.onStale != nil {
				c.onStale(name, wrap(ctx, "get secret", name, err))
			}
			return old.secret.clone(), nil
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrPermission):
			c.drop(key)
		}
	}
	return Secret{}, err
}

// Refresh reads the latest version of name from the store beneath, whatever
// the cache holds, and caches it. A failure leaves the cache as it was, but
// for ErrNotFound and ErrPermission, which drop the entry.
func (s *CacheStore) Refresh(ctx context.Context, name string) (Secret, error) {
	key := NameKey(name)
	s.group.Forget(key)
	sec, err := s.fetchShared(ctx, key, name)
	if err != nil && (errors.Is(err, ErrNotFound) || errors.Is(err, ErrPermission)) {
		s.forget(name)
	}
	return sec.clone(), err
}

// Invalidate drops the named secrets from the cache, or every cached secret
// when no name is given, so that the next read of each asks the store.
func (s *CacheStore) Invalidate(names ...string) {
	if s.c != nil && len(names) == 0 {
		s.c.drop()
		return
	}
	s.forget(names...)
}

// fetchShared reads the latest version of name from the store beneath,
// sharing one request among all the goroutines that ask for key at once.
func (s *CacheStore) fetchShared(ctx context.Context, key, name string) (Secret, error) {
	return s.group.Do(ctx, key, func(ctx context.Context) (Secret, error) {
		var writes uint64
		if s.c != nil {
			writes = s.c.writes.Load()
		}
		sec, err := s.next.GetSecret(ctx, name, "")
		if err != nil {
			return Secret{}, err
		}
		if s.c != nil {
			s.c.put(key, sec, s.clock.Now(), writes)
		}
		return sec, nil
	})
}

// forget drops the cached entry of each name and lets the next read start a
// new request rather than join one begun before.
func (s *CacheStore) forget(names ...string) {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = NameKey(n)
		s.group.Forget(keys[i])
	}
	if s.c != nil && len(keys) > 0 {
		s.c.drop(keys...)
	}
}

// SetSecret stores a new version and caches it: an enabled version with no
// time bounds becomes the cached value; anything else, failures included,
// drops the entry.
func (s *CacheStore) SetSecret(ctx context.Context, name, value string, opts *SetSecretOptions) (Properties, error) {
	p, err := s.next.SetSecret(ctx, name, value, opts)
	key := NameKey(name)
	if s.c != nil && err == nil && opts.IsEnabled() && (opts == nil || opts.Expires.IsZero() && opts.NotBefore.IsZero()) {
		s.c.set(key, Secret{Properties: p.Clone(), Value: NewValue(value)}, s.clock.Now())
		s.group.Forget(key)
	} else {
		s.forget(name)
	}
	return p, err
}

// DeleteSecret deletes the secret and drops it from the cache.
func (s *CacheStore) DeleteSecret(ctx context.Context, name string) error {
	err := s.next.DeleteSecret(ctx, name)
	s.forget(name)
	return err
}

// ListSecrets lists through the store beneath; listings are not cached.
func (s *CacheStore) ListSecrets(ctx context.Context) iter.Seq2[Properties, error] {
	return s.next.ListSecrets(ctx)
}

// ListSecretVersions lists through the store beneath.
func (s *CacheStore) ListSecretVersions(ctx context.Context, name string) iter.Seq2[Properties, error] {
	vl, ok := s.next.(VersionLister)
	if !ok {
		return errSeq[Properties](unsupportedErr(s.next))
	}
	return vl.ListSecretVersions(ctx, name)
}

// ListDeletedSecrets lists through the store beneath.
func (s *CacheStore) ListDeletedSecrets(ctx context.Context) iter.Seq2[DeletedSecret, error] {
	dl, ok := s.next.(DeletedLister)
	if !ok {
		return errSeq[DeletedSecret](unsupportedErr(s.next))
	}
	return dl.ListDeletedSecrets(ctx)
}

// UpdateSecretProperties updates through the store beneath and drops the
// cached entry.
func (s *CacheStore) UpdateSecretProperties(ctx context.Context, name, version string, opts *UpdateSecretPropertiesOptions) (Properties, error) {
	pu, ok := s.next.(PropertiesUpdater)
	if !ok {
		return Properties{}, unsupportedErr(s.next)
	}
	p, err := pu.UpdateSecretProperties(ctx, name, version, opts)
	s.forget(name)
	return p, err
}

// RecoverDeletedSecret recovers through the store beneath and drops the
// cached entry.
func (s *CacheStore) RecoverDeletedSecret(ctx context.Context, name string) (Properties, error) {
	r, ok := s.next.(Recoverer)
	if !ok {
		return Properties{}, unsupportedErr(s.next)
	}
	p, err := r.RecoverDeletedSecret(ctx, name)
	s.forget(name)
	return p, err
}

// PurgeDeletedSecret purges through the store beneath and drops the cached
// entry.
func (s *CacheStore) PurgeDeletedSecret(ctx context.Context, name string) error {
	p, ok := s.next.(Purger)
	if !ok {
		return unsupportedErr(s.next)
	}
	err := p.PurgeDeletedSecret(ctx, name)
	s.forget(name)
	return err
}

// clone copies what a caller could change (the tags map); the Value is
// immutable.
func (s Secret) clone() Secret {
	s.Properties = s.Properties.Clone()
	return s
}

// cacheEntry is immutable once in the cache, but for expired: updates
// replace the pointer.
type cacheEntry struct {
	secret    Secret
	fetched   time.Time
	refreshAt time.Time
	// expired is set by timer at refreshAt when the cache runs on the real
	// clock, so that a hit costs an atomic load rather than a clock read.
	expired atomic.Bool
	timer   *time.Timer
	// bounded: refreshAt is the secret's Expires or NotBefore, checked
	// against the clock on every hit rather than trusted to the timer.
	bounded bool
}

// cacheShards spreads the entries over copy-on-write maps: a read is an
// atomic load and a map lookup with no lock, so parallel readers never
// contend, and a write copies only one shard.
const cacheShards = 64

type shardMap = map[string]*cacheEntry

type cache struct {
	ttl     time.Duration
	jitter  float64
	max     int
	onStale func(string, error)
	timers  bool // expire entries by timer (real clock) rather than by reading the clock on each hit
	seed    maphash.Seed

	shards [cacheShards]atomic.Pointer[shardMap]

	mu sync.Mutex // serializes writers
	n  int        // entries, under mu

	// writes counts invalidations and writes; a fetch that saw another
	// value of it when it started does not store its (maybe older) result.
	writes atomic.Uint64
}

func newCache(o *CacheOptions, timers bool) *cache {
	var co CacheOptions
	if o != nil {
		co = *o
	}
	if co.Disabled {
		return nil
	}
	c := &cache{ttl: co.TTL, jitter: co.Jitter, max: co.MaxEntries, onStale: co.OnStale, timers: timers, seed: maphash.MakeSeed()}
	if c.ttl <= 0 {
		c.ttl = DefaultCacheTTL
	}
	if c.max <= 0 {
		c.max = DefaultCacheMaxEntries
	}
	switch {
	case c.jitter == 0:
		c.jitter = DefaultCacheJitter
	case c.jitter < 0:
		c.jitter = 0
	case c.jitter > 1:
		c.jitter = 1
	}
	for i := range c.shards {
		c.shards[i].Store(&shardMap{})
	}
	return c
}

// lookupKey is NameKey for a valid name, computed without allocating: key is
// name itself when it is already lower case (lower true), else a lowered
// copy in buf. ok is false for an invalid name, which is never cached.
func lookupKey(name string, buf *[MaxNameLength]byte) (key []byte, lower bool, ok bool) {
	if len(name) == 0 || len(name) > MaxNameLength {
		return nil, false, false
	}
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= 'A' && c <= 'Z':
			upper = true
		default:
			return nil, false, false
		}
	}
	if !upper {
		return nil, true, true
	}
	n := copy(buf[:], name)
	for i := range n {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return buf[:n], false, true
}

// get returns the entry for name, if any, fresh or not.
func (c *cache) get(name string) *cacheEntry {
	var buf [MaxNameLength]byte
	key, lower, ok := lookupKey(name, &buf)
	if !ok {
		return nil
	}
	if lower {
		return (*c.shards[maphash.String(c.seed, name)%cacheShards].Load())[name]
	}
	// No allocation: the compiler looks up string(key) in place.
	return (*c.shards[maphash.Bytes(c.seed, key)%cacheShards].Load())[string(key)]
}

// fresh reports whether e may be served without a refresh.
func (c *cache) fresh(e *cacheEntry, clock Clock) bool {
	if c.timers && !e.bounded {
		return !e.expired.Load()
	}
	return clock.Now().Before(e.refreshAt)
}

func (c *cache) lifetime() time.Duration {
	if c.jitter <= 0 {
		return c.ttl
	}
	return c.ttl - time.Duration(rand.Float64()*c.jitter*float64(c.ttl))
}

func (c *cache) newEntry(s Secret, fetched, refreshAt time.Time) *cacheEntry {
	e := &cacheEntry{secret: s, fetched: fetched, refreshAt: refreshAt}
	// An entry never outlives the secret's expiry, nor the moment it
	// becomes valid: then the vault is asked again, to the clock.
	if x := s.Expires; !x.IsZero() && x.Before(e.refreshAt) {
		e.refreshAt, e.bounded = x, true
	}
	if nb := s.NotBefore; !nb.IsZero() && nb.After(fetched) && nb.Before(e.refreshAt) {
		e.refreshAt, e.bounded = nb, true
	}
	if c.timers {
		e.timer = time.AfterFunc(refreshAt.Sub(fetched), func() { e.expired.Store(true) })
	}
	return e
}

// put stores s under key unless a write or invalidation happened since the
// fetch that produced it began (startWrites).
func (c *cache) put(key string, s Secret, now time.Time, startWrites uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes.Load() != startWrites {
		return
	}
	c.store(key, c.newEntry(s, now, now.Add(c.lifetime())))
}

// set stores s under key unconditionally (after a SetSecret), and makes any
// fetch in flight not store its older result.
func (c *cache) set(key string, s Secret, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes.Add(1)
	c.store(key, c.newEntry(s, now, now.Add(c.lifetime())))
}

// postpone keeps serving a stale entry until the next refresh is due.
func (c *cache) postpone(key string, old *cacheEntry, now, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shard(key)[key] != old {
		return
	}
	e := c.newEntry(old.secret, now, until)
	e.fetched = old.fetched
	c.store(key, e)
}

func (c *cache) shardIndex(key string) uint64 { return maphash.String(c.seed, key) % cacheShards }

// shard returns key's shard map, for reading under c.mu.
func (c *cache) shard(key string) shardMap { return *c.shards[c.shardIndex(key)].Load() }

// store needs c.mu held.
func (c *cache) store(key string, e *cacheEntry) {
	i := c.shardIndex(key)
	old := *c.shards[i].Load()
	prev, exists := old[key]
	if !exists && c.n >= c.max {
		c.evictOne()
		old = *c.shards[i].Load()
	}
	m := make(shardMap, len(old)+1)
	maps.Copy(m, old)
	m[key] = e
	c.shards[i].Store(&m)
	if exists {
		stopEntry(prev)
	} else {
		c.n++
	}
}

func stopEntry(e *cacheEntry) {
	if e.timer != nil {
		e.timer.Stop()
	}
}

// evictOne drops the oldest of up to 8 entries sampled from shards picked at
// random: O(1), and close enough to LRU for a cache this seldom full. Needs
// c.mu held.
func (c *cache) evictOne() {
	var (
		victim string
		shard  uint64
		oldest time.Time
		n      int
	)
	start := rand.Uint64N(cacheShards)
	for j := uint64(0); j < cacheShards && n < 8; j++ {
		i := (start + j) % cacheShards
		for k, e := range *c.shards[i].Load() {
			if n == 0 || e.fetched.Before(oldest) {
				victim, shard, oldest = k, i, e.fetched
			}
			if n++; n == 8 {
				break
			}
		}
	}
	if n > 0 {
		c.deleteLocked(shard, victim)
	}
}

// deleteLocked removes key from shard i; needs c.mu held.
func (c *cache) deleteLocked(i uint64, key string) {
	old := *c.shards[i].Load()
	prev, ok := old[key]
	if !ok {
		return
	}
	m := maps.Clone(old)
	delete(m, key)
	c.shards[i].Store(&m)
	stopEntry(prev)
	c.n--
}

// drop removes the entries for keys, or every entry when keys is empty.
func (c *cache) drop(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes.Add(1)
	if len(keys) == 0 {
		for i := range c.shards {
			for _, e := range *c.shards[i].Load() {
				stopEntry(e)
			}
			c.shards[i].Store(&shardMap{})
		}
		c.n = 0
		return
	}
	for _, k := range keys {
		c.deleteLocked(c.shardIndex(k), k)
	}
}

// expiredAt reports whether s is past its Expires at now: such a value is
// never served from the cache, not even as a stale fallback.
func expiredAt(s Secret, now time.Time) bool {
	return !s.Expires.IsZero() && !now.Before(s.Expires)
}

// serveStale reports whether a failed refresh may fall back to a cached
// value: the vault throttled or was unavailable, not that the secret is gone
// or forbidden.
func serveStale(err error) bool {
	return errors.Is(err, ErrThrottled) || errors.Is(err, ErrUnavailable)
}
