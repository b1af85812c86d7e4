package domains

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/berth-paas/berth/platform"
)

// The mappings themselves (platform.PortMapping, ParsePortMapping) and
// the port they give (App.ProxyPort) stay the core's: the rollout reads
// them off the record. This file is the ports:* commands' side.

// PortsReport is ports:list and ports:report.
type PortsReport struct {
	App string `json:"app"`
	// Map is what ports:set set; Detected what the release gives without
	// it (http:80:PORT); Effective the one in use.
	Map       []platform.PortMapping `json:"map"`
	Detected  []platform.PortMapping `json:"detected"`
	Effective []platform.PortMapping `json:"effective"`
}

// Ports reports the app's port mappings.
func (d *Domains) Ports(ctx context.Context, app string) (PortsReport, error) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return PortsReport{}, err
	}
	r := PortsReport{App: app, Map: platform.ParsePortMap(a.PortMap), Detected: []platform.PortMapping{}}
	if r.Map == nil {
		r.Map = []platform.PortMapping{}
	}
	if rel, ok := a.CurrentRelease(); ok {
		r.Detected = []platform.PortMapping{{Scheme: "http", HostPort: 80, ContainerPort: rel.Port}}
	}
	r.Effective = r.Map
	if !slices.ContainsFunc(r.Map, func(m platform.PortMapping) bool { return m.Scheme != "tcp" }) {
		r.Effective = append(slices.Clone(r.Detected), r.Map...) // tcp only: HTTP is still detected
	}
	return r, nil
}

// PortChange is how a ports:* command changes an app's mappings.
type PortChange func(current []platform.PortMapping) ([]platform.PortMapping, error)

// ChangePorts changes the app's port mappings. Berth proxies both
// schemes to one container port, so mappings to two container ports
// are refused. When the port Caddy proxies to changes on a running app,
// the app rolls out again with PORT set to it (checked, without
// downtime); if that fails, nothing changes and the running release
// keeps serving.
func (d *Domains) ChangePorts(ctx context.Context, app string, change PortChange, log io.Writer) error {
	return d.ChangePortsThen(ctx, app, change, nil, log)
}

// ChangePortsThen is ChangePorts, with then run at its end with the app
// still locked, whether the change was saved or not: the tcp listeners
// follow the saved record there (tcproute's Sync), so no destroy, rename
// or other change of the app comes between the record and them. then's
// error is returned when the change itself succeeded.
func (d *Domains) ChangePortsThen(ctx context.Context, app string, change PortChange, then func(context.Context) error, log io.Writer) error {
	return d.apps.ChangeApp(ctx, app, "a ports change", func(a *platform.App, save func() error) error {
		err := d.changePorts(ctx, a, change, save, log)
		if then == nil {
			return err
		}
		if thenErr := then(context.WithoutCancel(ctx)); err == nil {
			return thenErr
		}
		return err
	})
}

func (d *Domains) changePorts(ctx context.Context, a *platform.App, change PortChange, save func() error, log io.Writer) error {
	app := a.Name
	next, err := change(platform.ParsePortMap(a.PortMap))
	if err != nil {
		return err
	}
	var ports []int
	seen := map[string]bool{}
	var strs []string
	for _, m := range next {
		if seen[m.String()] {
			continue
		}
		seen[m.String()] = true
		strs = append(strs, m.String())
		if m.Scheme != "tcp" && !slices.Contains(ports, m.ContainerPort) {
			ports = append(ports, m.ContainerPort)
		}
	}
	if len(ports) > 1 {
		return fmt.Errorf("the mappings name container ports %v: Berth proxies http and https to one container port; map both to the same one", ports)
	}
	rel, deployed := a.CurrentRelease()
	before := a.ProxyPort(rel)
	a.PortMap = strs
	if !deployed || a.Stopped || a.ProxyPort(rel) == before {
		return save()
	}
	fmt.Fprintf(log, "-----> Restarting %s: Caddy proxies to port %d now (was %d)\n", app, a.ProxyPort(rel), before)
	return d.apps.RollOut(ctx, a, rel, log)
}
