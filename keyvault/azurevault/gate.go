package azurevault

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/go-azureml/secrets/internal/flight"
	"github.com/go-azureml/secrets/keyvault"
)

// gate is the warm-up gate of a Store's client. Key Vault answers a client's
// first request with an authentication challenge; every request that meets
// one fetches a token, so a cold batch of 64 would fetch 64. Until the client
// knows the challenge, requests go one at a time; the gate opens for good at
// the first token request (by then the client has parsed the challenge, and
// azcore shares one token fetch among every request after it) or at the
// first answer of any kind. A request that got no answer (its connection
// dropped, as the emulator at its connection cap drops a herd's connections
// that have not sent their request yet) or whose caller gave up taught the
// client nothing: the next request goes alone, as the first did (opening
// the gate on a drop sent a cold batch of 64 as 63 challenges and 36 token
// requests). After maxUnheard requests without an answer the gate opens
// anyway, so that the calls of a batch against a vault that cannot be
// reached fail side by side, not one after another. It lives with the
// client it protects, so a new Keyvault over a warm Store starts its batch
// at once.
type gate struct {
	open    chan struct{} // closed when warm
	once    sync.Once
	slot    chan struct{} // holds cold requests to one at a time
	unheard atomic.Int32  // cold requests that got no answer
}

func newGate() *gate {
	return &gate{open: make(chan struct{}), slot: make(chan struct{}, 1)}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// enter waits until the request may go. leave must be called with the
// request's outcome when it is done.
func (g *gate) enter(ctx context.Context) (leave func(error), err error) {
	select {
	case <-g.open:
		return noLeave, nil
	default:
	}
	select {
	case <-g.open:
		return noLeave, nil
	case g.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-g.open: // warmed while this request waited for the slot
		<-g.slot
		return noLeave, nil
	default:
	}
	return func(err error) {
		switch {
		case err == nil:
			g.release()
		case flight.IsContextError(err):
			// The caller gave up: nothing was learnt, the slot passes on.
		case answered(err), g.unheard.Add(1) >= maxUnheard:
			g.release()
		}
		<-g.slot
	}, nil
}

func noLeave(error) {}

// maxUnheard is how many cold requests may get no answer at all (a dropped
// connection, a dial or TLS failure) before the gate opens anyway.
const maxUnheard = 2

// answered says that err came with an HTTP answer from the vault.
func answered(err error) bool {
	var se *keyvault.ServiceError
	return !errors.As(err, &se) || se.StatusCode != 0
}

// gatedCredential opens the gate when the client first asks for a token.
type gatedCredential struct {
	cred azcore.TokenCredential
	g    *gate
}

func (c gatedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.g.release()
	return c.cred.GetToken(ctx, opts)
}
