package keyvault

import (
	"maps"
	"time"
)

// Properties describes one version of a secret, without its value. It is
// what ListSecrets returns and what SetSecret reports.
type Properties struct {
	// Name is the secret's name, as the store spells it.
	Name string
	// Version identifies this version: 32 lowercase hex characters in Key
	// Vault and memvault.
	Version string
	// ContentType is an optional hint at how to read the value, such as
	// "text/plain" or "application/json".
	ContentType string
	// Tags are user-defined key/value pairs. Nil when there are none.
	Tags map[string]string
	// Enabled is false for a disabled version, which cannot be read.
	Enabled bool
	// Created and Updated are when the version was created and last changed.
	Created, Updated time.Time
	// Expires and NotBefore bound when the version may be used; the zero
	// time means no bound.
	Expires, NotBefore time.Time
}

// Clone returns a copy of p that shares no memory with it.
func (p Properties) Clone() Properties {
	if p.Tags != nil {
		p.Tags = maps.Clone(p.Tags)
	}
	return p
}

// Secret is one version of a secret with its value. The embedded Properties
// give it Name, Version and the rest of its metadata. Value never shows its
// plaintext when printed or logged; call Value.Reveal to read it.
type Secret struct {
	Properties
	// Value holds the plaintext; see Value.
	Value Value
}

// SetSecretOptions are the optional parts of a SetSecret call. A nil
// *SetSecretOptions means all defaults: no content type, no tags, enabled, no
// expiry or not-before time.
type SetSecretOptions struct {
	// ContentType is stored with the version, e.g. "text/plain".
	ContentType string
	// Tags are stored with the version.
	Tags map[string]string
	// Enabled, when non-nil, sets whether the new version is enabled. Nil
	// means enabled.
	Enabled *bool
	// Expires and NotBefore, when non-zero, bound when the version may be
	// used.
	Expires, NotBefore time.Time
}

// IsEnabled reports the Enabled setting with nil meaning true. It is safe to
// call on a nil *SetSecretOptions.
func (o *SetSecretOptions) IsEnabled() bool {
	return o == nil || o.Enabled == nil || *o.Enabled
}

// Clone returns a deep copy of o (nil stays nil).
func (o *SetSecretOptions) Clone() *SetSecretOptions {
	if o == nil {
		return nil
	}
	c := *o
	if c.Tags != nil {
		c.Tags = maps.Clone(c.Tags)
	}
	if c.Enabled != nil {
		e := *c.Enabled
		c.Enabled = &e
	}
	return &c
}
