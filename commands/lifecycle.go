package commands

import (
	"context"
	"fmt"
)

// lifecycleCommands stop, start and rebuild an app.
var lifecycleCommands = []command{
	{appScope, "ps:stop", "ps:stop APP|--all", "Stop the app's containers, keeping them and the formation; requests get 503 until ps:start", psStop},
	{appScope, "ps:start", "ps:start APP|--all", "Start the app's stopped containers again, creating any its formation misses", psStart},
	{appScope, "ps:rebuild", "ps:rebuild APP|--all", "Build the deploy branch's head again from the app's repository and deploy it, as a push would", psRebuild},
}

func psStop(ctx context.Context, p *Backend, args []string, out IO) error {
	return forEachApp(ctx, p, args, out, func(app string) error {
		if err := p.Deploy.StopApp(ctx, app, out.Stderr); err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "=====> %s is stopped; ps:start %s starts it again\n", app, app)
		return nil
	})
}

func psStart(ctx context.Context, p *Backend, args []string, out IO) error {
	return forEachApp(ctx, p, args, out, func(app string) error {
		changed, err := p.Deploy.StartApp(ctx, app, out.Stderr)
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(out.Stdout, "-----> %s is already running\n", app)
			return nil
		}
		fmt.Fprintf(out.Stdout, "=====> %s is running\n", app)
		return nil
	})
}

func psRebuild(ctx context.Context, p *Backend, args []string, out IO) error {
	return forEachApp(ctx, p, args, out, func(app string) error {
		_, err := p.Deploy.Rebuild(ctx, app, out.Stderr)
		return err
	})
}
