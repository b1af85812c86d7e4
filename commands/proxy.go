package commands

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/platform"
)

// proxyCommands are Dokku's ports:* and proxy:* and the domains:
// commands that change whether an app is routed.
var proxyCommands = []command{
	{appScope, "ports:list", "ports:list APP", "List the app's port mappings (scheme, host port, container port)", portsList},
	{appScope, "ports:report", "ports:report APP [--format json]", "Show the app's port mappings, set and detected", portsReport},
	{appScope, "ports:add", "ports:add APP SCHEME:HOST-PORT:CONTAINER-PORT...", "Add port mappings (http:80:PORT, https:443:PORT: the container port Caddy proxies the app to, the app restarts if it changes; tcp:HOST-PORT:PORT[:TYPE]: Berth listens on HOST-PORT and forwards connections to the app's web (or TYPE) containers)", portsAdd},
	{appScope, "ports:set", "ports:set APP SCHEME:HOST-PORT:CONTAINER-PORT...", "Set the app's port mappings, replacing the ones set before", portsSet},
	{appScope, "ports:remove", "ports:remove APP HOST-PORT|SCHEME:HOST-PORT:CONTAINER-PORT...", "Remove port mappings, by mapping or by host port", portsRemove},
	{appScope, "ports:clear", "ports:clear APP", "Remove every port mapping set: the release's port is proxied again", portsClear},
	{appScope, "proxy:disable", "proxy:disable APP", "Take the app out of routing without stopping it: its domains answer 404", proxyDisable},
	{appScope, "proxy:enable", "proxy:enable APP", "Put the app back into routing", proxyEnable},
	{appScope, "proxy:report", "proxy:report APP [--format json]", "Show whether the app is routed, and by what", proxyReport},
	{appScope, "proxy:set", "proxy:set APP|--global type [caddy]", "Accepted for Dokku's scripts: the proxy is Caddy, built in (type caddy is the one value)", proxySet},
	{appScope, "domains:disable", "domains:disable APP", "Make the app answer on none of its domains (kept for domains:enable); it keeps running", domainsDisable},
	{appScope, "domains:enable", "domains:enable APP", "Make the app answer on its domains again", domainsEnable},
	{appScope, "domains:reset", "domains:reset APP", "Remove the app's own domains: it answers on its default hosts under the global domains", domainsReset},
}

func parseMappings(args []string) ([]platform.PortMapping, error) {
	if len(args) == 0 {
		return nil, usageError{"give at least one mapping, for example http:80:5000"}
	}
	var out []platform.PortMapping
	for _, a := range args {
		m, err := platform.ParsePortMapping(a)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func appAndRest(args []string) (string, []string, error) {
	pos, _, err := parseFlags(args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) == 0 {
		return "", nil, usageError{"name one app"}
	}
	return pos[0], pos[1:], nil
}

func changePorts(ctx context.Context, p *Backend, args []string, out IO, change func(app string, rest []string) (domains.PortChange, error)) error {
	app, rest, err := appAndRest(args)
	if err != nil {
		return err
	}
	fn, err := change(app, rest)
	if err != nil {
		return err
	}
	// The listeners follow the record inside the change, with the app
	// locked: a destroy, rename or another ports change of the app cannot
	// come between the saved record and them.
	sync := func(ctx context.Context) error { return syncTCP(ctx, p, app) }
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	if err := dom.ChangePortsThen(ctx, app, withTCP(ctx, p, app, fn), sync, out.Stderr); err != nil {
		return err
	}
	r, err := dom.Ports(ctx, app)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Ports map of %s: %s\n", app, mapOrNone(mappingStrings(r.Map)))
	return nil
}

func mappingStrings(ms []platform.PortMapping) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, " ")
}

func mapOrNone(s string) string {
	if s == "" {
		return "none (the release's port is proxied)"
	}
	return s
}

func portsAdd(ctx context.Context, p *Backend, args []string, out IO) error {
	return changePorts(ctx, p, args, out, func(app string, rest []string) (domains.PortChange, error) {
		add, err := parseMappings(rest)
		if err != nil {
			return nil, err
		}
		return func(cur []platform.PortMapping) ([]platform.PortMapping, error) { return append(cur, add...), nil }, nil
	})
}

func portsSet(ctx context.Context, p *Backend, args []string, out IO) error {
	return changePorts(ctx, p, args, out, func(app string, rest []string) (domains.PortChange, error) {
		set, err := parseMappings(rest)
		if err != nil {
			return nil, err
		}
		return func([]platform.PortMapping) ([]platform.PortMapping, error) { return set, nil }, nil
	})
}

