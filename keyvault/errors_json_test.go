package keyvault_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault"
)

// bodyError stands for an *azcore.ResponseError: its fields carry the body.
type bodyError struct{ Body string }

func (bodyError) Error() string { return "RESPONSE 403" }

func TestErrorsMarshalWithoutBodies(t *testing.T) {
	se := keyvault.Classify(403, "Forbidden\x1b[2J\u202e"+strings.Repeat("x", 24<<10), bodyError{Body: "CANARY-body"})
	errs := []error{
		se,
		&keyvault.Error{Op: "get secret", Name: "db", Err: se},
		&keyvault.BatchError{Op: "get secrets", Total: 2, Failed: map[string]error{"db": &keyvault.Error{Op: "get secret", Name: "db", Err: se}}},
	}
	for _, err := range errs {
		js, jerr := json.Marshal(err)
		require.NoError(t, jerr)
		assert.NotContains(t, string(js), "CANARY", "%T", err)
		assert.Less(t, len(js), 1000, "%T: %s", err, js)
		assert.Less(t, len(err.Error()), 300, "%T", err)
		assert.NotContains(t, err.Error(), "\x1b")
		assert.NotContains(t, err.Error(), "\u202e")
		var back map[string]any
		require.NoError(t, json.Unmarshal(js, &back))
		assert.NotEmpty(t, back["error"])
		assert.True(t, errors.Is(err, keyvault.ErrPermission))
	}
}
