package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-paas/berth/certs"
	"github.com/berth-paas/berth/platform"
)

// tlsCommands are the custom certificate and HSTS commands. Certificates
// from ACME need no command: every routed name gets one on demand.
var tlsCommands = []command{
	{appScope, "certs:add", "certs:add APP [CRT_FILE KEY_FILE] < CERT_AND_KEY", "Add a custom certificate (PEM certificate and key, or a tar of server.crt and server.key, on stdin; or two files on the server, admin keys only); it is served instead of ACME's for its names", withCerts(certsAdd(false))},
	{appScope, "certs:update", "certs:update APP [CRT_FILE KEY_FILE] < CERT_AND_KEY", "Replace the app's custom certificate", withCerts(certsAdd(true))},
	{appScope, "certs:remove", "certs:remove APP", "Remove the app's custom certificate; ACME serves its names again", withCerts(certsRemove)},
	{appScope, "certs:report", "certs:report APP [--format json]", "Show the app's custom certificate: issuer, names, expiry", withCerts(certsReport)},
	{appScope, "tls:set", "tls:set APP|--global hsts|hsts-max-age|hsts-include-subdomains|hsts-preload [VALUE]", "Set an HSTS setting of an app or of all apps (no value: back to the global setting or the default)", withCerts(tlsSet)},
	{appScope, "tls:report", "tls:report APP|--global [--format json]", "Show the HSTS settings of an app or of all apps", withCerts(tlsReport)},
}

type certsFunc func(ctx context.Context, c *certs.Certs, args []string, out IO) error

// withCerts runs f with the apps' TLS settings from the Backend.
func withCerts(f certsFunc) func(context.Context, *Backend, []string, IO) error {
	return func(ctx context.Context, b *Backend, args []string, out IO) error {
		c := b.Certs
		if c == nil {
			return errors.New("custom certificates and HSTS settings are not set up in this Berth")
		}
		return f(ctx, c, args, out)
	}
}

func certsAdd(update bool) certsFunc {
	return func(ctx context.Context, c *certs.Certs, args []string, out IO) error {
		pos, flags, err := parseFlags(args)
		if err != nil {
			return err
		}
		for f := range flags {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
		if len(pos) != 1 && len(pos) != 3 {
			return usageError{"give an app and the certificate and key on stdin, or an app, a certificate file and a key file on the server"}
		}
		app := pos[0]
		var input []byte
		if len(pos) == 3 {
			// Dokku's certs:add APP CRT KEY: files on the server, which an
			// admin may read anyway; a deploy key could read any file Berth
			// can (a key in it would be kept as the app's).
			if platform.IsDeployKey(ctx) {
				return errors.New("a deploy key gives the certificate and key on stdin: certs:add APP < server.pem")
			}
			if input, err = readServerFiles(pos[1], pos[2]); err != nil {
				return err
			}
		} else {
			input, err = io.ReadAll(io.LimitReader(stdinOrEmpty(out), certs.MaxCertInput+1))
			if err != nil {
				return fmt.Errorf("read the certificate from stdin: %w", err)
			}
		}
		if len(input) > certs.MaxCertInput {
			return fmt.Errorf("the input is over %d bytes; give only the certificate, its chain and its key", certs.MaxCertInput)
		}
		info, err := c.AddCertificate(ctx, app, input, update)
		if err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "-----> Custom certificate of %s for %s, valid until %s\n", app,
			strings.Join(info.Names, " "), info.NotAfter.Format(time.RFC3339))
		if len(info.Unserved) > 0 {
			fmt.Fprintf(out.Stdout, "       It does not cover %s: ACME serves those\n", strings.Join(info.Unserved, " "))
		}
		if len(info.Foreign) > 0 {
			fmt.Fprintf(out.Stderr, " !     It also names %s, not hosts of %s it covers: it is served only through the\n !     certificate manager, and a wildcard certificate Caddy holds wins over it. A certificate\n !     naming only %s's hosts (Common Name included, no IP address) avoids this\n", strings.Join(info.Foreign, " "), app, app)
		}
		if !c.CustomCertificatesServed() {
			fmt.Fprintf(out.Stderr, " !     The Caddyfile does not serve custom certificates yet: add `get_certificate berth`\n !     to the `tls` block of the https:// site (see Caddyfile.example), then caddy reload\n")
		}
		return nil
	}
}

// readServerFiles reads the certificate and key files of certs:add APP CRT
// KEY as one PEM bundle, the form stdin takes.
func readServerFiles(crt, key string) ([]byte, error) {
	var out []byte
	for _, name := range []string{crt, key} {
		f, err := openServerFile(name)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(f, certs.MaxCertInput+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", name, err)
		}
		out = append(append(out, data...), '\n')
	}
	return out, nil
}

