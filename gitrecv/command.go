package gitrecv

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berth-paas/berth/platform"
)

// Git services a client may ask for over SSH.
const (
	ReceivePack = "git-receive-pack" // git push
	UploadPack  = "git-upload-pack"  // git fetch and clone
)

// ParseGitCommand recognises the command line git sends over SSH, such as
// `git-receive-pack '/hello'`, and returns the service and the app it
// names. ok is false for a line that is not a git service request; err is
// set for one that is, but names no valid app.
//
// `git-receive-pack 'app'`, `'/app.git'` and `'app.git'` all name app
// "app": git sends the path of the remote URL, quoted for a POSIX shell.
func ParseGitCommand(raw string) (service, app string, ok bool, err error) {
	verb, arg, _ := strings.Cut(strings.TrimLeft(raw, " \t"), " ")
	switch verb {
	case ReceivePack, UploadPack:
		service = verb
	case "git":
		// `git receive-pack 'app'`, which some clients send.
		sub, rest, _ := strings.Cut(strings.TrimLeft(arg, " \t"), " ")
		if sub != "receive-pack" && sub != "upload-pack" {
			return "", "", false, nil
		}
		service, arg = "git-"+sub, rest
	default:
		return "", "", false, nil
	}
	path, err := shellUnquote(strings.TrimSpace(arg))
	if err != nil {
		return service, "", true, fmt.Errorf("%s: cannot read the repository path %q: %w", service, arg, err)
	}
	app = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/"), ".git")
	if err := platform.ValidateAppName(app); err != nil {
		return service, "", true, fmt.Errorf("the repository path %q names no valid app: %w", path, err)
	}
	return service, app, true, nil
}

// shellUnquote reads one POSIX shell word made of unquoted characters,
// single-quoted runs and backslash escapes, which is what git's
// sq_quote_buf produces; for the path a'b git sends:
//
//	'a'\''b'
//
// Anything else that a shell would interpret (spaces, double quotes, $, ;)
// is an error: a repository path never needs it.
func shellUnquote(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty path")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated quote")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case '\\':
			if i+1 >= len(s) {
				return "", errors.New("trailing backslash")
			}
			i++
			b.WriteByte(s[i])
		case ' ', '\t', '\n', '"', '$', '`', ';', '&', '|', '<', '>', '(', ')', '*', '?', '[', ']', '~', '#', '!', '{', '}':
			return "", fmt.Errorf("unexpected %q", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
