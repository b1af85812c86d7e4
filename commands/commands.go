// Package commands is Berth's command table: the Dokku-style commands
// (`apps:create blog`) that every front door (SSH, the admin API and
// `caddy berth` through it) runs the same way, on the Backend the door is
// given. Each entry states who may run it (its scope, see access.go).
package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/berth-paas/berth/applogs"
	"github.com/berth-paas/berth/appspec"
	"github.com/berth-paas/berth/buildconfig"
	"github.com/berth-paas/berth/certs"
	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/disk"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/keys"
	"github.com/berth-paas/berth/oneoff"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/pssettings"
	"github.com/berth-paas/berth/registry"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/scheduler/swarm"
	"github.com/berth-paas/berth/services"
	"golang.org/x/crypto/ssh"
)

// Version is Berth's version, set at build time with
// -ldflags "-X github.com/berth-paas/berth/commands.Version=...".
var Version = "0.1.0-dev"

// IO is where a command reads and writes: Stdout carries the command's
// result (tables, JSON), Stderr carries messages for people.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Terminal is set when the client asked for one (ssh -t); only run and
	// enter use it.
	Terminal *Terminal
}

// Terminal is the client's terminal: its size and its size changes
// (width, height).
type Terminal struct {
	Width, Height uint
	Resize        <-chan [2]uint
}

// ExitStatus is the error of a command that ran a program which exited
// with a status other than 0: the front door passes the status on.
type ExitStatus int

func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Backend is what commands act on. Each front door (the SSH server, the
// admin API) is given one by caddymodule, which builds its parts, and
// passes it to Run or Exec: commands find nothing through package-level
// state. A new part (a manager of its own concern) is a new field here,
// set where caddymodule builds the others.
//
// The platform is embedded so that commands call its methods directly
// (p.App, p.Deploy) while concerns still move out of it into packages of
// their own.
type Backend struct {
	*platform.Platform
	// Globals is the global settings document: config:set --global,
	// apps:set --global disable-autocreation (Platform.Globals()).
	Globals *platform.Globals
	// Renames renames and clones apps (apps:rename, apps:clone).
	Renames *platform.Renamer
	// Deploy runs the apps' releases: releases, rollback, ps:restart,
	// ps:scale and the formation (package deploy).
	Deploy *deploy.Deployer
	// Services runs the datastore services (postgres:create, redis:link,
	// ...); nil where none are set up, and their commands then say so.
	Services *services.Manager
	// Certs keeps the apps' custom certificates and HSTS settings (certs:*,
	// tls:*); nil where none are set up, and their commands then say so.
	Certs *certs.Certs
	// Logs shows the apps' output and keeps their log settings (logs,
	// logs:*).
	Logs *applogs.Logs
	// AppSpec keeps the settings of how the apps' containers run:
	// networks, storage, resources, docker-options (network:*,
	// storage:*, resource:*, docker-options:*).
	AppSpec *appspec.Settings
	// Processes keeps the apps' process settings (ps:set, checks:set,
	// checks:disable|enable|skip, checks:report).
	Processes *pssettings.Settings
	// Disk keeps the releases' retention and the build cache in bounds
	// (releases:set, cleanup, disk:report).
	Disk *disk.Disk
	// Build keeps how apps are built: builder, build-dir, dockerfile-path,
	// buildpacks and stack, build retention, deploy branch and rev-env-var
	// (builder:*, builder-dockerfile:*, buildpacks:*, builds:set|report,
	// git:set).
	Build *buildconfig.Settings
	// Domains keeps the apps' hosts and how they are served: domains,
	// global domains, ports, proxy and domains enable/disable, the URLs
	// (domains:*, ports:*, proxy:*, url, urls).
	Domains *domains.Domains
	// Scheduler keeps which scheduler runs each app (scheduler:set,
	// scheduler:report).
	Scheduler *selector.Settings
	// SwarmSettings are the swarm scheduler's settings of each app
	// (scheduler-swarm:set, scheduler-swarm:report).
	SwarmSettings *swarm.Settings
	// Registry keeps where swarm apps' images go (registry:set,
	// registry:login, registry:report).
	Registry *registry.Settings
	// Keys are the keys added with ssh-keys:add (admin and deploy keys),
	// which the SSH door and the dashboard check callers against.
	Keys *keys.Keys
	// OneOff runs the apps' one-off containers (run, run:detached,
	// run:list, run:logs, run:stop, enter).
	OneOff *oneoff.Runner
	// SSHHostKey returns the SSH server's host key (ssh-keys:host); nil
	// where there is none.
	SSHHostKey func() ssh.PublicKey
	// Dashboard makes the web dashboard's login URLs (dashboard:*); nil
	// when the Caddyfile sets no dashboard host.
	Dashboard Logins
	// Metrics are the apps' traffic and CPU and memory figures, which
	// ps:report and apps:report show; nil: none (the reports say there
	// are no samples).
	Metrics Metrics
	// TCP serves the apps' tcp port mappings (package tcproute); nil:
	// tcp mappings are refused.
	TCP TCPPorts
}

// part returns a part of the Backend (a field), or, when this Berth's
// Backend was built without it, an error that says so: a command of a
// part that is not there fails with a message instead of a nil pointer.
func part[T any](v *T, what string) (*T, error) {
	if v == nil {
		return nil, fmt.Errorf("%s are not set up in this Berth", what)
	}
	return v, nil
}

// command is one entry of the table. Its scope comes first and has no
// default (the zero value is refused by TestTableEntries): whoever adds a
// command decides who may run it.
type command struct {
	scope   scope
	name    string
	usage   string
	summary string
	run     func(ctx context.Context, p *Backend, args []string, out IO) error
}

// usageError is a mistake in how a command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

var table []command

func init() {
	table = []command{
		{adminScope, "apps:create", "apps:create APP", "Create an app (a push to a new app creates it too)", appsCreate},
		{adminScope, "apps:destroy", "apps:destroy APP [--force]", "Remove an app: its containers, images, repository, builds and record (asks for the name unless --force)", appsDestroy},
		{adminScope, "apps:list", "apps:list [--format stdout|json|detailed]", "List the apps, one name a line; --format detailed: JSON with each app's release, URLs and running containers", appsList},
		{openScope, "help", "help [NAMESPACE|COMMAND] [--all]", "Show the namespaces; with one, its commands; --all: every command", help},
		{openScope, "version", "version", "Show Berth's version", version},
	}
	table = slices.Concat(table, processCommands, releaseCommands, diskCommands, moreCommands, logCommands, runCommands,
		keyCommands, renameCommands, reportCommands, lifecycleCommands, buildCommands, gitCommands,
		networkCommands, storageCommands, resourceCommands, tlsCommands, serviceCommands, builderCommands, buildpacksCommands,
		builderDockerfileCommands, dokkuCommands, proxyCommands, dashboardCommands, configImportCommands, appsSetCommands,
		schedulerCommands, schedulerSwarmCommands, registryCommands)
	slices.SortFunc(table, func(a, b command) int { return strings.Compare(a.name, b.name) })
}

// Run runs the command line args and returns its exit status: 0 on
// success, 1 with a message on stderr that says what to do otherwise.
func Run(ctx context.Context, b *Backend, args []string, streams IO) int {
	err := Exec(ctx, b, args, streams)
	var status ExitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return int(status)
	}
	return 1
}

