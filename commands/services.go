package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/services"
)

// serviceCommands are Dokku's datastore plugin commands (postgres:create,
// redis:link, ...), one group per service type, all admin-only: a
// service is shared by the apps it is linked to, so no deploy key, which
// is confined to one app, may change one.
var serviceCommands = func() []command {
	var out []command
	for _, tn := range services.TypeNames {
		t := services.Types[tn]
		def := t.Alias + "_URL"
		out = append(out,
			command{adminScope, tn + ":create", tn + ":create NAME [--image IMAGE] [--image-version V] [--password P]",
				fmt.Sprintf("Create a %s service (image %s:%s unless --image names a local one); data in a named volume", tn, t.Image, t.Version), serviceRun(t, svcCreate)},
			command{adminScope, tn + ":destroy", tn + ":destroy NAME [--force]", "Remove the service, its container and its data (asks for the name unless --force; refused while linked)", serviceRun(t, svcDestroy)},
			command{adminScope, tn + ":link", tn + ":link NAME APP [--alias ALIAS]", fmt.Sprintf("Set %s (or ALIAS_URL; DOKKU_%s_NAME_URL when the app has %s) on the app and roll it out with no downtime", def, strings.ToUpper(tn), def), serviceRun(t, svcLink)},
			command{adminScope, tn + ":unlink", tn + ":unlink NAME APP", "Remove the service's URL from the app's config and roll it out", serviceRun(t, svcUnlink)},
			command{adminScope, tn + ":info", tn + ":info NAME [--format json]", "Show the service: status, URL, image, volume, exposed port, links", serviceRun(t, svcInfo)},
			command{adminScope, tn + ":list", tn + ":list [--format json]", fmt.Sprintf("List the %s services", tn), serviceRun(t, svcList)},
			command{adminScope, tn + ":logs", tn + ":logs NAME [-t|--tail] [-n|--num N]", "Show the service's output (-t follows it)", serviceRun(t, svcLogs)},
			command{adminScope, tn + ":start", tn + ":start NAME", "Start a stopped service", serviceRun(t, svcStart)},
			command{adminScope, tn + ":stop", tn + ":stop NAME", "Stop the service; it stays stopped across restarts until started", serviceRun(t, svcStop)},
			command{adminScope, tn + ":restart", tn + ":restart NAME", "Restart the service", serviceRun(t, svcRestart)},
			command{adminScope, tn + ":connect", tn + ":connect NAME", "Run the database's client in the service's container (ssh -t for a terminal)", serviceRun(t, svcConnect)},
			command{adminScope, tn + ":export", tn + ":export NAME > dump", "Write a dump of the service's data to stdout", serviceRun(t, svcExport)},
			command{adminScope, tn + ":import", tn + ":import NAME < dump", "Restore a dump of the service's data from stdin", serviceRun(t, svcImport)},
			command{adminScope, tn + ":expose", tn + ":expose NAME [[IP:]PORT]", "Publish the service's port on the host (127.0.0.1 unless an IP is given; a free port unless one is given)", serviceRun(t, svcExpose)},
			command{adminScope, tn + ":unexpose", tn + ":unexpose NAME", "Stop publishing the service's port on the host", serviceRun(t, svcUnexpose)},
			command{adminScope, tn + ":exists", tn + ":exists NAME", "Exit 0 if the service exists, 1 otherwise", serviceRun(t, svcExists)},
			command{adminScope, tn + ":links", tn + ":links NAME", "List the apps the service is linked to", serviceRun(t, svcLinks)},
			command{adminScope, tn + ":linked", tn + ":linked NAME APP", "Exit 0 if the service is linked to the app, 1 otherwise", serviceRun(t, svcLinked)},
			command{adminScope, tn + ":app-links", tn + ":app-links APP", fmt.Sprintf("List the %s services linked to the app", tn), serviceRun(t, svcAppLinks)},
		)
	}
	return out
}()

// errNoServices is what a service command says in a Berth whose backend
// has no services manager.
var errNoServices = errors.New("datastore services are not set up in this Berth")

