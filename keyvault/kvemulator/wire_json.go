package kvemulator

import (
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The response shapes a request answers most often (list pages and
// bundles) are encoded by appending, without reflection. The bytes are
// exactly those encoding/json.Marshal writes for the reference shapes in
// wire_json_test.go: the same field order, omissions, sorted tag names and
// string escaping (the test checks it).

// jsonAppender is a response body that encodes itself.
type jsonAppender interface {
	appendJSON(dst []byte) []byte
}

// bodyPool recycles response buffers; a buffer is returned once its bytes
// are written.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// maxPooledBody is the largest buffer kept for reuse, so that one large
// response does not pin its memory.
const maxPooledBody = 64 << 10

// bundleBody is a SecretBundle, a SecretItem, a DeletedSecretBundle or a
// DeletedSecretItem: version v of secret s as served to host. The secret and
// version are immutable, so a body shares them.
type bundleBody struct {
	s    *secret
	v    *version
	host string
	o    bundleOpts
}

type bundleOpts struct {
	withValue   bool
	withVersion bool // false: the base id https://HOST/secrets/NAME, as list items carry
	deleted     bool
}

func bundleOf(s *secret, v *version, host string, o bundleOpts) bundleBody {
	return bundleBody{s: s, v: v, host: host, o: o}
}

// appendJSON appends the bundle's JSON: the fields of Key Vault's shape, in
// the order and with the omissions of wire_json_test.go's bundleJSON.
func (b bundleBody) appendJSON(dst []byte) []byte {
	s, v := b.s, b.v
	dst = append(dst, '{')
	if b.o.deleted {
		dst = append(dst, `"recoveryId":"https://`...)
		dst = appendEscaped(dst, b.host)
		dst = append(dst, "/deletedsecrets/"...)
		dst = appendEscaped(dst, s.Name)
		dst = append(dst, `",`...)
		if s.DeletedDate != 0 {
			dst = append(dst, `"deletedDate":`...)
			dst = strconv.AppendInt(dst, s.DeletedDate, 10)
			dst = append(dst, ',')
		}
		if s.ScheduledPurgeDate != 0 {
			dst = append(dst, `"scheduledPurgeDate":`...)
			dst = strconv.AppendInt(dst, s.ScheduledPurgeDate, 10)
			dst = append(dst, ',')
		}
	}
	if b.o.withValue {
		dst = append(dst, `"value":`...)
		dst = appendJSONString(dst, v.Value)
		dst = append(dst, ',')
	}
	dst = append(dst, `"id":"https://`...)
	dst = appendEscaped(dst, b.host)
	dst = append(dst, "/secrets/"...)
	dst = appendEscaped(dst, s.Name)
	if b.o.withVersion {
		dst = append(dst, '/')
		dst = appendEscaped(dst, v.ID)
	}
	dst = append(dst, '"')
	if v.ContentType != "" {
		dst = append(dst, `,"contentType":`...)
		dst = appendJSONString(dst, v.ContentType)
	}
	dst = append(dst, `,"attributes":{"enabled":`...)
	dst = strconv.AppendBool(dst, v.Enabled)
	if v.NotBefore != nil {
		dst = append(dst, `,"nbf":`...)
		dst = strconv.AppendInt(dst, *v.NotBefore, 10)
	}
	if v.Expires != nil {
		dst = append(dst, `,"exp":`...)
		dst = strconv.AppendInt(dst, *v.Expires, 10)
	}
	dst = append(dst, `,"created":`...)
	dst = strconv.AppendInt(dst, v.Created, 10)
	dst = append(dst, `,"updated":`...)
	dst = strconv.AppendInt(dst, v.Updated, 10)
	dst = append(dst, `,"recoveryLevel":"`+recoveryLevel+`","recoverableDays":`...)
	dst = strconv.AppendInt(dst, recoverableDays, 10)
	dst = append(dst, '}')
	if len(v.Tags) > 0 {
		dst = append(dst, `,"tags":{`...)
		var buf [maxTags]string
		keys := buf[:0]
		for k := range v.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, v.Tags[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// listJSON is a list page: its items and the link to the next page (nil on
// the last).
type listJSON struct {
	Value    []bundleBody
	NextLink *string
}

func (l listJSON) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"value":[`...)
	for i := range l.Value {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = l.Value[i].appendJSON(dst)
	}
	dst = append(dst, `],"nextLink":`...)
	if l.NextLink == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, *l.NextLink)
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML characters, U+2028 and U+2029 included; invalid UTF-8
// becomes U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends the inside of appendJSONString's quotes. Escaping
// is per character, so pieces of one string can be escaped one by one when
// each piece after the first starts with ASCII (an invalid byte sequence
// never joins with the next piece).
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}
