// Host names as the table keeps them: normalising, validating and the length limits.

package routing

import (
	"slices"
	"strings"
)

// maxHostLength is the longest Host or server name that can normalize to
// a DNS name: 253 bytes, a trailing dot and ":65535".
const maxHostLength = MaxNameLength + len(".:65535")

// Name is a host name in the table's normal form (lowercase, no port, no
// trailing dot), as only NormalName makes it: a function that takes a
// Name need not normalize it again, and cannot be handed a raw Host by
// mistake (an upper-case name or one with a port would miss its exact
// host and the reservations and could still match a wildcard).
type Name struct{ s string }

// String returns the normalized name.
func (n Name) String() string { return n.s }

// NormalName is NormalizeHost(host), or false for a host too long to
// normalize to a DNS name, refused before NormalizeHost copies it. A
// caller that checks one name several ways (the TLS permission)
// normalizes it once and passes the result on.
func NormalName(host string) (Name, bool) {
	if len(host) > maxHostLength {
		return Name{}, false
	}
	return Name{NormalizeHost(host)}, true
}

// MaxNameLength is the longest DNS name (RFC 1035), without the trailing
// dot; MaxLabelLength the longest label in one.
const (
	MaxNameLength  = 253
	MaxLabelLength = 63
)

// ValidName says whether h (normalized) can be a DNS name or an IP
// address: at most 253 bytes, each dot-separated label 1 to 63 bytes.
// Match and the on-demand permission refuse any other name, so that
// "a..example.org" is no host under *.example.org and a huge server name
// costs nothing.
func ValidName(h string) bool {
	if h == "" || len(h) > MaxNameLength {
		return false
	}
	start := 0
	for i := 0; i <= len(h); i++ {
		if i == len(h) || h[i] == '.' {
			if n := i - start; n == 0 || n > MaxLabelLength {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// IsWildcard says whether host is a wildcard entry ("*.example.org").
func IsWildcard(host string) bool { return strings.HasPrefix(host, "*.") }

// NormalizeHost lowercases host and strips a port and a trailing dot.
func NormalizeHost(host string) string {
	host = strings.ToLower(host)
	if strings.HasPrefix(host, "[") { // IPv6 literal, maybe with a port
		if end := strings.IndexByte(host, ']'); end > 0 {
			return host[1:end]
		}
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.Count(host, ":") == 1 {
		host = host[:i]
	}
	return strings.TrimSuffix(host, ".")
}

func normalizeHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if h = NormalizeHost(h); h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}