type serviceFunc func(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error

func serviceRun(t *services.Type, f serviceFunc) func(context.Context, *Backend, []string, IO) error {
	return func(ctx context.Context, p *Backend, args []string, out IO) error {
		if p.Services == nil {
			return errNoServices
		}
		return f(ctx, p.Services, t, args, out)
	}
}

// serviceArgs reads n positional arguments and the allowed flags (valued
// ones take a value).
func serviceArgs(args []string, n int, what string, valued []string, allowed ...string) ([]string, map[string]string, error) {
	pos, flags, err := parseFlags(args, valued...)
	if err != nil {
		return nil, nil, err
	}
	for f := range flags {
		if !slices.Contains(allowed, f) && !slices.Contains(valued, f) {
			return nil, nil, usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	if len(pos) != n {
		return nil, nil, usageError{what}
	}
	return pos, flags, nil
}

func svcCreate(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, flags, err := serviceArgs(args, 1, "name one service", []string{"image", "image-version", "password"})
	if err != nil {
		return err
	}
	s, err := m.Create(ctx, t, pos[0], services.Options{Image: flags["image"], Version: flags["image-version"], Password: flags["password"]}, out.Stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s service %s created (%s)\n", t.Name, s.Name, s.Image)
	fmt.Fprintf(out.Stdout, "       link it to an app with %s:link %s APP\n", t.Name, s.Name)
	return nil
}

func svcDestroy(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, flags, err := serviceArgs(args, 1, "name one service", nil, "force")
	if err != nil {
		return err
	}
	name := pos[0]
	if _, ok := flags["force"]; !ok {
		in, err := m.Describe(ctx, t, name)
		if err != nil {
			return err
		}
		if len(in.Links) > 0 {
			return m.Destroy(ctx, t, name) // refused: says which apps to unlink
		}
		fmt.Fprintf(out.Stderr, " !     WARNING: this destroys %s service %s and all its data.\n !     To proceed, type the service's name (or run %s:destroy %s --force):\n", t.Name, name, t.Name, name)
		answer, _ := bufio.NewReader(io.LimitReader(stdinOrEmpty(out), 1024)).ReadString('\n')
		if strings.TrimSpace(answer) != name {
			return fmt.Errorf("confirmation did not match %s; nothing was destroyed", name)
		}
	}
	if err := m.Destroy(ctx, t, name); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Destroyed %s service %s\n", t.Name, name)
	return nil
}

func svcLink(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, flags, err := serviceArgs(args, 2, "name the service, then the app", []string{"alias"})
	if err != nil {
		return err
	}
	v, err := m.Link(ctx, t, pos[0], pos[1], flags["alias"], out.Stderr)
	if v != "" {
		fmt.Fprintf(out.Stdout, "=====> %s service %s linked to %s as %s\n", t.Name, pos[0], pos[1], v)
	}
	return err
}

func svcUnlink(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 2, "name the service, then the app", nil)
	if err != nil {
		return err
	}
	if err := m.Unlink(ctx, t, pos[0], pos[1], out.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s service %s unlinked from %s\n", t.Name, pos[0], pos[1])
	return nil
}

func svcInfo(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, flags, err := serviceArgs(args, 1, "name one service", []string{"format"})
	if err != nil {
		return err
	}
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	in, err := m.Describe(ctx, t, pos[0])
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	var links []string
	for _, l := range in.Links {
		links = append(links, l.App+" ("+l.Var+")")
	}
	exposed := "-"
	if in.Exposed != "" {
		exposed = in.Exposed
	}
	fmt.Fprintf(out.Stdout, "=====> %s service %s information\n", t.Name, in.Name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 1, ' ', 0)
	for _, row := range [][2]string{
		{"Status", in.Status}, {"Image", in.Image}, {"Dsn", in.URL},
		{"Internal host", in.Container + ":" + strconv.Itoa(t.Port)}, {"Exposed", exposed},
		{"Volume", in.Volume + " at " + in.DataDir}, {"Links", strings.Join(links, ", ")},
		{"Created", in.Created.Format("2006-01-02 15:04:05 MST")},
	} {
		fmt.Fprintf(tw, "       %s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func svcList(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	_, flags, err := serviceArgs(args, 0, fmt.Sprintf("%s:list takes no arguments", t.Name), []string{"format"})
	if err != nil {
		return err
	}
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	list, err := m.List(ctx, t)
	if err != nil {
		return err
	}
	if asJSON {
		infos := []services.Info{}
		for _, s := range list {
			in, err := m.Describe(ctx, t, s.Name)
			if err != nil {
				return err
			}
			infos = append(infos, in)
		}
		enc := json.NewEncoder(out.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tIMAGE\tLINKS")
	for _, s := range list {
		var apps []string
		for _, l := range s.Links {
			apps = append(apps, l.App)
		}
		linked := "-"
		if len(apps) > 0 {
			linked = strings.Join(apps, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, m.Status(ctx, t, s), s.Image, linked)
	}
	return tw.Flush()
}

func svcLogs(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	lines, follow, name := 100, false, ""
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-t", "--tail":
			follow = true
		case "-n", "--num":
			if i+1 >= len(args) {
				return usageError{a + " needs a value"}
			}
			i++
			n, err := strconv.Atoi(args[i])
			if err != nil {
				return usageError{"-n takes a number of lines"}
			}
			lines = n
		default:
			if name != "" || strings.HasPrefix(a, "-") {
				return usageError{"unexpected " + strconv.Quote(a)}
			}
			name = a
		}
	}
	if name == "" {
		return usageError{"name one service"}
	}
	return m.Logs(ctx, t, name, lines, follow, out.Stdout)
}

func svcStart(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	if err := m.Start(ctx, t, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s service %s is running\n", t.Name, pos[0])
	return nil
}

func svcStop(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	if err := m.Stop(ctx, t, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s service %s is stopped; %s:start %s starts it again\n", t.Name, pos[0], t.Name, pos[0])
	return nil
}

func svcRestart(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	if err := m.Restart(ctx, t, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s service %s restarted\n", t.Name, pos[0])
	return nil
}

func svcConnect(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	code, err := m.Connect(ctx, t, pos[0], streams(out))
	if err != nil {
		return err
	}
	if code != 0 {
		return ExitStatus(code)
	}
	return nil
}

func svcExport(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	return m.Export(ctx, t, pos[0], out.Stdout, out.Stderr)
}

func svcImport(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	if err := m.Import(ctx, t, pos[0], stdinOrEmpty(out), out.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> imported into %s service %s\n", t.Name, pos[0])
	return nil
}

func svcExpose(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	for f := range flags {
		return usageError{fmt.Sprintf("unknown flag --%s", f)}
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"name one service, and optionally [IP:]PORT"}
	}
	addr := ""
	if len(pos) == 2 {
		addr = pos[1]
	}
	got, err := m.Expose(ctx, t, pos[0], addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s service %s exposed on %s\n", t.Name, pos[0], got)
	return nil
}

func svcUnexpose(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	if err := m.Unexpose(ctx, t, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s service %s is no longer exposed\n", t.Name, pos[0])
	return nil
}

func svcExists(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	if _, err := m.Describe(ctx, t, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "%s service %s exists\n", t.Name, pos[0])
	return nil
}

func svcLinks(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one service", nil)
	if err != nil {
		return err
	}
	in, err := m.Describe(ctx, t, pos[0])
	if err != nil {
		return err
	}
	for _, l := range in.Links {
		fmt.Fprintln(out.Stdout, l.App)
	}
	return nil
}

func svcLinked(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 2, "name the service, then the app", nil)
	if err != nil {
		return err
	}
	in, err := m.Describe(ctx, t, pos[0])
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(in.Links, func(l services.Link) bool { return l.App == pos[1] }) {
		return fmt.Errorf("%s service %s is not linked to %s", t.Name, pos[0], pos[1])
	}
	fmt.Fprintf(out.Stdout, "%s service %s is linked to %s\n", t.Name, pos[0], pos[1])
	return nil
}

func svcAppLinks(ctx context.Context, m *services.Manager, t *services.Type, args []string, out IO) error {
	pos, _, err := serviceArgs(args, 1, "name one app", nil)
	if err != nil {
		return err
	}
	if err := platform.ValidateAppName(pos[0]); err != nil {
		return err
	}
	list, err := m.List(ctx, t)
	if err != nil {
		return err
	}
	for _, s := range list {
		if slices.ContainsFunc(s.Links, func(l services.Link) bool { return l.App == pos[0] }) {
			fmt.Fprintln(out.Stdout, s.Name)
		}
	}
	return nil
}
