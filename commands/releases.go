package commands

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/berth-paas/berth/platform"
)

// releaseCommands list releases and return to earlier ones.
var releaseCommands = []command{
	{appScope, "releases", "releases APP [--format json]", "List the app's releases: number, when, what made it, image", releases},
	{appScope, "rollback", "rollback APP [vN]", "Return to the previous release (or vN), image and config, as a new release", rollback},
}

func releases(ctx context.Context, p *Backend, args []string, out IO) error {
	app, flags, err := oneApp(args, "format")
	if err != nil {
		return err
	}
	rels, current, err := p.Deploy.Releases(ctx, app)
	if err != nil {
		return err
	}
	if flags["format"] == "json" {
		type entry struct {
			Version   int       `json:"version"`
			Current   bool      `json:"current"`
			Reason    string    `json:"reason"`
			GitRev    string    `json:"git_rev,omitempty"`
			Image     string    `json:"image"`
			CreatedAt time.Time `json:"created_at"`
		}
		list := make([]entry, 0, len(rels))
		for _, r := range rels {
			list = append(list, entry{r.Version, r.Version == current, r.Reason, r.GitRev, r.Image, r.CreatedAt})
		}
		return writeJSON(out, list)
	}
	fmt.Fprintf(out.Stdout, "=====> %s releases\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RELEASE\tCREATED\tMADE BY\tIMAGE")
	for _, r := range rels {
		marker := ""
		if r.Version == current {
			marker = " (current)"
		}
		by := r.Reason
		switch {
		case (r.Reason == "push" || r.Reason == "rebuild" || r.Reason == "sync") && r.GitRev != "":
			by = r.Reason + " " + r.GitRev[:min(7, len(r.GitRev))]
		case r.Reason == "image" && r.SourceImage != "":
			by = "image " + r.SourceImage
		}
		fmt.Fprintf(tw, "v%d%s\t%s\t%s\t%s\n", r.Version, marker, r.CreatedAt.Format(time.RFC3339), by, r.Image)
	}
	return tw.Flush()
}

func rollback(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, _, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"give an app and, optionally, the release to return to"}
	}
	target := 0
	if len(pos) == 2 {
		if target, err = platform.ParseVersion(pos[1]); err != nil {
			return usageError{err.Error()}
		}
	}
	rel, err := p.Deploy.Rollback(ctx, pos[0], target, out.Stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s is on v%d (%s)\n", pos[0], rel.Version, rel.Reason)
	return nil
}
