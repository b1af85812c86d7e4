package platform

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/berth-paas/berth/builder"
)

// DefaultBranch is the deploy branch of an app that has none yet when it
// is deployed by git:sync.
const DefaultBranch = "main"

// Rebuild builds the head of the app's deploy branch again, from its
// repository, and deploys it like a push (Dokku's ps:rebuild).
func (p *Platform) Rebuild(ctx context.Context, app string, log io.Writer) (Release, error) {
	a, unlock, err := p.lockedApp(ctx, app, "a rebuild")
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	if a.DeployBranch == "" {
		return Release{}, fmt.Errorf("%s has no deploy branch yet: push to it (git push berth main) or run git:sync %s URL first", app, app)
	}
	rev, err := builder.GitCommit{RepoDir: p.RepoPath(app), Rev: "refs/heads/" + a.DeployBranch}.Resolve(ctx)
	if err != nil {
		return Release{}, err
	}
	if rev == "" {
		return Release{}, fmt.Errorf("the repository of %s has no branch %s: push it (git push berth %s) or run git:sync %s URL", app, a.DeployBranch, a.DeployBranch, app)
	}
	var shown bytes.Buffer
	fmt.Fprintf(io.MultiWriter(logWriter(log), &shown), "-----> Rebuilding %s from %s (%s)\n", app, a.DeployBranch, shortRev(rev))
	return p.deployLocked(ctx, DeployRequest{
		App:    app,
		Source: builder.GitCommit{RepoDir: p.RepoPath(app), Rev: rev},
		GitRev: rev,
		Reason: "rebuild",
		Log:    log,
		shown:  shown.Bytes(),
	})
}

// DeployImage deploys a local image as the app's next release, with no
// build (Dokku's git:from-image). The image keeps its own name; the
// release tags it berth/APP:vN.
func (p *Platform) DeployImage(ctx context.Context, app, image string, log io.Writer) (Release, error) {
	if err := validImageRef(image); err != nil {
		return Release{}, err
	}
	a, unlock, err := p.lockedApp(ctx, app, "a git:from-image")
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	return p.deployLocked(ctx, DeployRequest{App: a.Name, Image: image, Reason: "image", Log: log})
}

var imageRefPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$`)

func validImageRef(ref string) error {
	if !imageRefPattern.MatchString(ref) || len(ref) > 512 {
		return fmt.Errorf("%q is not an image reference; give one like myimage:1.0 or registry.example.com/team/app:latest", ref)
	}
	return nil
}

// Sync fetches ref (a branch, a tag or a commit; "" for the remote's
// default branch) from the repository at url into the app's repository
// and deploys it (Dokku's git:sync, always with a build). The deploy
// branch moves to the fetched commit only once it serves: a failed sync
// leaves the repository's branch, like the running release, as it was.
func (p *Platform) Sync(ctx context.Context, app, url, ref string, log io.Writer) (Release, error) {
	client := logWriter(log)
	var shown bytes.Buffer
	log = io.MultiWriter(client, &shown)
	if err := validRemote(url); err != nil {
		return Release{}, scrubbed(err, url)
	}
	a, unlock, err := p.lockedApp(ctx, app, "a git:sync")
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	if a.Locked {
		return Release{}, fmt.Errorf("%s is locked and refuses deploys; run apps:unlock %s first", app, app)
	}
	branch := a.DeployBranch
	if branch == "" {
		branch = DefaultBranch
	}
	repoPath := p.RepoPath(app)
	if err := ensureRepo(repoPath, branch); err != nil {
		return Release{}, fmt.Errorf("preparing the repository of %s: %w", app, err)
	}
	what := ref
	if what == "" {
		what = "its default branch"
	}
	// What is shown and kept (the deploy's output, its build log, which
	// the app's deploy keys read) names the URL without its credentials.
	fmt.Fprintf(log, "-----> Fetching %s (%s) into %s\n", RedactURL(url), what, app)
	rev, err := fetchCommit(ctx, repoPath, url, ref)
	if err != nil {
		return Release{}, scrubbed(err, url)
	}
	fmt.Fprintf(log, "-----> Fetched %s; deploying it as %s's branch %s\n", shortRev(rev), app, branch)
	return p.deployLocked(ctx, DeployRequest{
		App:        app,
		Source:     builder.GitCommit{RepoDir: repoPath, Rev: rev},
		GitRev:     rev,
		Reason:     "sync",
		Branch:     branch,
		MoveBranch: true,
		Log:        client,
		shown:      shown.Bytes(),
	})
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

// validRemote accepts what git:sync can fetch from: an absolute path on
// the server, a URL (file://, https://, ssh://, git://) or scp-like
// user@host:path.
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

// ensureRepo creates the app's bare repository unless it exists, with HEAD
// naming branch. The git door installs its hook at the first push.
func ensureRepo(path, branch string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	repo, err := git.PlainInit(path, true)
	if err != nil {
		return err
	}
	return repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch)))
}

var hexRev = regexp.MustCompile(`^[0-9a-f]{4,40}$`)

// fetchCommit fetches ref from url into the repository at repoPath and
// returns the commit it names. What it fetches lands under a temporary
// ref, removed before it returns, so no branch of the app moves.
func fetchCommit(ctx context.Context, repoPath, url, ref string) (string, error) {
	shown := RedactURL(url) // for messages; Sync scrubs the rest
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
	rev, err := builder.GitCommit{RepoDir: repoPath, Rev: target}.Resolve(ctx)
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

// setBranch points refs/heads/branch of the repository at rev, and HEAD
// at the branch, so a clone checks out what is deployed.
func setBranch(repoPath, branch, rev string) error {
	repo, err := git.PlainOpen(repoPath)
	if err != nil {
		return err
	}
	name := plumbing.NewBranchReferenceName(branch)
	if err := repo.Storer.SetReference(plumbing.NewHashReference(name, plumbing.NewHash(rev))); err != nil {
		return err
	}
	return repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, name))
}

// GitReport describes the app's repository and what of it runs (Dokku's
// git:report).
type GitReport struct {
	App          string `json:"app"`
	DeployBranch string `json:"deploy_branch"`
	// DeployedRev is the commit of the release that serves; "" when it
	// was deployed from an image, or nothing serves.
	DeployedRev string `json:"deployed_rev"`
	// SourceImage is the image the serving release came from, if
	// git:from-image deployed it.
	SourceImage string `json:"source_image,omitempty"`
	// BranchRev is the commit the deploy branch names in the repository.
	BranchRev      string `json:"branch_rev"`
	Repository     string `json:"repository"`
	RepositorySize int64  `json:"repository_size_bytes"`
}

// GitReport returns the app's git report.
func (p *Platform) GitReport(ctx context.Context, app string) (GitReport, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return GitReport{}, err
	}
	r := GitReport{App: app, DeployBranch: a.DeployBranch, Repository: p.RepoPath(app)}
	if rel, ok := a.CurrentRelease(); ok {
		r.DeployedRev, r.SourceImage = rel.GitRev, rel.SourceImage
	}
	if _, err := os.Stat(r.Repository); errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if a.DeployBranch != "" {
		if r.BranchRev, err = (builder.GitCommit{RepoDir: r.Repository, Rev: "refs/heads/" + a.DeployBranch}).Resolve(ctx); err != nil {
			return r, err
		}
	}
	err = filepath.WalkDir(r.Repository, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			r.RepositorySize += info.Size()
		}
		return nil
	})
	return r, err
}

func shortRev(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}