// ErrUnknownCommand is returned for a command that is not in the table.
var ErrUnknownCommand = errors.New("unknown command")

// Exec runs the command line args like Run, and returns the command's
// error (already written to stderr) for callers that map it, such as the
// admin API's status codes. The command line may start with the `dokku`
// binary's global options (--app APP, --force, --quiet, ...; see
// resolve), and every --flag is checked against the command's usage line.
func Exec(ctx context.Context, b *Backend, args []string, streams IO) error {
	args, g, err := resolve(args)
	if err != nil {
		fmt.Fprintf(streams.Stderr, " !     %s\n", err)
		return err
	}
	if g.version && len(args) == 0 {
		return version(ctx, b, nil, streams)
	}
	if len(args) == 0 {
		args = []string{"help"}
	}
	name, rest := args[0], args[1:]
	cmd, ok := lookup(name)
	if !ok {
		if ok, err := helpFor(name, rest, streams); ok {
			if err != nil {
				fmt.Fprintf(streams.Stderr, " !     %s\n", err)
			}
			return err
		}
		err := unknownCommand(name)
		fmt.Fprintf(streams.Stderr, " !     %s\n", err)
		return err
	}
	if wantsHelp(cmd, rest) {
		fmt.Fprintf(streams.Stdout, "Usage: %s\n\n%s\n", cmd.usage, cmd.summary)
		return nil
	}
	if g.quiet {
		q := &quietWriter{w: streams.Stderr}
		defer q.flush()
		streams.Stderr = q
		if quietStdout(cmd.name) {
			q := &quietWriter{w: streams.Stdout}
			defer q.flush()
			streams.Stdout = q
		}
	}
	key, rest, err := reportKey(cmd, rest)
	if err == nil {
		err = checkFlags(cmd, rest)
	}
	if err == nil {
		if key != "" {
			err = lookupReportKey(key, func(stdout io.Writer) error {
				s := streams
				s.Stdout = stdout
				return runCommand(ctx, b, cmd, rest, s)
			}, streams.Stdout, cmd.name)
		} else {
			err = runCommand(ctx, b, cmd, rest, streams)
		}
	}
	var status ExitStatus
	if err != nil && !errors.As(err, &status) {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(streams.Stderr, " !     %s\n !     Usage: %s\n", ue.msg, cmd.usage)
		} else {
			fmt.Fprintf(streams.Stderr, " !     %s\n", err)
		}
	}
	return err
}

