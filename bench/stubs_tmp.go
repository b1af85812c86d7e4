package main

import "context"

func benchScale(ctx context.Context, e *env, cfg config, rep *report) error { return errSkipped }
func benchGit(ctx context.Context, e *env, cfg config, rep *report) error   { return errSkipped }