func certsRemove(ctx context.Context, c *certs.Certs, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	if err := c.RemoveCertificate(ctx, app); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Removed the custom certificate of %s; its names get certificates from ACME\n", app)
	return nil
}

func certsReport(ctx context.Context, c *certs.Certs, args []string, out IO) error {
	app, asJSON, err := oneAppAndFormat(args)
	if err != nil {
		return err
	}
	info, err := c.CertificateReport(ctx, app)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, info)
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(out.Stdout, "=====> %s certs information\n", app)
	if !info.Custom {
		fmt.Fprintf(tw, "Certs source:\tACME (on demand, for every name the app answers on)\n")
	} else {
		fmt.Fprintf(tw, "Certs source:\tcustom\n")
		fmt.Fprintf(tw, "Certs subject:\t%s\n", info.Subject)
		fmt.Fprintf(tw, "Certs issuer:\t%s\n", info.Issuer)
		fmt.Fprintf(tw, "Certs names:\t%s\n", strings.Join(info.Names, " "))
		fmt.Fprintf(tw, "Certs starts at:\t%s\n", info.NotBefore.Format(time.RFC3339))
		fmt.Fprintf(tw, "Certs expires at:\t%s\n", info.NotAfter.Format(time.RFC3339))
		fmt.Fprintf(tw, "Certs expired:\t%t\n", info.Expired)
		fmt.Fprintf(tw, "Certs not covered:\t%s\n", strings.Join(info.Unserved, " "))
		if len(info.Foreign) > 0 {
			fmt.Fprintf(tw, "Certs foreign names:\t%s (so served by the manager only)\n", strings.Join(info.Foreign, " "))
		}
	}
	for _, s := range info.Served {
		fmt.Fprintf(tw, "Certs served %s:\t%s, for %s, expires %s\n", s.Host, s.Issuer,
			strings.Join(s.Names, " "), s.NotAfter.Format(time.RFC3339))
	}
	tw.Flush()
	_, err = out.Stdout.Write(b.Bytes())
	return err
}

func tlsSet(ctx context.Context, c *certs.Certs, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, global := flags["global"]
	delete(flags, "global")
	for f := range flags {
		return usageError{fmt.Sprintf("unknown flag --%s", f)}
	}
	var app string
	if !global {
		if len(pos) == 0 {
			return usageError{"name an app, or --global"}
		}
		app, pos = pos[0], pos[1:]
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"give a setting and a value"}
	}
	key, value := pos[0], ""
	if len(pos) == 2 {
		value = pos[1]
	}
	if global {
		err = c.SetGlobalHSTS(ctx, key, value)
	} else {
		err = c.SetHSTS(ctx, app, key, value)
	}
	if err != nil {
		return err
	}
	r, err := c.TLSReport(ctx, app)
	if err != nil {
		return err
	}
	who := app
	if global {
		who = "apps without their own setting"
	}
	header := r.Header
	if header == "" {
		header = "none"
	}
	fmt.Fprintf(out.Stdout, "-----> HSTS header of %s: %s\n", who, header)
	return nil
}

func tlsReport(ctx context.Context, c *certs.Certs, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	_, global := flags["global"]
	delete(flags, "global")
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	var app string
	switch {
	case global && len(pos) == 0:
	case !global && len(pos) == 1:
		app = pos[0]
	default:
		return usageError{"name an app, or --global"}
	}
	r, err := c.TLSReport(ctx, app)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, r)
	}
	if app != "" {
		fmt.Fprintf(out.Stdout, "=====> %s tls information\n", app)
	} else {
		fmt.Fprintf(out.Stdout, "=====> Global tls information\n")
	}
	own := func(b *bool, i *int) string {
		switch {
		case b != nil:
			return strconv.FormatBool(*b)
		case i != nil:
			return strconv.Itoa(*i)
		}
		return "(not set)"
	}
	header := r.Header
	if header == "" {
		header = "(none)"
	}
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Tls hsts:\t%t\t%s\n", r.HSTS.Enabled, own(r.Own.Enabled, nil))
	fmt.Fprintf(tw, "Tls hsts max age:\t%d\t%s\n", r.HSTS.MaxAge, own(nil, r.Own.MaxAge))
	fmt.Fprintf(tw, "Tls hsts include subdomains:\t%t\t%s\n", r.HSTS.IncludeSubdomains, own(r.Own.IncludeSubdomains, nil))
	fmt.Fprintf(tw, "Tls hsts preload:\t%t\t%s\n", r.HSTS.Preload, own(r.Own.Preload, nil))
	fmt.Fprintf(tw, "Tls hsts header:\t%s\n", header)
	return tw.Flush()
}
