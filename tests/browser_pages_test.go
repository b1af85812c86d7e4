package tests

import (
	"fmt"
	"strings"

	"github.com/chromedp/chromedp"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdBrowserPages drives the dashboard's datastores and keys pages in a
// real headless Chromium (see cmdBrowser): signed in through the admin
// login URL in ADMINURL, it opens the datastores page from the
// navigation and prints the card of DATASTORE (TYPE/NAME), then the keys
// page and the card of KEY; it adds the public key in NEWKEYFILE as the
// admin key dsh4-added with the page's form, and removes it with its
// button, printing what the page says; signed in through the deploy key's login
// URL in DEPLOYURL, it prints the navigation, the datastores page's
// message, and what /keys answers when opened by hand. Screenshots go
// to the artifacts directory's dashboard-pages.
//
//	browser-pages ADMINURL DEPLOYURL DATASTORE KEY NEWKEYFILE
func cmdBrowserPages(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: browser-pages ADMINURL DEPLOYURL DATASTORE KEY NEWKEYFILE")
	}
	newKey := strings.TrimSpace(ts.ReadFile(args[4]))
	adminURL := strings.TrimSpace(ts.ReadFile(args[0]))
	deployURL := strings.TrimSpace(ts.ReadFile(args[1]))
	store, key := args[2], args[3]
	base, _, _ := strings.Cut(adminURL, "/login")
	b := startBrowser(ts, "dashboard-pages")
	defer b.close()
	flat := func(sel string) string { return strings.Join(strings.Fields(b.text(sel)), " ") }

	b.step("admin login page", chromedp.Navigate(adminURL), chromedp.WaitVisible(chromedp.ID("signin")))
	b.step("admin apps", chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("nav-datastores")))
	fmt.Fprintf(ts.Stdout(), "admin nav: %s\n", flat("#nav"))
	b.step("datastores", chromedp.Click(chromedp.ID("nav-datastores")), chromedp.WaitVisible(chromedp.CSS(`[data-datastore="`+store+`"]`)))
	fmt.Fprintf(ts.Stdout(), "datastore: %s\n", flat(`[data-datastore="`+store+`"]`))
	b.step("datastores revealed", chromedp.Click(chromedp.ID("reveal")), chromedp.WaitVisible(chromedp.ID("hide")))
	fmt.Fprintf(ts.Stdout(), "revealed: %s\n", flat(`[data-datastore="`+store+`"] dd code`))
	b.step("keys", chromedp.Click(chromedp.ID("nav-keys")), chromedp.WaitVisible(chromedp.CSS(`[data-key="`+key+`"]`)))
	fmt.Fprintf(ts.Stdout(), "key: %s\n", flat(`[data-key="`+key+`"]`))
	b.step("key typed", chromedp.SendKeys(chromedp.ID("key-name"), "dsh4-added"), chromedp.SendKeys(chromedp.ID("key-text"), newKey),
		chromedp.ScrollIntoView(chromedp.ID("key-add")))
	b.step("key added", chromedp.Click(chromedp.ID("key-add")), chromedp.WaitVisible(chromedp.CSS(`[data-key="dsh4-added"]`)))
	fmt.Fprintf(ts.Stdout(), "add: %s\nadded: %s\n", flat("#flash"), flat(`[data-key="dsh4-added"] h2`))
	// A fresh page without the message, so that the next wait is for
	// the removal's.
	b.step("keys again", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.ID("remove-dsh4-added")))
	b.step("key removed", chromedp.Click(chromedp.ID("remove-dsh4-added")), chromedp.WaitVisible(chromedp.ID("flash")))
	fmt.Fprintf(ts.Stdout(), "remove: %s\nafter remove: %s\n", flat("#flash"), flat("main"))

	// The deploy key's session, in the same browser: its cookie replaces
	// the admin's.
	b.step("deploy login page", chromedp.Navigate(deployURL), chromedp.WaitVisible(chromedp.ID("signin")))
	b.step("deploy apps", chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("nav-datastores")))
	fmt.Fprintf(ts.Stdout(), "deploy nav: %s\n", flat("#nav"))
	b.step("deploy datastores", chromedp.Click(chromedp.ID("nav-datastores")), chromedp.WaitVisible(chromedp.ID("datastores-refused")))
	fmt.Fprintf(ts.Stdout(), "deploy datastores: %s\n", flat("main"))
	b.step("deploy keys", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.ID("message")))
	fmt.Fprintf(ts.Stdout(), "deploy keys: %s: %s\n", flat("main .card h2"), flat("#message"))
}
