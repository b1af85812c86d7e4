package repo

// git:sync's side of the repositories: fetching a commit from a URL
// without moving a branch, and keeping the URL's credentials out of
// everything shown, logged and kept.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	neturl "net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// Fetch fetches ref (a branch, a tag or a commit; "" for the remote's
// default branch) from the repository at url into the app's repository,
// which must exist (Create), and returns the commit it names. No branch
// of the app moves: the caller moves the deploy branch once the commit
// serves (SetBranch). Its errors never hold url's credentials.
func (s *Store) Fetch(ctx context.Context, app, url, ref string) (string, error) {
	if err := ValidRemote(url); err != nil {
		return "", err
	}
	rev, err := fetchCommit(ctx, s.Path(app), url, ref)
	return rev, scrubbed(err, url)
}

// RedactURL returns a repository URL fit to show, log and keep: a URL
// with a scheme loses its credentials (https://user:TOKEN@host/repo.git
// and https://TOKEN@host/repo.git both become https://***@host/repo.git;
// a token can be the user name as well as the password), except that an
// ssh:// URL keeps its user name (git@), which is no secret. A path and
// scp-like user@host:path carry none and come back as they are.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	userinfo, hostAndPath, ok := cutUserinfo(rest)
	if !ok {
		return raw
	}
	if isSSHScheme(scheme) {
		user, _, hasPassword := strings.Cut(userinfo, ":")
		if !hasPassword {
			return raw
		}
		return scheme + "://" + user + ":***@" + hostAndPath
	}
	return scheme + "://***@" + hostAndPath
}

// cutUserinfo splits what follows a URL's "scheme://" at the last @ of
// its authority (up to the first /, ? or #).
func cutUserinfo(rest string) (userinfo, hostAndPath string, ok bool) {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return "", rest, false
	}
	return rest[:at], rest[at+1:], true
}

func isSSHScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "ssh", "git+ssh", "ssh+git":
		return true
	}
	return false
}

// scrubbed returns err with the credentials of url taken out of its
// message: the URL as RedactURL shows it, and its secrets wherever else
// they appear (a library's error may quote the URL its own way, decoded,
// or with only the password hidden). The error chain is not kept, as it
// holds the secret.
func scrubbed(err error, url string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	redacted := RedactURL(url)
	if redacted == url {
		return err
	}
	msg = strings.ReplaceAll(msg, url, redacted)
	scheme, rest, _ := strings.Cut(url, "://")
	userinfo, _, _ := cutUserinfo(rest)
	user, password, hasPassword := strings.Cut(userinfo, ":")
	secrets := []string{userinfo, password}
	if !hasPassword && !isSSHScheme(scheme) {
		secrets = append(secrets, user)
	}
	for _, s := range secrets {
		for _, form := range []string{s, unescaped(s)} {
			// A secret of a few characters would star out every word
			// that holds them; a real token is longer.
			if len(form) >= 4 {
				msg = strings.ReplaceAll(msg, form, "***")
			}
		}
	}
	return errors.New(msg)
}

func unescaped(s string) string {
	if u, err := neturl.PathUnescape(s); err == nil {
		return u
	}
	return s
}

