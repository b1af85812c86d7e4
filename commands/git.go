package commands

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
)

// gitCommands deploy from somewhere else than a push, and report on the
// app's repository.
var gitCommands = []command{
	{adminScope, "git:from-image", "git:from-image APP IMAGE", "Deploy an image that is on the server, without a build (no Procfile or app.json is read)", gitFromImage},
	{adminScope, "git:sync", "git:sync APP URL [REF]", "Fetch REF (branch, tag or commit; default: the default branch) from URL and deploy it; the deploy branch moves to it once it serves", gitSync},
	{appScope, "git:report", "git:report APP|--global [--format json]", "Show the app's deploy branch, deployed commit and repository (--global: the global deploy branch)", gitReport},
}

func gitFromImage(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, _, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"give an app and an image that is on the server (docker images lists them)"}
	}
	_, err = p.Deploy.DeployImage(ctx, pos[0], pos[1], out.Stderr)
	return err
}

func gitSync(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, _, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app, a repository URL and, optionally, a branch, tag or commit"}
	}
	ref := ""
	if len(pos) == 3 {
		ref = pos[2]
	}
	_, err = p.Deploy.Sync(ctx, pos[0], pos[1], ref, out.Stderr)
	return err
}

// gitGlobalReport is git:report --global: the global deploy branch
// (git:set --global deploy-branch) and keep-git-dir, which Berth never
// sets (no .git is kept).
func gitGlobalReport(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"give an app, or --global"}
	}
	if asJSON {
		return writeJSON(out, map[string]string{"global-deploy-branch": p.Build.GlobalDeployBranch(ctx), "global-keep-git-dir": ""})
	}
	fmt.Fprintln(out.Stdout, "=====> --global git information")
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Git global deploy branch:\t%s\n", p.Build.GlobalDeployBranch(ctx))
	fmt.Fprintf(tw, "Git global keep git dir:\t\n")
	return tw.Flush()
}

func gitReport(ctx context.Context, p *Backend, args []string, out IO) error {
	if slices.Contains(args, "--global") {
		return gitGlobalReport(ctx, p, slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--global" }), out)
	}
	app, asJSON, err := oneAppAndFormat(args)
	if err != nil {
		return err
	}
	r, err := p.Deploy.GitReport(ctx, app)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, r)
	}
	fmt.Fprintf(out.Stdout, "=====> %s git information\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Git deploy branch:\t%s\n", orDash(r.DeployBranch))
	fmt.Fprintf(tw, "Git deployed rev:\t%s\n", orDash(r.DeployedRev))
	if r.SourceImage != "" {
		fmt.Fprintf(tw, "Git source image:\t%s\n", r.SourceImage)
	}
	fmt.Fprintf(tw, "Git branch rev:\t%s\n", orDash(r.BranchRev))
	fmt.Fprintf(tw, "Git repository:\t%s\n", r.Repository)
	fmt.Fprintf(tw, "Git repository size:\t%s\n", byteSize(r.RepositorySize))
	fmt.Fprintf(tw, "Git rev env var:\t%s\n", r.RevEnvVar)
	fmt.Fprintf(tw, "Git keep git dir:\tfalse\n")
	// Dokku's computed and global keys (Berth keeps no .git, so
	// keep-git-dir has no global setting).
	fmt.Fprintf(tw, "Git computed deploy branch:\t%s\n", r.ComputedDeployBranch)
	fmt.Fprintf(tw, "Git computed keep git dir:\tfalse\n")
	fmt.Fprintf(tw, "Git global deploy branch:\t%s\n", r.GlobalDeployBranch)
	fmt.Fprintf(tw, "Git global keep git dir:\t\n")
	fmt.Fprintf(tw, "Git sha:\t%s\n", r.DeployedRev)
	return tw.Flush()
}

// byteSize formats n bytes for people: 512 B, 12.5 KiB, 3.1 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