// IsUsageError reports whether err is a mistake in how a command was
// called (as opposed to a failure while running it).
func IsUsageError(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

// parseFlags splits args into positional arguments and --flags; a flag in
// valued takes the next argument (or "=value") as its value.
func parseFlags(args []string, valued ...string) (pos []string, flags map[string]string, err error) {
	flags = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") || a == "--" {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if slices.Contains(valued, name) && !hasValue {
			if i+1 >= len(args) {
				return nil, nil, usageError{fmt.Sprintf("--%s needs a value", name)}
			}
			i++
			value = args[i]
		}
		flags[name] = value
	}
	return pos, flags, nil
}

// gatherReports reads the reports a `NS:report [APP|--global]` command
// asks for: the global one, one app's, or every app's (no argument), with
// global and app reading one. single says a lone report was asked for,
// which --format json writes as an object rather than an array.
// reportCommand is a Dokku report command over global and per-app
// settings (builder:report, scheduler:report, registry:report): APP,
// --global or nothing (every app), --format json; the reports are
// gathered and written as writeReports does.
func reportCommand[R any](ctx context.Context, p *Backend, args []string, out IO, name string,
	globalReport func(context.Context) (R, error), appReport func(context.Context, string) (R, error),
	appOf func(R) string, rows func(io.Writer, R)) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	_, global := flags["global"]
	reports, single, err := gatherReports(ctx, p, pos, global, globalReport, appReport)
	if err != nil {
		return err
	}
	return writeReports(out, reports, single, asJSON, name, appOf, rows)
}