var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:`)

// ValidRemote accepts what git:sync can fetch from: an absolute path on
// the server, a URL (file://, https://, ssh://, git://) or scp-like
// user@host:path. Its error names the URL without its credentials.
func ValidRemote(url string) error {
	return scrubbed(validRemote(url), url)
}

func validRemote(url string) error {
	switch {
	case url == "" || strings.HasPrefix(url, "-"):
	case strings.Contains(url, "://"), filepath.IsAbs(url):
		return nil
	case scpLike.MatchString(url):
		return nil
	}
	return fmt.Errorf("%q is not a repository URL: give an absolute path on the server, a file://, https:// or ssh:// URL, or user@host:path", url)
}

var hexRev = regexp.MustCompile(`^[0-9a-f]{4,40}$`)

// fetchCommit fetches ref from url into the repository at repoPath and
// returns the commit it names. What it fetches lands under a temporary
// ref, removed before it returns, so no branch of the app moves.
func fetchCommit(ctx context.Context, repoPath, url, ref string) (string, error) {
	shown := RedactURL(url) // for messages; Fetch scrubs the rest
	repo, err := git.PlainOpen(repoPath)
	if err != nil {
		return "", err
	}
	remote := git.NewRemote(repo.Storer, &gitconfig.RemoteConfig{Name: "berth-sync", URLs: []string{url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("cannot read the repository at %s: %w; check the URL, and that the server may read it", shown, err)
	}
	if len(refs) == 0 {
		return "", fmt.Errorf("the repository at %s is empty: it has no branch to deploy", shown)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	tmp := "refs/berth-sync/" + hex.EncodeToString(suffix)
	defer removeRefs(repo, tmp+"/")

	var specs []gitconfig.RefSpec
	target := tmp + "/target"
	switch src := remoteRef(refs, ref); {
	case src != "":
		specs = []gitconfig.RefSpec{gitconfig.RefSpec("+" + src + ":" + target)}
	case hexRev.MatchString(ref):
		// A commit: fetch every branch and tag, then look for it among
		// them (servers need not let a client ask for a commit by hash).
		specs = []gitconfig.RefSpec{
			gitconfig.RefSpec("+refs/heads/*:" + tmp + "/heads/*"),
			gitconfig.RefSpec("+refs/tags/*:" + tmp + "/tags/*"),
		}
		target = ref
	default:
		return "", fmt.Errorf("the repository at %s has no branch or tag %q (its branches: %s)", shown, ref, strings.Join(branchNames(refs), ", "))
	}
	err = remote.FetchContext(ctx, &git.FetchOptions{RefSpecs: specs, Tags: git.NoTags, Force: true})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", fmt.Errorf("fetching from %s: %w", shown, err)
	}
	rev, err := resolve(ctx, repoPath, target)
	if err != nil {
		return "", err
	}
	if target == ref && rev != "" {
		// The commit must come from url, not from what the app's
		// repository held before.
		out, err := exec.CommandContext(ctx, "git", "--git-dir", repoPath, "for-each-ref", "--count=1",
			"--contains", rev, "--format=%(refname)", tmp+"/").Output()
		if err != nil {
			return "", fmt.Errorf("looking for commit %s in what %s has: %w", ref, shown, err)
		}
		if len(strings.TrimSpace(string(out))) == 0 {
			rev = ""
		}
	}
	if rev == "" {
		if target == ref {
			return "", fmt.Errorf("no branch or tag of %s contains a commit %s", shown, ref)
		}
		return "", fmt.Errorf("%s of %s does not name a commit", ref, shown)
	}
	return rev, nil
}

// remoteRef returns the full name of the remote ref that ref names: ""
// means the remote's HEAD (its default branch), else a full ref, a branch
// or a tag. It returns "" when there is none.
func remoteRef(refs []*plumbing.Reference, ref string) string {
	has := func(name string) bool {
		return slices.ContainsFunc(refs, func(r *plumbing.Reference) bool { return r.Name().String() == name })
	}
	if ref == "" {
		for _, r := range refs {
			if r.Name() == plumbing.HEAD {
				if r.Type() == plumbing.SymbolicReference && has(r.Target().String()) {
					return r.Target().String()
				}
				return "HEAD"
			}
		}
		for _, b := range []string{"refs/heads/main", "refs/heads/master"} {
			if has(b) {
				return b
			}
		}
		return ""
	}
	for _, name := range []string{ref, "refs/heads/" + ref, "refs/tags/" + ref} {
		if strings.HasPrefix(name, "refs/") && has(name) {
			return name
		}
	}
	return ""
}

func branchNames(refs []*plumbing.Reference) []string {
	var out []string
	for _, r := range refs {
		if r.Name().IsBranch() {
			out = append(out, r.Name().Short())
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

func removeRefs(repo *git.Repository, prefix string) {
	iter, err := repo.Storer.IterReferences()
	if err != nil {
		return
	}
	var names []plumbing.ReferenceName
	iter.ForEach(func(r *plumbing.Reference) error {
		if strings.HasPrefix(r.Name().String(), prefix) {
			names = append(names, r.Name())
		}
		return nil
	})
	for _, n := range names {
		repo.Storer.RemoveReference(n)
	}
}
