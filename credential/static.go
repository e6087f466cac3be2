package credential

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Static returns a credential that answers every GetToken with token, valid
// until expires (the zero time means an hour from each call). It is meant for
// tests and for local emulators; its String and any error never show the
// token.
func Static(token string, expires time.Time) azcore.TokenCredential {
	return &static{token: token, expires: expires}
}

type static struct {
	token   string
	expires time.Time
}

func (s *static) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return azcore.AccessToken{}, err
	}
	exp := s.expires
	if exp.IsZero() {
		exp = time.Now().Add(time.Hour)
	}
	return azcore.AccessToken{Token: s.token, ExpiresOn: exp}, nil
}

// String names the credential without its token.
func (s *static) String() string { return "static credential" }

// GoString keeps %#v from printing the token.
func (s *static) GoString() string { return "credential.Static(REDACTED)" }
