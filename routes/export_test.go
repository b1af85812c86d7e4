package routes

import "time"

// SetReconcileInterval sets c's periodic reconcile's interval; call it
// before Start.
func SetReconcileInterval(c *Controller, d time.Duration) { c.interval = d }
