package tests

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdBrowserMetrics signs in through the login URL in URLFILE in a real
// headless Chromium (see cmdBrowser), and prints what the apps page shows
// first (the first card's app, and what is broken in it) and APP's
// traffic figures and plots on its page; then it requests a new path of
// APP and waits for the line the app logs for it to show in the page's
// live logs, searches the logs for it, and does it again after a
// `caddy reload`. Screenshots go to the
// artifacts directory's dashboard-metrics.
//
//	browser-metrics URLFILE APP
func cmdBrowserMetrics(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: browser-metrics URLFILE APP")
	}
	url := strings.TrimSpace(ts.ReadFile(args[0]))
	app := args[1]
	b := startBrowser(ts, "dashboard-metrics")
	defer b.close()

	b.step("login page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("signin")))
	b.step("apps", chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.CSS(`[data-app="`+app+`"]`)))
	fmt.Fprintf(ts.Stdout(), "first: %s\n", b.text(`main .card h2 a`))
	fmt.Fprintf(ts.Stdout(), "first broken: %s\n", b.text(`main .card p`))
	fmt.Fprintf(ts.Stdout(), "%s at a glance: %s\n", app, strings.Join(strings.Fields(b.text(`[data-app="`+app+`"] [data-traffic]`)), " "))
	b.step("app traffic", chromedp.Click(chromedp.CSS(`[data-app="`+app+`"] h2 a`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-rate svg polyline`)),
		chromedp.ScrollIntoView(chromedp.ID("traffic")))
	for _, id := range []string{"m-rate", "m-errors", "m-p50", "m-p95", "m-cpu", "m-memory"} {
		fmt.Fprintf(ts.Stdout(), "%s: %s\n", id, b.text("#"+id))
	}
	for _, id := range []string{"chart-rate", "chart-errors", "chart-latency", "chart-cpu", "chart-memory"} {
		fmt.Fprintf(ts.Stdout(), "%s: %s\n", id, b.text("#"+id+" figcaption"))
	}

	// Live logs: a request made now shows in the page's log view without
	// a reload (the app logs each request), and the search box keeps
	// only the lines that contain its text.
	marker := fmt.Sprintf("live-%d", time.Now().UnixNano())
	awaitLine := func(path string) {
		req, err := http.NewRequest("GET", "http://127.0.0.1:"+ts.Getenv("HTTP_PORT")+"/"+path, nil)
		ts.Check(err)
		req.Host = app + ".example.test"
		deadline := time.Now().Add(60 * time.Second)
		for {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			if strings.Contains(b.text("#logs"), path) {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("browser: %s did not show in the live logs within 60s; status %q, logs:\n%s", path, b.text("#logs-status"), b.text("#logs"))
			}
			time.Sleep(time.Second)
		}
	}
	awaitLine(marker)
	b.step("live logs", chromedp.ScrollIntoView(chromedp.ID("logs-card")))
	fmt.Fprintf(ts.Stdout(), "logs status: %s\nlive line: %s\n", b.text("#logs-status"), marker)
	b.step("logs search", chromedp.SendKeys(chromedp.ID("logs-search"), marker), chromedp.ScrollIntoView(chromedp.ID("logs-card")))
	shown := strings.Split(b.text("#logs"), "\n")
	all := true
	for _, l := range shown {
		all = all && strings.Contains(l, marker)
	}
	fmt.Fprintf(ts.Stdout(), "search shows %d line(s), all with the text: %v\n", len(shown), all)

	// A config reload does not end the live view: the stream goes on, or
	// the page reconnects by itself.
	cmdBerth(ts, false, []string{"reload"})
	awaitLine(marker + "-after-reload")
	b.step("logs after reload", chromedp.ScrollIntoView(chromedp.ID("logs-card")))
	fmt.Fprintf(ts.Stdout(), "after reload: the new line shows, logs status: %s\n", b.text("#logs-status"))
}

// cmdBrowserDeploy signs in through the login URL in URLFILE and opens
// APP's page while a deploy of it runs (it reloads the page until the
// latest build is running), then watches the deploy log in the page
// until the build ends. It prints whether the page showed the build
// running with TEXT not yet in its log, the build's end as the page
// shows it, and whether TEXT arrived.
//
//	browser-deploy URLFILE APP TEXT
func cmdBrowserDeploy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: browser-deploy URLFILE APP TEXT")
	}
	url := strings.TrimSpace(ts.ReadFile(args[0]))
	app, want := args[1], args[2]
	base, _, _ := strings.Cut(url, "/login")
	b := startBrowser(ts, "dashboard-deploy")
	defer b.close()

	b.step("login page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("signin")))
	b.step("apps", chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.CSS(`[data-app="`+app+`"]`)))
	deadline := time.Now().Add(90 * time.Second)
	for {
		b.step("app during deploy", chromedp.Navigate(base+"/apps/"+app), chromedp.WaitVisible(chromedp.ID("deploy-log-status")))
		if st := b.text("#deploy-log-status"); strings.Contains(st, "running") || st == "live" {
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("browser: no deploy of %s was running within 90s", app)
		}
		time.Sleep(500 * time.Millisecond)
	}
	sawRunning := false
	for {
		st, log := b.text("#deploy-log-status"), b.text("#deploy-log")
		if st == "live" && !strings.Contains(log, want) {
			sawRunning = true
		}
		if strings.HasPrefix(st, "build ") && !strings.Contains(st, "running") {
			b.step("deploy done", chromedp.ScrollIntoView(chromedp.ID("deploy-card")))
			fmt.Fprintf(ts.Stdout(), "saw it running: %v\ndeploy status: %s\nlog has %s: %v\n", sawRunning, st, want, strings.Contains(log, want))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("browser: the deploy log did not end within 90s; status %q, log:\n%s", st, log)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// cmdBrowserConfig signs in through the login URL in URLFILE, sets the
// config var KEY to VALUE on APP's page with its form, and prints the
// message the page shows, the row's value (masked), and the value once
// revealed.
//
//	browser-config URLFILE APP KEY VALUE
func cmdBrowserConfig(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: browser-config URLFILE APP KEY VALUE")
	}
	url := strings.TrimSpace(ts.ReadFile(args[0]))
	app, key, value := args[1], args[2], args[3]
	b := startBrowser(ts, "dashboard-config")
	defer b.close()

	b.step("login page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("signin")))
	b.step("apps", chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.CSS(`[data-app="`+app+`"]`)))
	b.step("app", chromedp.Click(chromedp.CSS(`[data-app="`+app+`"] h2 a`)), chromedp.WaitVisible(chromedp.ID("config-set")))
	b.step("config typed", chromedp.SendKeys(chromedp.ID("config-key"), key), chromedp.SendKeys(chromedp.ID("config-value"), value),
		chromedp.ScrollIntoView(chromedp.ID("config-set")))
	b.step("config set", chromedp.Click(chromedp.ID("config-set")), chromedp.WaitVisible(chromedp.ID("flash")))
	fmt.Fprintf(ts.Stdout(), "flash: %s\n", b.text("#flash"))
	fmt.Fprintf(ts.Stdout(), "row: %s\n", strings.Join(strings.Fields(b.text("#config-"+key)), " "))
	b.step("config revealed", chromedp.Click(chromedp.ID("reveal")), chromedp.WaitVisible(chromedp.ID("config-"+key)))
	fmt.Fprintf(ts.Stdout(), "revealed: %s\n", strings.Join(strings.Fields(b.text("#config-"+key)), " "))
}