func portsRemove(ctx context.Context, p *Backend, args []string, out IO) error {
	return changePorts(ctx, p, args, out, func(app string, rest []string) (domains.PortChange, error) {
		if len(rest) == 0 {
			return nil, usageError{"give a host port or a mapping to remove"}
		}
		var hostPorts []int
		var mappings []string
		for _, a := range rest {
			if n, err := strconv.Atoi(a); err == nil {
				hostPorts = append(hostPorts, n)
				continue
			}
			m, err := platform.ParsePortMapping(a)
			if err != nil {
				return nil, err
			}
			mappings = append(mappings, m.String())
		}
		return func(cur []platform.PortMapping) ([]platform.PortMapping, error) {
			return slices.DeleteFunc(cur, func(m platform.PortMapping) bool {
				return slices.Contains(hostPorts, m.HostPort) || slices.Contains(mappings, m.String())
			}), nil
		}, nil
	})
}

func portsClear(ctx context.Context, p *Backend, args []string, out IO) error {
	return changePorts(ctx, p, args, out, func(app string, rest []string) (domains.PortChange, error) {
		if len(rest) > 0 {
			return nil, usageError{"ports:clear takes only the app"}
		}
		return func([]platform.PortMapping) ([]platform.PortMapping, error) { return nil, nil }, nil
	})
}

func portsList(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	r, err := dom.Ports(ctx, app)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Port mappings for %s\n", app)
	fmt.Fprintf(out.Stdout, "-----> %-18s %-25s %s\n", "scheme", "host port", "container port")
	for _, m := range r.Effective {
		line := fmt.Sprintf("%-25s %-25d %d", m.Scheme, m.HostPort, m.ContainerPort)
		if m.Process != "" { // Berth's tcp:HOST:CONTAINER:TYPE
			line = fmt.Sprintf("%-25s %-25d %-14d %s", m.Scheme, m.HostPort, m.ContainerPort, m.Process)
		}
		fmt.Fprintln(out.Stdout, line)
	}
	return nil
}

func portsReport(ctx context.Context, p *Backend, args []string, out IO) error {
	app, asJSON, err := oneAppAndFormat(args)
	if err != nil {
		return err
	}
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	r, err := dom.Ports(ctx, app)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, r)
	}
	fmt.Fprintf(out.Stdout, "=====> %s ports information\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Ports map:\t%s\n", mappingStrings(r.Map))
	fmt.Fprintf(tw, "Ports map detected:\t%s\n", mappingStrings(r.Detected))
	return tw.Flush()
}

func proxyDisable(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	if err := dom.SetProxyEnabled(ctx, app, false); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Disabling proxy for app (%s)\n", app)
	return nil
}

func proxyEnable(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	if err := dom.SetProxyEnabled(ctx, app, true); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Enabling proxy for app (%s)\n", app)
	return nil
}

// proxySet takes Dokku's proxy:set APP|--global type caddy (and the
// older proxy:set APP caddy): Berth is built into Caddy, so caddy is the
// one proxy there is, and any other is refused rather than ignored.
func proxySet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, global, err := setArgs(args)
	if err != nil {
		return err
	}
	if len(pos) == 2 && pos[1] != "type" && pos[1] != "proxy-port" && pos[1] != "proxy-ssl-port" {
		pos = []string{pos[0], "type", pos[1]} // Dokku's older form: proxy:set APP TYPE
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app (or --global), the property type and its value (caddy)"}
	}
	app, key, value := pos[0], pos[1], ""
	if len(pos) == 3 {
		value = pos[2]
	}
	switch key {
	case "type":
		if value != "" && value != "caddy" {
			return fmt.Errorf("proxy type %q is not supported: Berth is built into Caddy, which routes every app; caddy is the one type", value)
		}
	case "proxy-port", "proxy-ssl-port":
		return fmt.Errorf("%s is not supported: Berth serves apps on Caddy's listeners only (an app with its domains disabled answers on none), so there is no host port to set", key)
	default:
		return usageError{fmt.Sprintf("unknown proxy property %q; proxy:set takes type (caddy)", key)}
	}
	if !global {
		if _, err := p.App(ctx, app); err != nil {
			return err
		}
	}
	// Dokku's lines; the type stays caddy either way.
	settingLine(out.Stdout, key, value)
	return nil
}

func proxyReport(ctx context.Context, p *Backend, args []string, out IO) error {
	a, asJSON, err := appToReport(ctx, p, args)
	if err != nil {
		return err
	}
	r := struct {
		App     string `json:"app"`
		Enabled bool   `json:"enabled"`
		Type    string `json:"type"`
	}{a.Name, !a.ProxyDisabled, "caddy"}
	if asJSON {
		return writeJSON(out, r)
	}
	fmt.Fprintf(out.Stdout, "=====> %s proxy information\n", a.Name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Proxy enabled:\t%t\n", r.Enabled)
	fmt.Fprintf(tw, "Proxy type:\t%s\n", r.Type)
	return tw.Flush()
}

func domainsDisable(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	if err := dom.SetEnabled(ctx, app, false); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Disabled domains of %s: it answers on none (domains:enable %s undoes it)\n", app, app)
	return nil
}

func domainsEnable(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	if err := dom.SetEnabled(ctx, app, true); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Enabled domains of %s\n", app)
	return nil
}

func domainsReset(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	if err := dom.Reset(ctx, app); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Reset the domains of %s to its default hosts\n", app)
	return nil
}