// writeReports prints gathered reports as Dokku's report commands do:
// JSON (one object for one app's report, else a list), or for each a
// "=====> APP NAME information" header ("Global NAME information" for the
// global one, appOf giving "") and its rows, tab-aligned.
func writeReports[R any](out IO, reports []R, single, asJSON bool, name string, appOf func(R) string, rows func(io.Writer, R)) error {
	if asJSON {
		if single {
			return writeJSON(out, reports[0])
		}
		return writeJSON(out, reports)
	}
	for _, r := range reports {
		if app := appOf(r); app == "" {
			fmt.Fprintf(out.Stdout, "=====> Global %s information\n", name)
		} else {
			fmt.Fprintf(out.Stdout, "=====> %s %s information\n", app, name)
		}
		tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
		rows(tw, r)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func gatherReports[R any](ctx context.Context, p *Backend, pos []string, global bool,
	globalReport func(context.Context) (R, error), appReport func(context.Context, string) (R, error)) (reports []R, single bool, err error) {
	switch {
	case global && len(pos) == 0:
		r, err := globalReport(ctx)
		if err != nil {
			return nil, false, err
		}
		return []R{r}, true, nil
	case !global && len(pos) == 1:
		r, err := appReport(ctx, pos[0])
		if err != nil {
			return nil, false, err
		}
		return []R{r}, true, nil
	case !global && len(pos) == 0:
		apps, err := p.List(ctx)
		if err != nil {
			return nil, false, err
		}
		for _, a := range apps {
			r, err := appReport(ctx, a.Name)
			if err != nil {
				return nil, false, err
			}
			reports = append(reports, r)
		}
		return reports, false, nil
	}
	return nil, false, usageError{"give an app, or --global, or nothing for every app"}
}

// wantsJSON reads --format: "json", or empty for people's output; any
// other value is a usage error.
func wantsJSON(flags map[string]string) (bool, error) {
	switch flags["format"] {
	case "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, usageError{fmt.Sprintf("unknown format %q; use --format json", flags["format"])}
}

// oneAppAndFormat reads the arguments a per-app report takes: APP
// [--format json].
func oneAppAndFormat(args []string) (app string, asJSON bool, err error) {
	app, flags, err := oneApp(args, "format")
	if err != nil {
		return "", false, err
	}
	asJSON, err = wantsJSON(flags)
	return app, asJSON, err
}

// settingLine prints Dokku's line for a NS:set of key: "Unsetting KEY"
// for an empty value, "Setting KEY to VALUE" otherwise.
func settingLine(w io.Writer, key, value string) {
	if value == "" {
		fmt.Fprintf(w, "=====> Unsetting %s\n", key)
	} else {
		fmt.Fprintf(w, "=====> Setting %s to %s\n", key, value)
	}
}

// appOrGlobalReport reads the arguments of a report that is per app or
// global: APP|--global [--format json]; app is "" with --global.
func appOrGlobalReport(args []string) (app string, global, asJSON bool, err error) {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return "", false, false, err
	}
	if asJSON, err = wantsJSON(flags); err != nil {
		return "", false, false, err
	}
	_, global = flags["global"]
	if global == (len(pos) == 1) || len(pos) > 1 {
		return "", false, false, usageError{"give an app, or --global"}
	}
	if !global {
		app = pos[0]
	}
	return app, global, asJSON, nil
}

// setArgs reads Dokku's NS:set APP|--global PROPERTY [VALUE]: the
// positional arguments, with "" in the app's place for --global.
func setArgs(args []string) (pos []string, global bool, err error) {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return nil, false, err
	}
	if _, global = flags["global"]; global {
		pos = append([]string{""}, pos...)
	}
	return pos, global, nil
}

// appToReport reads a per-app report's arguments and loads the app.
func appToReport(ctx context.Context, p *Backend, args []string) (*platform.App, bool, error) {
	app, asJSON, err := oneAppAndFormat(args)
	if err != nil {
		return nil, false, err
	}
	a, err := p.App(ctx, app)
	if err != nil {
		return nil, false, err
	}
	return a, asJSON, nil
}

func stdinOrEmpty(out IO) io.Reader {
	if out.Stdin == nil {
		return strings.NewReader("")
	}
	return out.Stdin
}

func oneApp(args []string, allowed ...string) (string, map[string]string, error) {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return "", nil, err
	}
	for f := range flags {
		if !slices.Contains(allowed, f) {
			return "", nil, usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	if len(pos) != 1 {
		return "", nil, usageError{"name one app"}
	}
	return pos[0], flags, nil
}

func appsCreate(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	if err := p.Create(ctx, app); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Created %s\n", app)
	return nil
}

func appsDestroy(ctx context.Context, p *Backend, args []string, out IO) error {
	app, flags, err := oneApp(args, "force")
	if err != nil {
		return err
	}
	if _, ok := flags["force"]; !ok {
		if err := platform.ValidateAppName(app); err != nil {
			return err
		}
		if ok, err := p.Exists(ctx, app); err != nil || !ok {
			return p.Destroy(ctx, app) // says why
		}
		fmt.Fprintf(out.Stderr, " !     WARNING: this destroys %s: its containers, images, repository and config.\n !     To proceed, type the app's name (or run apps:destroy %s --force):\n", app, app)
		answer, _ := bufio.NewReader(io.LimitReader(stdinOrEmpty(out), 1024)).ReadString('\n')
		if strings.TrimSpace(answer) != app {
			return fmt.Errorf("confirmation did not match %s; nothing was destroyed", app)
		}
	}
	if err := p.Destroy(ctx, app); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Destroyed %s\n", app)
	return nil
}

// appsList prints Dokku's form, which scripts parse: "=====> My Apps" and
// one name a line (--quiet: names only), or --format json, an array of
// names. What Berth's listing used to show beside each name (release,
// running containers, URLs) is in apps:report, for one app or, without
// one, for every app, and in --format detailed (the admin API's GET
// /berth/apps).
func appsList(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"apps:list takes no arguments"}
	}
	apps, err := p.List(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(apps))
	for _, a := range apps {
		names = append(names, a.Name)
	}
	switch flags["format"] {
	case "detailed":
		// Berth's listing (and GET /berth/apps's): each app's release,
		// hosts, URLs and running containers, for the API's clients.
		return writeJSON(out, apps)
	case "json":
		data, err := json.Marshal(names)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out.Stdout, "%s\n", data)
		return err
	case "", "stdout":
		fmt.Fprintln(out.Stdout, "=====> My Apps")
		for _, n := range names {
			fmt.Fprintln(out.Stdout, n)
		}
		return nil
	default:
		return usageError{fmt.Sprintf("unknown format %q; use --format stdout|json|detailed", flags["format"])}
	}
}

func version(_ context.Context, _ *Backend, _ []string, out IO) error {
	// Dokku's form: "dokku version 0.35.12".
	fmt.Fprintf(out.Stdout, "berth version %s\n", Version)
	return nil
}
