package credential_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/go-azureml/secrets/credential"
)

// Text an identity endpoint sent back is bounded and has its control and
// bidi characters escaped before it reaches a message.
func TestReasonBoundsHostileText(t *testing.T) {
	r := credential.Reason(errors.New("ManagedIdentityCredential: " + strings.Repeat("\x1b[2J\u202eevil ", 2000)))
	assert.LessOrEqual(t, len(r), 503)
	assert.NotContains(t, r, "\x1b")
	assert.NotContains(t, r, "\u202e")
}
